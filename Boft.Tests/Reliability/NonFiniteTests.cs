// Non-finite policy (docs/08_Guarantees.md): an optimizer step never writes a NaN or infinity into a parameter; it throws
// naming the parameter or skips and counts; the trainer reports skipped steps; anomaly mode names the first op with a
// non-finite output.

using Boft.Backends;
using Boft.Layers;
using Boft.Tests.Infrastructure;
using Boft.Training;

namespace Boft.Tests.Reliability;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class NonFiniteTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private static float[] RandomFloats(int seed, int length)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
    }

    private BoftLinear Layer() =>
        new(Backend, new BoftConfig(8, BlockSize: 2, FactorCount: 2), 4, RandomFloats(1, 4 * 8), RandomFloats(2, 4), new AdapterInitialization(false, 3), trainBias: true);

    /// <summary>Forward and backward of an MSE loss on a batch whose first value is <paramref name="first"/>.</summary>
    private void ForwardBackward(BoftLinear layer, float first)
    {
        float[] values = RandomFloats(4, 3 * 8);
        values[0] = first;
        using Tensor x = Backend.Upload(values, 3, 8);
        using Tensor y = Backend.Allocate(3, 4);
        using Tensor target = Backend.Upload(RandomFloats(5, 12), 3, 4);
        using Tensor g = Backend.Allocate(3, 4);
        layer.Forward(x, y);
        Backend.MseLoss(y, target, g);
        layer.Backward(g, null);
    }

    private static float[][] Snapshot(BoftLinear layer) => layer.Parameters.Select(p => p.Value.ToArray()).ToArray();

    /// <summary>The case: one NaN in a batch made every trainable parameter NaN after one step, silently.</summary>
    [Test]
    public void OneNaNInABatch_TheStepThrowsNamingTheParameter_AndChangesNothing()
    {
        using BoftLinear layer = Layer();
        using var adam = new Adam(layer.TrainableParameters, new AdamSettings(0.01));
        float[][] before = Snapshot(layer);
        adam.ZeroGrad();
        ForwardBackward(layer, float.NaN);
        Assert.That(() => adam.Step(), Throws.TypeOf<NonFiniteValueException>().With.Message.Contains("parameter #0 'base_layer.bias'").And.Message.Contains("no parameter changed")
            .And.Message.Contains("SkipStep"));
        Assert.That(Snapshot(layer), Is.EqualTo(before));
        Assert.That(adam.StepCount, Is.Zero);
    }

    [Test]
    public void SkipPolicy_SkipsTheStep_CountsIt_AndLaterStepsWork()
    {
        using BoftLinear layer = Layer();
        using var sgd = new Sgd(layer.TrainableParameters, new SgdSettings(0.1, Momentum: 0.9)) { NonFiniteGradients = NonFiniteGradientPolicy.SkipStep };
        float[][] before = Snapshot(layer);
        sgd.ZeroGrad();
        ForwardBackward(layer, float.PositiveInfinity);
        Assert.That(sgd.Step(), Is.False);
        Assert.That(sgd.SkippedStepCount, Is.EqualTo(1));
        Assert.That(Snapshot(layer), Is.EqualTo(before));
        sgd.ZeroGrad();
        ForwardBackward(layer, 0.5f);
        Assert.That(sgd.Step(), Is.True);
        Assert.That(sgd.StepCount, Is.EqualTo(1));
        Assert.That(Snapshot(layer).SelectMany(v => v), Has.All.Matches<float>(float.IsFinite));
        Assert.That(Snapshot(layer)[2], Is.Not.EqualTo(before[2]), "boft_R moved");
    }

    [Test]
    public void Trainer_ReportsSkippedSteps_AndKeepsEveryParameterFinite()
    {
        using BoftLinear layer = Layer();
        using var adam = new Adam(layer.TrainableParameters, new AdamSettings(0.01)) { NonFiniteGradients = NonFiniteGradientPolicy.SkipStep };
        float[] features = RandomFloats(6, 8 * 8);
        features[3 * 8 + 5] = float.NaN; // row 3 poisons the batch it lands in
        var data = new Dataset(features, 8, RandomFloats(7, 8 * 4), 4);
        var reports = new List<TrainingProgress>();
        var trainer = new Trainer(layer, adam, new MeanSquaredErrorLoss(), new TrainingOptions(Epochs: 2, BatchSize: 4, Shuffle: false, ReportEvery: 1))
        {
            Progress = new Progress(reports),
        };
        TrainingResult result = trainer.Fit(data);
        Assert.That(result.Steps, Is.EqualTo(4));
        Assert.That(result.SkippedSteps, Is.EqualTo(2), "the batch with row 3, in each epoch");
        Assert.That(reports[^1].SkippedSteps, Is.EqualTo(2));
        Assert.That(reports[^1].ToString(), Does.Contain("skipped 2"));
        Assert.That(Snapshot(layer).SelectMany(v => v), Has.All.Matches<float>(float.IsFinite));
    }

    [Test]
    public void Trainer_ThrowsByDefault_NamingTheStep()
    {
        using BoftLinear layer = Layer();
        using var adam = new Adam(layer.TrainableParameters, new AdamSettings(0.01));
        float[] features = RandomFloats(6, 4 * 8);
        features[0] = float.NaN;
        var trainer = new Trainer(layer, adam, new MeanSquaredErrorLoss(), new TrainingOptions(BatchSize: 4, Shuffle: false));
        Assert.That(() => trainer.Fit(new Dataset(features, 8, RandomFloats(7, 4 * 4), 4)),
            Throws.TypeOf<NonFiniteValueException>().With.Message.Contains("step 1").And.Message.Contains("AnomalyDetection"));
    }

    [Test]
    public void AnomalyMode_NamesTheFirstOpWithANonFiniteOutput()
    {
        // A base weight near the float limit: x R is finite, (x R) W0ᵀ overflows to infinity.
        using var layer = new BoftLinear(Backend, new BoftConfig(8, BlockSize: 2, FactorCount: 2), 4, Enumerable.Repeat(3e38f, 4 * 8).ToArray());
        using Tensor x = Backend.Upload(Enumerable.Repeat(1f, 2 * 8).ToArray(), 2, 8);
        using Tensor y = Backend.Allocate(2, 4);
        layer.Forward(x, y); // off by default: no check, no exception
        Assert.That(y.ToArray(), Has.Some.Matches<float>(v => !float.IsFinite(v)));
        using (AnomalyDetection.Enable())
        {
            Assert.That(AnomalyDetection.IsEnabled, Is.True);
            Assert.That(() => layer.Forward(x, y), Throws.TypeOf<NonFiniteValueException>().With.Message.Contains("BoftLinear(in 8, out 4).Forward")
                .And.Message.Contains("Linear ((x R) W0ᵀ)").And.Message.Contains("first op"));
            using Tensor bad = Backend.Upload(Enumerable.Repeat(float.NegativeInfinity, 16).ToArray(), 2, 8);
            Assert.That(() => layer.Forward(bad, y), Throws.TypeOf<NonFiniteValueException>().With.Message.Contains("input (non-finite before this layer)"));
        }
        Assert.That(AnomalyDetection.IsEnabled, Is.False);
        layer.Forward(x, y);
    }

    [Test]
    public void ClipByGlobalNorm_OfANonFiniteGradient_ScalesNothing()
    {
        using var p = new Parameter("p", Backend.Allocate(3), requiresGrad: true);
        p.RequiredGradient.CopyFrom([1f, float.NaN, 2f]);
        Assert.That(GradientClipping.ClipByGlobalNorm([p], 1.0), Is.NaN);
        float[] gradient = p.RequiredGradient.ToArray();
        Assert.That((gradient[0], gradient[2]), Is.EqualTo((1f, 2f)), "PyTorch would have multiplied every gradient by NaN");
    }

    private sealed class Progress(List<TrainingProgress> reports) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => reports.Add(value);
    }
}
