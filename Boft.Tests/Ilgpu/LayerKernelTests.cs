// Scale/bias, frozen-layer GEMM, losses, optimizer and element-wise kernels against the double-precision reference, on every
// ILGPU device. Shapes are odd on purpose (rows and columns not multiples of the tile or group sizes).
// Tolerances: element-wise float32 ops are within 1 ulp (rtol 1e-6); sums over k float32 products are within ~k·ε of
// Σ|terms| (atol 1e-5 for k ≤ 70 with O(1) inputs); MSE and Σx² form differences and sums in double, so only the summation
// order differs (rtol 1e-12); cross-entropy uses approximate ex2/lg2 on GPUs (rtol 1e-5, atol 1e-6 on gradients);
// optimizer steps run in double on float32 storage, and the reference is re-rounded to float32 after each step (rtol 1e-6).

using Boft.Backends;
using Boft.Kernels.Ilgpu;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using ILGPU;

namespace Boft.Tests.Ilgpu;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.Ilgpu))]
public sealed class LayerKernelTests(BackendCase backendCase) : IlgpuKernelTestBase(backendCase)
{
    [TestCase(true, true)]
    [TestCase(true, false)]
    [TestCase(false, true)]
    public void ScaleBias_ForwardAndBackward_MatchReference(bool withScale, bool withBias)
    {
        const int rows = 6, n = 37;
        double[] input = Random(rows * n, 1);
        double[] scale = Random(n, 2, 2);
        double[] bias = Random(n, 3);
        double[] gradOutput = Random(rows * n, 4);
        double[] initialScale = Random(n, 5);
        double[] initialBias = Random(n, 6);
        ArrayView<float> output = Zeros(rows * n);
        ArrayView<float> scaleView = withScale ? Upload(scale) : default;
        Kernels.ScaleBias(Upload(input), n, scaleView, withBias ? Upload(bias) : default, output);
        var expected = new double[input.Length];
        LinearReference.ScaleBias(input, withScale ? scale : [], withBias ? bias : [], n, expected);
        Compare.AllClose(Download(output), expected, 1e-7, 1e-6, "output", $"scale={withScale} bias={withBias} on {Case.Name}", [rows, n]);

        ArrayView<float> gradOutputView = Upload(gradOutput);
        ArrayView<float> gradScale = Upload(initialScale);
        ArrayView<float> gradBias = Upload(initialBias);
        // gradInput aliases gradOutput: the column sums must read gradOutput before it is overwritten.
        Kernels.ScaleBiasBackward(Upload(input), n, scaleView, gradOutputView, gradOutputView, gradScale, gradBias);
        var expectedInput = new double[input.Length];
        var expectedScale = new double[n];
        var expectedBias = new double[n];
        LinearReference.ScaleBiasBackward(input, withScale ? scale : [], gradOutput, n, expectedInput, expectedScale, expectedBias);
        for (int j = 0; j < n; j++)
        {
            expectedScale[j] += initialScale[j];
            expectedBias[j] += initialBias[j];
        }
        string context = $"scale={withScale} on {Case.Name}";
        Compare.AllClose(Download(gradOutputView), expectedInput, 1e-7, 1e-6, "gradInput", context, [rows, n]);
        Compare.AllClose(Download(gradScale), expectedScale, 1e-5, 1e-5, "gradScale", context);
        Compare.AllClose(Download(gradBias), expectedBias, 1e-5, 1e-5, "gradBias", context);
    }

    [Test]
    public void ScaleBiasBackward_ManyRowChunks_IsBitIdenticalOnRerun()
    {
        const int rows = 33, n = 5;
        ArrayView<float> input = Upload(Random(rows * n, 7));
        ArrayView<float> gradOutput = Upload(Random(rows * n, 8));
        var results = new float[2][];
        for (int run = 0; run < 2; run++)
        {
            ArrayView<float> gradScale = Zeros(n);
            Kernels.ScaleBiasBackward(input, n, default, gradOutput, default, gradScale, default);
            results[run] = DownloadRaw(gradScale);
        }
        Assert.That(results[1], Is.EqualTo(results[0]));
    }

