// Losses (MSE, softmax cross-entropy), activations (ReLU), optimizer steps (SGD, Adam, AdamW) and utilities (Fill, Scale,
// Copy, SumOfSquares) on every registered backend against LossReference / OptimizerReference / plain double loops.
// Tolerances: losses are summed in double by the contract and the float32 inputs are exact in double, so only double
// rounding separates them from the reference: 1e-8 relative (Within(1e-6).Percent) has a wide margin;
// optimizer steps are element-wise float32 arithmetic of a handful of operations: 1e-6 absolute + 1e-5 relative.

using Boft.Backends;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class TrainingOpsBackendTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private int Length => IsSimulator ? 37 : 100_003; // odd: vector tails; large: several parallel slices

    [Test]
    public void MseLoss_MatchesReference_AndOverwritesGradient()
    {
        var random = new Random(1);
        double[] p = AsFloat(Random(random, Length)), t = AsFloat(Random(random, Length));
        using Tensor tp = Upload(p, Length);
        using Tensor tt = Upload(t, Length);
        using Tensor g = Backend.Allocate(Length);
        Backend.Fill(g, 5f);
        double loss = Backend.MseLoss(tp, tt, g);
        var expectedGrad = new double[Length];
        double expected = LossReference.MeanSquaredError(p, t, expectedGrad);
        Assert.That(loss, Is.EqualTo(expected).Within(1e-6).Percent, $"{Case.Name} MSE loss");
        Compare.AllClose(Download(g), expectedGrad, 1e-12, 1e-6, "gradPrediction", $"{Case.Name} length={Length}");
        Assert.That(Backend.MseLoss(tp, tt, null), Is.EqualTo(loss), $"{Case.Name}: the loss without gradient must be identical");
    }

    [Test]
    public void SoftmaxCrossEntropy_MatchesReference()
    {
        foreach ((int rows, int classes) in IsSimulator ? new[] { (3, 4) } : [(3, 4), (1, 1), (33, 10), (257, 1000)])
        {
            var random = new Random(rows + classes);
            double[] z = AsFloat(Random(random, rows * classes, 8)); // large logits: needs the max-subtracted log-sum-exp
            int[] labels = Enumerable.Range(0, rows).Select(_ => random.Next(classes)).ToArray();
            using Tensor tz = Upload(z, rows, classes);
            using Tensor tl = Upload(labels.Select(l => (double)l).ToArray(), rows);
            using Tensor g = Backend.Allocate(rows, classes);
            Backend.Fill(g, 5f);
            double loss = Backend.SoftmaxCrossEntropy(tz, tl, g);
            var expectedGrad = new double[rows * classes];
            double expected = LossReference.SoftmaxCrossEntropy(z, labels, classes, expectedGrad);
            string context = $"{Case.Name} rows={rows} classes={classes}";
            Assert.That(loss, Is.EqualTo(expected).Within(1e-6).Percent, context);
            Compare.AllClose(Download(g), expectedGrad, 1e-9, 1e-5, "gradLogits", context, [rows, classes]);
        }
    }

    [TestCase(-1f)]
    [TestCase(4f)]
    [TestCase(1.5f)]
    [TestCase(float.NaN)]
    public void SoftmaxCrossEntropy_ThrowsForBadLabels(float bad)
    {
        using Tensor z = Backend.Allocate(3, 4);
        using Tensor labels = Backend.Upload([0f, bad, 2f], 3);
        var e = Assert.Throws<ArgumentException>(() => Backend.SoftmaxCrossEntropy(z, labels, null))!;
        Assert.That(e.ParamName, Is.EqualTo("labels"));
        Assert.That(e.Message, Does.Contain("labels[1]"));
    }

    [Test]
    public void Relu_AndBackward_MatchDefinition()
    {
        var random = new Random(2);
        double[] x = AsFloat(Random(random, Length)), g = AsFloat(Random(random, Length));
        x[0] = 0; // the derivative at 0 is 0
        using Tensor tx = Upload(x, Length);
        using Tensor tg = Upload(g, Length);
        using Tensor y = Backend.Allocate(Length);
        using Tensor gx = Backend.Allocate(Length);
        Backend.Relu(tx, y);
        Backend.ReluBackward(tx, tg, gx);
        Compare.AllClose(Download(y), x.Select(v => Math.Max(v, 0)).ToArray(), 0, 0, "relu", Case.Name);
        Compare.AllClose(Download(gx), x.Zip(g, (v, d) => v > 0 ? d : 0).ToArray(), 0, 0, "relu backward", Case.Name);
        Backend.ReluBackward(tx, tg, tg); // aliasing
        Compare.AllClose(Download(tg), x.Zip(g, (v, d) => v > 0 ? d : 0).ToArray(), 0, 0, "relu backward in place", Case.Name);
        Backend.Relu(tx, tx);
        Compare.AllClose(Download(tx), x.Select(v => Math.Max(v, 0)).ToArray(), 0, 0, "relu in place", Case.Name);
    }

    public static IEnumerable<TestCaseData> SgdCases()
    {
        yield return new TestCaseData(new SgdSettings(0.1)).SetArgDisplayNames("plain");
        yield return new TestCaseData(new SgdSettings(0.05, WeightDecay: 0.01)).SetArgDisplayNames("weightDecay");
        yield return new TestCaseData(new SgdSettings(0.05, Momentum: 0.9)).SetArgDisplayNames("momentum");
        yield return new TestCaseData(new SgdSettings(0.05, Momentum: 0.9, Dampening: 0.3, WeightDecay: 0.02)).SetArgDisplayNames("dampening");
        yield return new TestCaseData(new SgdSettings(0.05, Momentum: 0.8, Nesterov: true)).SetArgDisplayNames("nesterov");
    }

    [TestCaseSource(nameof(SgdCases))]
    public void SgdStep_MatchesReference_OverThreeSteps(SgdSettings settings)
    {
        var random = new Random(3);
        double[] p = AsFloat(Random(random, Length)), buf = new double[Length];
        using Tensor tp = Upload(p, Length);
        using Tensor tbuf = Backend.Allocate(Length);
        for (int step = 1; step <= 3; step++)
        {
            double[] g = AsFloat(Random(random, Length));
            using Tensor tg = Upload(g, Length);
            Backend.SgdStep(tp, tg, settings.Momentum != 0 ? tbuf : null, settings, firstStep: step == 1);
            OptimizerReference.SgdStep(g, settings, step == 1, p, buf);
            Compare.AllClose(Download(tp), p, 1e-6, 1e-5, $"parameters after step {step}", $"{Case.Name} {settings}");
        }
    }

    public static IEnumerable<TestCaseData> AdamCases()
    {
        yield return new TestCaseData(new AdamSettings(1e-2)).SetArgDisplayNames("adam");
        yield return new TestCaseData(new AdamSettings(1e-2, WeightDecay: 0.1)).SetArgDisplayNames("adamL2");
        yield return new TestCaseData(AdamSettings.AdamW(1e-2, 0.1)).SetArgDisplayNames("adamW");
        yield return new TestCaseData(new AdamSettings(5e-3, 0.5, 0.9, 1e-6)).SetArgDisplayNames("betas");
    }

    [TestCaseSource(nameof(AdamCases))]
    public void AdamStep_MatchesReference_OverThreeSteps(AdamSettings settings)
    {
        var random = new Random(4);
        double[] p = AsFloat(Random(random, Length)), m = new double[Length], v = new double[Length];
        using Tensor tp = Upload(p, Length);
        using Tensor tm = Backend.Allocate(Length);
        using Tensor tv = Backend.Allocate(Length);
        for (int step = 1; step <= 3; step++)
        {
            double[] g = AsFloat(Random(random, Length));
            using Tensor tg = Upload(g, Length);
            double lr = settings.LearningRate / step; // a schedule passes per-step rates
            Backend.AdamStep(tp, tg, tm, tv, settings, step, lr);
            OptimizerReference.AdamStep(g, settings, step, lr, p, m, v);
            Compare.AllClose(Download(tp), p, 1e-6, 1e-5, $"parameters after step {step}", $"{Case.Name} {settings}");
            Compare.AllClose(Download(tm), m, 1e-7, 1e-5, $"first moment after step {step}", $"{Case.Name} {settings}");
            Compare.AllClose(Download(tv), v, 1e-9, 1e-5, $"second moment after step {step}", $"{Case.Name} {settings}");
        }
    }

    [Test]
    public void Utilities_FillScaleCopySumOfSquares()
    {
        var random = new Random(5);
        double[] x = AsFloat(Random(random, Length));
        using Tensor t = Upload(x, Length);
        double expected = x.Sum(v => v * v);
        Assert.That(Backend.SumOfSquares(t), Is.EqualTo(expected).Within(1e-10).Percent, $"{Case.Name} SumOfSquares");
        Backend.Scale(t, -0.5f);
        Compare.AllClose(Download(t), x.Select(v => (double)((float)v * -0.5f)).ToArray(), 0, 0, "scaled", Case.Name);
        using Tensor copy = Backend.Allocate(Length);
        Backend.Copy(t, copy);
        Assert.That(copy.ToArray(), Is.EqualTo(t.ToArray()).AsCollection, $"{Case.Name} Copy");
        Backend.Fill(t, 2.5f);
        Assert.That(t.ToArray(), Is.All.EqualTo(2.5f), $"{Case.Name} Fill");
    }
}
