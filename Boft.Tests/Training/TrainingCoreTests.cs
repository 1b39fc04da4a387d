// Training core on every backend: layers (dropout, masks, merge, errors), Sequential chaining vs the reference,
// optimizers, clipping, schedules and the Trainer loop, cross-checked against the ReferenceBackend.

using Boft.Backends;
using Boft.Layers;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using Boft.Training;

namespace Boft.Tests.Training;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class TrainingCoreTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private static float[] RandomFloats(int seed, int length, double scale = 1.0)
    {
        var random = new Random(seed);
        var v = new float[length];
        for (int i = 0; i < length; i++)
            v[i] = (float)(scale * (2 * random.NextDouble() - 1));
        return v;
    }

    [Test]
    public void BoftLinear_DropoutActsOnlyInTraining_AndIsSeeded()
    {
        var config = new BoftConfig(16, BlockSize: 2, FactorCount: 3, Dropout: 0.3); // k = 8 → floor(0.3·8) = 2 blocks
        float[] w0 = RandomFloats(1, 5 * 16);
        using var a = new BoftLinear(Backend, config, 5, w0, dropoutSeed: 42);
        using var b = new BoftLinear(Backend, config, 5, w0, dropoutSeed: 42);
        using Tensor x = Backend.Upload(RandomFloats(2, 3 * 16), 3, 16);
        using Tensor y = Backend.Allocate(3, 5);
        for (int draw = 0; draw < 5; draw++)
        {
            a.Forward(x, y);
            b.Forward(x, y);
            double[] maskA = a.LastIdentityMask!, maskB = b.LastIdentityMask!;
            Assert.That(maskA, Is.EqualTo(maskB), "same seed, same draws");
            Assert.That(maskA.Sum(), Is.EqualTo(2), "floor(p·k) blocks per draw");
            Assert.That(Enumerable.Range(0, 3).Count(f => maskA.AsSpan(f * 8, 8).IndexOf(1.0) >= 0), Is.EqualTo(1), "one factor per draw");
        }
        a.IsTraining = false;
        a.Forward(x, y);
        Assert.That(a.LastIdentityMask, Is.Null, "no dropout in evaluation mode");
    }

    [Test]
    public void BoftLinear_MaskedBlocksAreIdentityAndGetNoGradient()
    {
        var config = new BoftConfig(8, BlockSize: 2, FactorCount: 2);
        using var layer = new BoftLinear(Backend, config, 4, RandomFloats(3, 32), initialization: new AdapterInitialization(Identity: false, Seed: 5));
        var mask = new double[2 * 4];
        mask[5] = 1;
        layer.FixedIdentityMask = mask;
        using Tensor x = Backend.Upload(RandomFloats(4, 2 * 8), 2, 8);
        using Tensor y = Backend.Allocate(2, 4);
        using Tensor g = Backend.Upload(RandomFloats(5, 2 * 4), 2, 4);
        layer.Forward(x, y);
        layer.Backward(g, null);
        float[] blocks = layer.Blocks.ToArray();
        Assert.That(blocks.AsSpan(5 * 4, 4).ToArray(), Is.EqualTo(new float[] { 1, 0, 0, 1 }), "masked block is I");
        float[] grad = layer.BoftR.RequiredGradient.ToArray();
        Assert.That(grad.AsSpan(5 * 4, 4).ToArray(), Is.All.Zero, "masked block gets no gradient");
        Assert.That(grad.AsSpan(4 * 4, 4).ToArray(), Has.Some.Not.Zero, "unmasked blocks do");
    }

    [TestCase(true)]
    [TestCase(false)]
    public void AdapterLayers_MergeThenUnmerge_RestoresTheBaseWeight_AndKeepsTheOutput(bool boft)
    {
        float[] w0 = RandomFloats(6, 6 * 16);
        using AdapterLinear layer = boft
            ? new BoftLinear(Backend, new BoftConfig(16, BlockSize: 4, FactorCount: 2), 6, w0, RandomFloats(7, 6), new AdapterInitialization(false, 3))
            : new OftLinear(Backend, new OftConfig(16, BlockSize: 4, NeumannTerms: 5), 6, w0, RandomFloats(7, 6), new AdapterInitialization(false, 3));
        using Tensor x = Backend.Upload(RandomFloats(8, 4 * 16), 4, 16);
        using Tensor y = Backend.Allocate(4, 6);
        using Tensor merged = Backend.Allocate(4, 6);
        layer.IsTraining = false;
        layer.Forward(x, y);
        layer.Merge();
        Assert.That(layer.IsMerged, Is.True);
        layer.Forward(x, merged);
        Compare.AllClose(merged.ToArray(), Array.ConvertAll(y.ToArray(), v => (double)v), 2e-5, 1e-5, "merged forward", Case.Name);
        Assert.That(() => layer.Backward(merged, null), Throws.InvalidOperationException.With.Message.Contains("Unmerge"));
        Assert.That(() => layer.Merge(), Throws.InvalidOperationException);
        layer.Unmerge();
        Compare.AllClose(layer.BaseWeight.Value.ToArray(), Array.ConvertAll(w0, v => (double)v), 2e-5, 1e-5, "unmerge(merge(W0))", Case.Name);
        Assert.That(() => layer.Unmerge(), Throws.InvalidOperationException);
    }

    [Test]
    public void Layers_ThrowForMisuse()
    {
        using var layer = new BoftLinear(Backend, new BoftConfig(8, BlockSize: 2, FactorCount: 2), 3, new float[24]);
        using Tensor x = Backend.Allocate(2, 8);
        using Tensor wrongX = Backend.Allocate(2, 7);
        using Tensor y = Backend.Allocate(2, 3);
        using Tensor wrongY = Backend.Allocate(2, 4);
        Assert.That(() => layer.Backward(y, null), Throws.InvalidOperationException.With.Message.Contains("preceding Forward"));
        Assert.That(() => layer.Forward(wrongX, y), Throws.ArgumentException.With.Message.Contains("[2, 7]").And.Message.Contains("8"));
        Assert.That(() => layer.Forward(x, wrongY), Throws.ArgumentException.With.Message.Contains("[2, 4]").And.Message.Contains("[2, 3]"));
        layer.Forward(x, y);
        Assert.That(() => layer.Backward(wrongY, null), Throws.ArgumentException.With.Message.Contains("gradOutput"));
        Assert.That(() => layer.IdentityFactorCount = 3, Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => layer.FixedIdentityMask = new double[7], Throws.ArgumentException.With.Message.Contains("[2, 4]"));
        Assert.That(() => layer.FixedIdentityMask = new double[8] { 0, 2, 0, 0, 0, 0, 0, 0 }, Throws.ArgumentException.With.Message.Contains("0 or 1"));
        Assert.That(() => new BoftLinear(Backend, new BoftConfig(8, BlockSize: 3), 3, new float[24]), Throws.ArgumentException.With.Message.Contains("must be divisible by boft_block_size (3)"));
        Assert.That(() => new BoftLinear(Backend, new BoftConfig(8, BlockSize: 2), 3, new float[23]), Throws.ArgumentException.With.Property("ParamName").EqualTo("baseWeight"));
        Assert.That(() => new OftLinear(Backend, new OftConfig(8, BlockSize: 2), 3, new float[24], new float[2]), Throws.ArgumentException.With.Property("ParamName").EqualTo("bias"));
        Assert.That(() => new Sequential(Backend, new Relu(Backend, 4), new Relu(Backend, 5)), Throws.ArgumentException.With.Message.Contains("layer 1 takes 5"));
        layer.Dispose();
        Assert.That(() => layer.Forward(x, y), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void Sequential_BackwardMatchesTheReferenceChain()
    {
        // Linear(6→8) → ReLU → BoftLinear(8→5, m=2, b=2) compared with the same chain computed by the double reference.
        float[] w1 = RandomFloats(10, 8 * 6), b1 = RandomFloats(11, 8), w2 = RandomFloats(12, 5 * 8), bias2 = RandomFloats(13, 5);
        var config = new BoftConfig(8, BlockSize: 2, FactorCount: 2);
        var first = new Linear(Backend, 6, 8, w1, b1, trainable: true);
        var adapter = new BoftLinear(Backend, config, 5, w2, bias2, new AdapterInitialization(false, 9));
        using var model = new Sequential(Backend, first, new Relu(Backend, 8), adapter);
        int rows = 3;
        float[] xValues = RandomFloats(14, rows * 6), gValues = RandomFloats(15, rows * 5);
        using Tensor x = Backend.Upload(xValues, rows, 6);
        using Tensor y = Backend.Allocate(rows, 5);
        using Tensor g = Backend.Upload(gValues, rows, 5);
        using Tensor gx = Backend.Allocate(rows, 6);
        model.Forward(x, y);
        model.Backward(g, gx);

        double[] D(float[] v) => Array.ConvertAll(v, f => (double)f);
        BoftShape shape = config.Resolve();
        double[] a = D(adapter.BoftR.Value.ToArray()), s = D(adapter.BoftS.Value.ToArray());
        var h1 = new double[rows * 8];
        LinearReference.Forward(D(xValues), D(w1), 6, h1);
        LinearReference.ScaleBias(h1, [], D(b1), 8, h1);
        double[] r1 = h1.Select(v => Math.Max(v, 0)).ToArray();
        var expectedY = new double[rows * 5];
        BoftReference.Forward(shape, r1, D(w2), D(bias2), a, s, [], expectedY);
        var gA = new double[a.Length];
        var gS = new double[5];
        var gR1 = new double[r1.Length];
        BoftReference.Backward(shape, r1, D(w2), a, s, [], D(gValues), gA, gS, gR1, []);
        double[] gH1 = gR1.Select((v, i) => h1[i] > 0 ? v : 0).ToArray();
        var gW1 = new double[w1.Length];
        var gX = new double[xValues.Length];
        LinearReference.BackwardWeight(gH1, D(xValues), 6, gW1);
        LinearReference.BackwardInput(gH1, D(w1), 6, gX);
        double[] gB1 = Enumerable.Range(0, 8).Select(j => Enumerable.Range(0, rows).Sum(r => gH1[r * 8 + j])).ToArray();

        Compare.AllClose(y.ToArray(), expectedY, 1e-5, 1e-5, "y", Case.Name);
        Compare.AllClose(adapter.BoftR.RequiredGradient.ToArray(), gA, 1e-4, 1e-4, "∂L/∂boft_R", Case.Name);
        Compare.AllClose(adapter.BoftS.RequiredGradient.ToArray(), gS, 1e-4, 1e-4, "∂L/∂boft_s", Case.Name);
        Compare.AllClose(first.Weight.RequiredGradient.ToArray(), gW1, 1e-4, 1e-4, "∂L/∂W1", Case.Name);
        Compare.AllClose(first.Bias!.RequiredGradient.ToArray(), gB1, 1e-4, 1e-4, "∂L/∂b1", Case.Name);
        Compare.AllClose(gx.ToArray(), gX, 1e-4, 1e-4, "∂L/∂x", Case.Name);
    }

    [Test]
    public void GradientClipping_ScalesToTheMaximumNorm()
    {
        using var p1 = new Parameter("a", Backend.Upload([1f, 2f], 2), requiresGrad: true);
        using var p2 = new Parameter("b", Backend.Upload([0f], 1), requiresGrad: true);
        p1.RequiredGradient.CopyFrom([3f, 0f]);
        p2.RequiredGradient.CopyFrom([4f]);
        double norm = GradientClipping.ClipByGlobalNorm([p1, p2], 1.0);
        Assert.That(norm, Is.EqualTo(5.0).Within(1e-6));
        double c = 1.0 / (5.0 + 1e-6);
        Assert.That(p1.RequiredGradient.ToArray(), Is.EqualTo(new[] { (float)(3 * c), 0f }).Within(1e-6));
        Assert.That(p2.RequiredGradient.ToArray(), Is.EqualTo(new[] { (float)(4 * c) }).Within(1e-6));
        Assert.That(GradientClipping.ClipByGlobalNorm([p1, p2], 10.0), Is.EqualTo(1.0).Within(1e-5), "below the maximum: unchanged");
        Assert.That(() => GradientClipping.ClipByGlobalNorm([p1], 0), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Optimizers_ThrowForBadHyperparameters()
    {
        using var p = new Parameter("p", Backend.Allocate(3), requiresGrad: true);
        using var frozen = new Parameter("f", Backend.Allocate(3), requiresGrad: false);
        Assert.That(() => new Sgd([p], new SgdSettings(-0.1)), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("Invalid learning rate: -0.1"));
        Assert.That(() => new Sgd([p], new SgdSettings(0.1, Momentum: -1)), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("Invalid momentum value: -1"));
        Assert.That(() => new Sgd([p], new SgdSettings(0.1, Nesterov: true)), Throws.ArgumentException.With.Message.Contains("Nesterov"));
        Assert.That(() => new Adam([p], new AdamSettings(0.1, Beta1: 1.0)), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("Invalid beta parameter at index 0: 1"));
        Assert.That(() => new Adam([p], new AdamSettings(0.1, Beta2: -0.1)), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("index 1"));
        Assert.That(() => new Adam([p], new AdamSettings(0.1, Eps: -1)), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("Invalid epsilon value"));
        Assert.That(() => new Adam([p], AdamSettings.AdamW(0.1, -1)), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("weight_decay"));
        Assert.That(() => new Adam([frozen], new AdamSettings()), Throws.ArgumentException.With.Message.Contains("no trainable parameters"));
        using var sgd = new Sgd([p], new SgdSettings(0.1));
        Assert.That(() => sgd.Step(double.NaN), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => new TrainingOptions(Epochs: 0).Validate(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("Epochs (0)"));
        Assert.That(() => new TrainingOptions(BatchSize: 0).Validate(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("BatchSize (0)"));
        Assert.That(() => new TrainingOptions(MaxGradientNorm: -1).Validate(), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => new CosineWithWarmup(10, 5), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("totalSteps (5)"));
    }

    public static IEnumerable<TestCaseData> OptimizerVariants()
    {
        yield return new TestCaseData(new SgdSettings(0.05, Momentum: 0.9, Dampening: 0.1, WeightDecay: 0.01), null).SetArgDisplayNames("sgd-momentum-dampening-decay");
        yield return new TestCaseData(new SgdSettings(0.05, Momentum: 0.8, WeightDecay: 0.02, Nesterov: true), null).SetArgDisplayNames("sgd-nesterov");
        yield return new TestCaseData(null, new AdamSettings(0.01, WeightDecay: 0.1)).SetArgDisplayNames("adam-l2");
        yield return new TestCaseData(null, AdamSettings.AdamW(0.01, 0.1)).SetArgDisplayNames("adamw");
    }

    [TestCaseSource(nameof(OptimizerVariants))]
    public void OptimizerSteps_MatchTheReference(SgdSettings? sgd, AdamSettings? adam)
    {
        float[] start = RandomFloats(20, 33);
        using var p = new Parameter("p", Backend.Upload(start, 33), requiresGrad: true);
        using Optimizer optimizer = adam is not null ? new Adam([p], adam) : new Sgd([p], sgd!);
        double[] expected = Array.ConvertAll(start, v => (double)v), m = new double[33], v = new double[33];
        for (int step = 1; step <= 4; step++)
        {
            float[] grad = RandomFloats(21 + step, 33); // a different gradient each step exercises the momentum/moment updates
            p.RequiredGradient.CopyFrom(grad);
            optimizer.Step();
            double[] g = Array.ConvertAll(grad, x => (double)x);
            if (adam is not null)
                OptimizerReference.AdamStep(g, adam, step, adam.LearningRate, expected, m, v);
            else
                OptimizerReference.SgdStep(g, sgd!, step == 1, expected, m);
        }
        // float32 state vs double: four steps of O(1) values keep the difference near 1e-7 relative.
        Compare.AllClose(p.Value.ToArray(), expected, 1e-6, 1e-5, adam is not null ? "Adam" : "SGD", Case.Name);
    }

    [Test]
    public void Trainer_LowersTheLoss_AndMatchesTheReferenceBackend()
    {
        double[] mine = TrainSmallClassifier(Backend);
        using var reference = new ReferenceBackend();
        double[] oracle = TrainSmallClassifier(reference);
        Assert.That(mine[^1], Is.LessThan(0.5 * mine[0]), "the loss falls by half");
        // Same data, seeds and math in float32 vs double compute: trajectories agree to rounding (rtol 1e-3 after 24 Adam steps).
        Compare.AllClose(mine, oracle, 1e-5, 1e-3, "training losses vs ReferenceBackend", Case.Name);
    }

    private static double[] TrainSmallClassifier(BoftBackend backend)
    {
        // 3 classes separated in 8-d; a frozen random projection adapted by BOFT, trained with cross-entropy.
        var random = new Random(30);
        int count = 48, d = 8, classes = 3;
        var features = new float[count * d];
        var labels = new float[count];
        for (int i = 0; i < count; i++)
        {
            int c = i % classes;
            labels[i] = c;
            for (int t = 0; t < d; t++)
                features[i * d + t] = (float)((t % classes == c ? 1.5 : 0) + 0.3 * (2 * random.NextDouble() - 1));
        }
        var data = new Dataset(features, d, labels, 1);
        float[] w0 = RandomFloats(31, classes * d, 0.5);
        using var model = new Sequential(backend, new BoftLinear(backend, new BoftConfig(d, BlockSize: 2, FactorCount: 3), classes, w0, new float[classes], trainBias: true));
        using var optimizer = new Adam(model.Parameters.Where(p => p.RequiresGrad), new AdamSettings(0.05));
        var trainer = new Trainer(model, optimizer, new SoftmaxCrossEntropyLoss(),
            new TrainingOptions(Epochs: 3, BatchSize: 6, Seed: 1, MaxGradientNorm: 5, Schedule: new CosineWithWarmup(2, 24)));
        return trainer.Fit(data).Losses.ToArray();
    }
}

[TestFixture]
public sealed class ScheduleTests
{
    [Test]
    public void CosineWithWarmup_MatchesTheTransformersFormula()
    {
        var schedule = new CosineWithWarmup(warmupSteps: 4, totalSteps: 14);
        Assert.That(schedule.Factor(0), Is.EqualTo(0.0));
        Assert.That(schedule.Factor(2), Is.EqualTo(0.5));
        Assert.That(schedule.Factor(4), Is.EqualTo(1.0));
        Assert.That(schedule.Factor(9), Is.EqualTo(0.5).Within(1e-15));
        Assert.That(schedule.Factor(14), Is.EqualTo(0.0).Within(1e-15));
        Assert.That(new CosineWithWarmup(0, 10, minimumFactor: 0.1).Factor(10), Is.EqualTo(0.1));
        Assert.That(() => schedule.Factor(-1), Throws.TypeOf<ArgumentOutOfRangeException>());
    }
}