    [TestCase(5, 7, 9, BoftGemm.Auto)]
    [TestCase(1, 16, 3, BoftGemm.Auto)]
    [TestCase(8, 33, 20, BoftGemm.Auto)]
    [TestCase(5, 7, 9, BoftGemm.Tiled)]
    [TestCase(8, 70, 37, BoftGemm.Tiled)]
    [TestCase(6, 19, 11, BoftGemm.Direct)]
    public void Linear_AllThreeProducts_MatchReference(int rows, int d, int n, BoftGemm gemm)
    {
        BoftKernels kernels = gemm == BoftGemm.Auto ? Kernels : KernelsWith(new BoftKernelOptions { Gemm = gemm });
        double[] input = Random(rows * d, 10 + d);
        double[] weight = Random(n * d, 11 + d);
        double[] gradOutput = Random(rows * n, 12 + d);
        double[] initialGradWeight = Random(n * d, 13 + d);
        string context = $"rows={rows} d={d} n={n} ({kernels.GemmImplementation}) on {Case.Name}";

        ArrayView<float> output = Zeros(rows * n);
        kernels.Linear(Upload(input), Upload(weight), d, n, output);
        var expected = new double[rows * n];
        LinearReference.Forward(input, weight, d, expected);
        Compare.AllClose(Download(output), expected, 1e-5, 1e-5, "output", context, [rows, n]);

        ArrayView<float> gradInput = Upload(Random(rows * d, 14));
        kernels.LinearBackwardInput(Upload(gradOutput), Upload(weight), d, n, gradInput);
        var expectedInput = new double[rows * d];
        LinearReference.BackwardInput(gradOutput, weight, d, expectedInput);
        Compare.AllClose(Download(gradInput), expectedInput, 1e-5, 1e-5, "gradInput", context, [rows, d]);

        ArrayView<float> gradWeight = Upload(initialGradWeight);
        kernels.LinearBackwardWeight(Upload(gradOutput), Upload(input), d, n, gradWeight);
        var expectedWeight = new double[n * d];
        LinearReference.BackwardWeight(gradOutput, input, d, expectedWeight);
        for (int i = 0; i < expectedWeight.Length; i++)
            expectedWeight[i] += initialGradWeight[i];
        Compare.AllClose(Download(gradWeight), expectedWeight, 1e-5, 1e-5, "gradWeight (accumulated)", context, [n, d]);
    }

    [TestCase(1)]
    [TestCase(37)]
    [TestCase(1000)]
    public void MseLoss_AndSumOfSquares_MatchReference(int length)
    {
        double[] prediction = Random(length, 20 + length);
        double[] target = Random(length, 21 + length);
        ArrayView<float> grad = Upload(Random(length, 22));
        double loss = Kernels.MseLoss(Upload(prediction), Upload(target), grad);
        var expectedGrad = new double[length];
        double expected = LossReference.MeanSquaredError(prediction, target, expectedGrad);
        Assert.That(loss, Is.EqualTo(expected).Within(1e-12 * expected), $"MSE of {length} on {Case.Name}");
        Compare.AllClose(Download(grad), expectedGrad, 1e-9, 1e-6, "gradPrediction", $"{length} on {Case.Name}");
        double sumSquares = Kernels.SumOfSquares(Upload(prediction));
        Assert.That(sumSquares, Is.EqualTo(prediction.Sum(v => v * v)).Within(1e-12 * sumSquares), "SumOfSquares");
        Assert.That(Kernels.MseLoss(Upload(prediction), Upload(target), default), Is.EqualTo(loss), "MSE without a gradient, and reruns, give the same bits");
    }

    [TestCase(5, 7)]
    [TestCase(1, 1)]
    [TestCase(9, 40)]
    public void SoftmaxCrossEntropy_MatchesReference(int rows, int classes)
    {
        double[] logits = Random(rows * classes, 30 + classes, 4);
        int[] labels = [.. Enumerable.Range(0, rows).Select(r => (r * 7 + 3) % classes)];
        ArrayView<float> grad = Zeros(rows * classes);
        double loss = Kernels.SoftmaxCrossEntropy(Upload(logits), Upload(Array.ConvertAll(labels, l => (double)l)), classes, grad);
        var expectedGrad = new double[rows * classes];
        double expected = LossReference.SoftmaxCrossEntropy(logits, labels, classes, expectedGrad);
        Assert.That(loss, Is.EqualTo(expected).Within(1e-6 + 1e-5 * Math.Abs(expected)), $"CE rows={rows} classes={classes} on {Case.Name}");
        Compare.AllClose(Download(grad), expectedGrad, 1e-6, 1e-5, "gradLogits", $"rows={rows} classes={classes} on {Case.Name}", [rows, classes]);
    }

    [TestCase(2.5)]
    [TestCase(-1.0)]
    [TestCase(3.0)]
    public void SoftmaxCrossEntropy_ThrowsForInvalidLabel(double badLabel)
    {
        ArrayView<float> logits = Upload(Random(3 * 3, 40));
        ArrayView<float> labels = Upload(new double[] { 0, badLabel, 2 });
        var e = Assert.Throws<ArgumentException>(() => Kernels.SoftmaxCrossEntropy(logits, labels, 3, default));
        Assert.That(e!.ParamName, Is.EqualTo("labels"));
        Assert.That(e.Message, Does.Contain("labels[1]"));
    }

