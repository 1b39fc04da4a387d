// The Conv2d family on every registered backend against Conv2dReference: forward (with and without bias), input gradient
// (overwritten), weight and bias gradients (accumulated), RowScaleBackward; BoftConv2d / OftConv2d against the reference
// adapter chain on shapes PEFT cannot express (non-square kernels, per-axis stride/padding/dilation, groups, odd d); and
// bad input (channel/kernel mismatch, spatial size too small, groups not dividing channels) rejected before any work with
// the argument and both shapes named. Tolerance: BackendOracle.Tolerance with the reduction length of each op (d for the
// forward, C_out/G·kh·kw for the input gradient, N·H_out·W_out for the weight gradient); layers: the golden suite's
// 2e-5 + 1e-5 forward and 2e-4·max|g| + 1e-4 gradient rule.

using Boft.Backends;
using Boft.Layers;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class Conv2dBackendTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private IEnumerable<(Conv2dShape Shape, int Batch)> Shapes()
    {
        yield return (Conv2dShape.Square(2, 3, 3, 5, 4), 2);
        yield return (new Conv2dShape(4, 6, 2, 3, 6, 7, strideHeight: 2, strideWidth: 1, paddingHeight: 1, paddingWidth: 2, dilationHeight: 1, dilationWidth: 2, groups: 2), 3);
        yield return (Conv2dShape.Square(3, 3, 3, 5, 5, padding: 1, groups: 3), 1);
        yield return (Conv2dShape.Square(5, 4, 1, 3, 4), 2);
        if (!IsSimulator)
        {
            yield return (Conv2dShape.Square(16, 24, 3, 14, 13, padding: 1, stride: 2), 4);
            yield return (Conv2dShape.Square(64, 64, 3, 16, 16, padding: 1), 1);
            yield return (Conv2dShape.Square(8, 16, 3, 12, 12, padding: 1), 40);
        }
    }

    [Test]
    public void ConvOps_MatchReference()
    {
        foreach ((Conv2dShape shape, int batch) in Shapes())
        {
            var random = new Random(shape.FilterDimension * 7 + batch);
            double[] x = AsFloat(Random(random, batch * shape.InputImageLength)), w = AsFloat(Random(random, shape.WeightLength));
            double[] bias = AsFloat(Random(random, shape.OutChannels)), g = AsFloat(Random(random, batch * shape.OutputImageLength));
            double[] initialW = AsFloat(Random(random, shape.WeightLength)), initialB = AsFloat(Random(random, shape.OutChannels));
            string context = $"{Case.Name} {shape} N={batch}";
            using Tensor tx = Upload(x, shape.InputDimensions(batch));
            using Tensor tw = Upload(w, shape.WeightDimensions);
            using Tensor tb = Upload(bias, shape.OutChannels);
            using Tensor tg = Upload(g, shape.OutputDimensions(batch));

            using Tensor y = Backend.Allocate(shape.OutputDimensions(batch));
            Backend.Fill(y, float.NaN);
            var expected = new double[g.Length];
            foreach (bool withBias in new[] { false, true })
            {
                Backend.Conv2d(shape, tx, tw, withBias ? tb : null, y);
                Conv2dReference.Forward(shape, batch, x, w, withBias ? bias : [], expected);
                (double atol, double rtol) = Tolerance(expected, shape.FilterDimension);
                Compare.AllClose(Download(y), expected, atol, rtol, withBias ? "conv + bias" : "conv", context);
            }

            using Tensor gx = Backend.Allocate(shape.InputDimensions(batch));
            Backend.Fill(gx, float.NaN);
            Backend.Conv2dBackwardInput(shape, tg, tw, gx);
            var expectedGx = new double[x.Length];
            Conv2dReference.BackwardInput(shape, batch, g, w, expectedGx);
            (double atolX, double rtolX) = Tolerance(expectedGx, shape.GroupOutChannels * shape.KernelArea);
            Compare.AllClose(Download(gx), expectedGx, atolX, rtolX, "grad input (overwritten)", context);

            using Tensor gw = Upload(initialW, shape.OutChannels, shape.FilterDimension);
            using Tensor gb = Upload(initialB, shape.OutChannels);
            Backend.Conv2dBackwardWeight(shape, tg, tx, gw, gb);
            double[] expectedGw = (double[])initialW.Clone(), expectedGb = (double[])initialB.Clone();
            Conv2dReference.BackwardWeight(shape, batch, g, x, expectedGw, expectedGb);
            (double atolW, double rtolW) = Tolerance(expectedGw, batch * shape.OutputPixels);
            Compare.AllClose(Download(gw), expectedGw, atolW, rtolW, "grad weight (+=)", context);
            (double atolB, double rtolB) = Tolerance(expectedGb, batch * shape.OutputPixels);
            Compare.AllClose(Download(gb), expectedGb, atolB, rtolB, "grad bias (+=)", context);
        }
    }

    [Test]
    public void RowScaleBackward_MatchesReference()
    {
        var random = new Random(9);
        const int rows = 7, columns = 37;
        double[] input = AsFloat(Random(random, rows * columns)), scale = AsFloat(Random(random, rows)), g = AsFloat(Random(random, rows * columns));
        double[] initial = AsFloat(Random(random, rows));
        using Tensor ti = Upload(input, rows, columns);
        using Tensor ts = Upload(scale, 1, rows);
        using Tensor tg = Upload(g, rows, columns);
        using Tensor gi = Backend.Allocate(rows, columns);
        using Tensor gs = Upload(initial, 1, rows);
        Backend.RowScaleBackward(ti, ts, tg, gi, gs);
        var expectedGi = new double[rows * columns];
        double[] expectedGs = (double[])initial.Clone();
        Conv2dReference.RowScaleBackward(input, scale, g, columns, expectedGi, expectedGs);
        Compare.AllClose(Download(gi), expectedGi, 1e-6, 1e-6, "gradInput = diag(s)·g", Case.Name);
        (double atol, double rtol) = Tolerance(expectedGs, columns);
        Compare.AllClose(Download(gs), expectedGs, atol, rtol, "gradScale += rowdot", Case.Name);
    }

    public static IEnumerable<TestCaseData> Adapters()
    {
        var grouped = new Conv2dShape(4, 6, 2, 3, 5, 6, paddingWidth: 1, dilationHeight: 2, groups: 2);
        yield return new TestCaseData(grouped, "boft", 3, 1).SetArgDisplayNames("boft_b3_m1_grouped_nonsquare_dilated");
        var strided = new Conv2dShape(4, 3, 1, 2, 5, 7, strideHeight: 2, strideWidth: 3, paddingHeight: 1);
        yield return new TestCaseData(strided, "boft", 2, 3).SetArgDisplayNames("boft_b2_m3_1x2_stride2x3");
        var odd = Conv2dShape.Square(3, 2, 7, 7, 7, padding: 1, stride: 2);
        yield return new TestCaseData(odd, "oft", 7, 0).SetArgDisplayNames("oft_b7_d147");
        yield return new TestCaseData(strided, "oftneumann", 4, 0).SetArgDisplayNames("oft_neumann_b4_stride2x3");
    }

    [TestCaseSource(nameof(Adapters))]
    public void AdapterLayer_MatchesReferenceChain(Conv2dShape conv, string method, int blockSize, int factors)
    {
        const int batch = 2;
        var random = new Random(conv.FilterDimension + blockSize);
        int n = conv.OutChannels, d = conv.FilterDimension;
        float[] w0 = Array.ConvertAll(Random(random, n * d), v => (float)v), bias = Array.ConvertAll(Random(random, n), v => (float)v);
        AdapterConv2d layer = method == "boft"
            ? new BoftConv2d(Backend, conv, new BoftConfig(0, BlockSize: blockSize, FactorCount: factors), w0, bias, new AdapterInitialization(false, 3), trainBias: true)
            : new OftConv2d(Backend, conv, new OftConfig(0, BlockSize: blockSize,
                Orthogonalization: method == "oft" ? Orthogonalization.ExactCayley : Orthogonalization.CayleyNeumann), w0, bias, new AdapterInitialization(false, 3), trainBias: true);
        using (layer)
        {
            double[] x = AsFloat(Random(random, batch * conv.InputImageLength)), g = AsFloat(Random(random, batch * conv.OutputImageLength));
            using Tensor tx = Upload(x, batch, conv.InputImageLength);
            using Tensor ty = Backend.Allocate(batch, conv.OutputImageLength);
            layer.IsTraining = false;
            layer.Forward(tx, ty);
            double[] parameters = Download(layer.Rotations.Value);
            double[] scale = layer.ScaleParameter is null ? [] : Download(layer.ScaleParameter.Value);
            double[] w = Array.ConvertAll(w0, v => (double)v), b = Array.ConvertAll(bias, v => (double)v);
            var expectedY = new double[g.Length];
            var adapted = new double[n * d];
            Conv2dReference.AdapterForward(conv, layer.Rotation, layer.Cayley, batch, x, w, b, parameters, scale, [], expectedY, adapted);
            string context = $"{method} on {conv}, {Case.Name}";
            Compare.AllClose(Download(ty), expectedY, 2e-5, 1e-5, "y", context);
            Compare.AllClose(Download(layer.AdaptedWeight), adapted, 2e-5, 1e-5, "W'", context);

            foreach (Boft.Training.Parameter p in layer.Parameters)
                p.ZeroGrad();
            using Tensor tg = Upload(g, batch, conv.OutputImageLength);
            using Tensor gx = Backend.Allocate(batch, conv.InputImageLength);
            layer.Backward(tg, gx);
            var gp = new double[parameters.Length];
            var gs = new double[scale.Length];
            var egx = new double[x.Length];
            var gb = new double[n];
            Conv2dReference.AdapterBackward(conv, layer.Rotation, layer.Cayley, batch, x, w, parameters, scale, [], g, gp, gs, egx, gb);
            Close(Download(layer.Rotations.RequiredGradient), gp, "grad parameters", context);
            if (layer.ScaleParameter is not null)
                Close(Download(layer.ScaleParameter.RequiredGradient), gs, "grad boft_s", context);
            Close(Download(gx), egx, "grad x", context);
            Close(Download(layer.Bias!.RequiredGradient), gb, "grad bias", context);
        }
    }

    [Test]
    public void BadInput_IsRejectedBeforeAnyWork_NamingArgumentAndShapes()
    {
        var shape = Conv2dShape.Square(4, 6, 3, 8, 8, padding: 1);
        using Tensor x = Backend.Allocate(2, 4, 8, 8);
        using Tensor w = Backend.Allocate(6, 4, 3, 3);
        using Tensor y = Backend.Allocate(2, 6, 8, 8);
        Backend.Fill(y, 7f);
        using Tensor wrongChannels = Backend.Allocate(2, 3, 8, 8);
        var e = Assert.Throws<ArgumentException>(() => Backend.Conv2d(shape, wrongChannels, w, null, y))!;
        Assert.That(e.ParamName, Is.EqualTo("input"));
        Assert.That(e.Message, Does.Contain("[2, 3, 8, 8]").And.Contain("[N, 4, 8, 8]"));
        using Tensor wrongKernel = Backend.Allocate(6, 4, 3, 2);
        e = Assert.Throws<ArgumentException>(() => Backend.Conv2d(shape, x, wrongKernel, null, y))!;
        Assert.That(e.ParamName, Is.EqualTo("weight"));
        Assert.That(e.Message, Does.Contain("[6, 4, 3, 2]").And.Contain("[6, 4, 3, 3]"));
        using Tensor wrongBatch = Backend.Allocate(3, 6, 8, 8);
        e = Assert.Throws<ArgumentException>(() => Backend.Conv2d(shape, x, w, null, wrongBatch))!;
        Assert.That(e.ParamName, Is.EqualTo("output"));
        Assert.That(e.Message, Does.Contain("[3, 6, 8, 8]").And.Contain("[2, 4, 8, 8]"));
        using Tensor wrongBias = Backend.Allocate(5);
        e = Assert.Throws<ArgumentException>(() => Backend.Conv2d(shape, x, w, wrongBias, y))!;
        Assert.That(e.ParamName, Is.EqualTo("bias"));
        Assert.That(Download(y).All(v => v == 7), Is.True, "nothing was written before the exception");

        var small = Assert.Throws<ArgumentException>(() => Conv2dShape.Square(4, 6, 5, 3, 8))!;
        Assert.That(small.Message, Does.Contain("[3, 8]").And.Contain("[5, 5]"));
        var groups = Assert.Throws<ArgumentException>(() => Conv2dShape.Square(6, 4, 3, 8, 8, groups: 4))!;
        Assert.That(groups.ParamName, Is.EqualTo("groups"));
        Assert.That(groups.Message, Does.Contain("inChannels (6)").And.Contain("outChannels (4)"));

        var conv = Conv2dShape.Square(4, 6, 3, 8, 8);
        var boft = Assert.Throws<ArgumentException>(() => new BoftConv2d(Backend, conv, new BoftConfig(0, BlockSize: 5), new float[conv.WeightLength]))!;
        Assert.That(boft.Message, Does.StartWith("Convolutional kernel dimension (36) must be divisible by boft_block_size (5)!"));
        var combination = Assert.Throws<ArgumentException>(() => new BoftConv2d(Backend, conv, new BoftConfig(0, BlockSize: 4, FactorCount: 2), new float[conv.WeightLength]))!;
        Assert.That(combination.Message, Does.StartWith("Invalid combination of convolutional kernel dimension (36), boft_n_butterfly_factor (2) and boft_block_size (4)!"));
        var count = Assert.Throws<ArgumentException>(() => new BoftConv2d(Backend, conv, new BoftConfig(0, BlockSize: 0, BlockCount: 5), new float[conv.WeightLength]))!;
        Assert.That(count.Message, Does.StartWith("Convolutional kernel dimension (36) must be divisible by boft_block_num (5)!"));
        var mismatch = Assert.Throws<ArgumentException>(() => new BoftConv2d(Backend, conv, new BoftConfig(64, BlockSize: 4), new float[conv.WeightLength]))!;
        Assert.That(mismatch.Message, Does.Contain("FeatureCount 64").And.Contain("36"));
        var weight = Assert.Throws<ArgumentException>(() => new OftConv2d(Backend, conv, new OftConfig(0, BlockSize: 4), new float[10]))!;
        Assert.That(weight.ParamName, Is.EqualTo("baseWeight"));
        Assert.That(weight.Message, Does.Contain("[6, 4, 3, 3]"));
    }

    private static void Close(double[] actual, double[] expected, string what, string context) =>
        Compare.AllClose(actual, expected, 2e-4 * Math.Max(Compare.MaxAbs(expected), 1e-30), 1e-4, what, context);
}