    public static IEnumerable<TestCaseData> SgdCases()
    {
        yield return new TestCaseData(new SgdSettings(0.1)).SetArgDisplayNames("plain");
        yield return new TestCaseData(new SgdSettings(0.05, Momentum: 0.9, WeightDecay: 0.01)).SetArgDisplayNames("momentum_wd");
        yield return new TestCaseData(new SgdSettings(0.05, Momentum: 0.8, Dampening: 0.1)).SetArgDisplayNames("dampening");
        yield return new TestCaseData(new SgdSettings(0.05, Momentum: 0.9, Nesterov: true)).SetArgDisplayNames("nesterov");
    }

    [TestCaseSource(nameof(SgdCases))]
    public void SgdStep_ThreeSteps_MatchReference(SgdSettings settings)
    {
        const int n = 43;
        double[] p = Random(n, 50);
        double[] buffer = new double[n];
        ArrayView<float> parameters = Upload(p);
        ArrayView<float> momentum = settings.Momentum != 0 ? Zeros(n) : default;
        for (int step = 1; step <= 3; step++)
        {
            double[] g = Random(n, 50 + step);
            Kernels.SgdStep(parameters, Upload(g), momentum, settings, step == 1);
            OptimizerReference.SgdStep(g, settings, step == 1, p, buffer);
            p = Array.ConvertAll(p, v => (double)(float)v);
            buffer = Array.ConvertAll(buffer, v => (double)(float)v);
        }
        Compare.AllClose(Download(parameters), p, 1e-7, 1e-6, "parameters", $"{settings} on {Case.Name}");
    }

    public static IEnumerable<TestCaseData> AdamCases()
    {
        yield return new TestCaseData(new AdamSettings(0.01)).SetArgDisplayNames("adam");
        yield return new TestCaseData(new AdamSettings(0.01, WeightDecay: 0.1)).SetArgDisplayNames("adam_l2");
        yield return new TestCaseData(AdamSettings.AdamW(0.01, 0.05)).SetArgDisplayNames("adamw");
    }

    [TestCaseSource(nameof(AdamCases))]
    public void AdamStep_ThreeSteps_MatchReference(AdamSettings settings)
    {
        const int n = 41;
        double[] p = Random(n, 60);
        double[] m = new double[n], v = new double[n];
        ArrayView<float> parameters = Upload(p);
        ArrayView<float> first = Zeros(n), second = Zeros(n);
        for (int step = 1; step <= 3; step++)
        {
            double[] g = Random(n, 60 + step);
            double lr = settings.LearningRate * (1.0 - 0.1 * step);
            Kernels.AdamStep(parameters, Upload(g), first, second, settings, step, lr);
            OptimizerReference.AdamStep(g, settings, step, lr, p, m, v);
            p = Array.ConvertAll(p, x => (double)(float)x);
            m = Array.ConvertAll(m, x => (double)(float)x);
            v = Array.ConvertAll(v, x => (double)(float)x);
        }
        string context = $"{settings} on {Case.Name}";
        Compare.AllClose(Download(parameters), p, 1e-7, 1e-6, "parameters", context);
        Compare.AllClose(Download(first), m, 1e-9, 1e-6, "firstMoment", context);
        Compare.AllClose(Download(second), v, 1e-12, 1e-6, "secondMoment", context);
    }

    [Test]
    public void Elementwise_FillScaleCopyRelu_MatchExpectations()
    {
        const int n = 29;
        double[] x = Random(n, 70);
        double[] g = Random(n, 71);
        ArrayView<float> a = Zeros(n);
        Kernels.Fill(a, 2.5f);
        Assert.That(Download(a), Is.All.EqualTo(2.5));
        Kernels.Scale(a, -2f);
        Assert.That(Download(a), Is.All.EqualTo(-5.0));
        Kernels.Copy(Upload(x), a);
        Assert.That(Download(a), Is.EqualTo(x));
        ArrayView<float> relu = Zeros(n);
        Kernels.Relu(a, relu);
        Assert.That(Download(relu), Is.EqualTo(x.Select(v => Math.Max(v, 0)).ToArray()));
        ArrayView<float> gradView = Upload(g);
        Kernels.ReluBackward(a, gradView, gradView);
        Assert.That(Download(gradView), Is.EqualTo(x.Zip(g, (v, gv) => v > 0 ? gv : 0).ToArray()));
        Kernels.Relu(a, a);
        Assert.That(Download(a), Is.EqualTo(x.Select(v => Math.Max(v, 0)).ToArray()), "in place");
    }
}
