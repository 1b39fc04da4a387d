// The Conv2d gradients of the reference against central finite differences in double precision: the frozen convolution's
// input, weight and bias gradients over shapes PEFT cannot express (non-square kernels, per-axis stride/padding/dilation,
// groups), and the whole weight-centric adapter chain (Cayley → W' = diag(s)·W0·Rᵀ → conv) of BoftConv2d/OftConv2d,
// including an odd kernel dimension d = 147 = 3·7·7. Tolerance as in FiniteDifferenceTests: h = 1e-6, |analytic − numeric|
// ≤ 1e-7 + 1e-6·|numeric| (truncation O(h²) ≈ 1e-12, rounding O(eps·|L|/h) ≈ 1e-9 for |L| ≲ 10; a wrong index or a
// transposed W is off by O(|g|)).

using Boft.Reference;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.Reference;

[TestFixture]
public sealed class Conv2dFiniteDifferenceTests
{
    private const double Step = 1e-6, Atol = 1e-7, Rtol = 1e-6;

    public static IEnumerable<TestCaseData> Shapes()
    {
        yield return new TestCaseData(Conv2dShape.Square(2, 3, 3, 5, 4)).SetArgDisplayNames("3x3");
        yield return new TestCaseData(new Conv2dShape(2, 4, 2, 3, 6, 7, strideHeight: 2, strideWidth: 1, paddingHeight: 1, paddingWidth: 2, dilationHeight: 1, dilationWidth: 2)).SetArgDisplayNames("2x3_stride2x1_pad1x2_dil1x2");
        yield return new TestCaseData(new Conv2dShape(4, 6, 3, 1, 5, 5, groups: 2, paddingHeight: 1)).SetArgDisplayNames("3x1_groups2");
        yield return new TestCaseData(new Conv2dShape(3, 3, 2, 2, 4, 4, strideHeight: 3, strideWidth: 3, groups: 3, dilationHeight: 2, dilationWidth: 2)).SetArgDisplayNames("depthwise_stride3_dil2");
    }

    [TestCaseSource(nameof(Shapes))]
    public void ConvolutionGradients_MatchFiniteDifferences(Conv2dShape shape)
    {
        var random = new Random(shape.GetHashCode() & 0xffff);
        const int batch = 2;
        double[] x = Random(random, batch * shape.InputImageLength), w = Random(random, shape.WeightLength), bias = Random(random, shape.OutChannels);
        double[] g = Random(random, batch * shape.OutputImageLength);
        var gx = new double[x.Length];
        var gw = new double[w.Length];
        var gb = new double[bias.Length];
        Conv2dReference.BackwardInput(shape, batch, g, w, gx);
        Conv2dReference.BackwardWeight(shape, batch, g, x, gw, gb);
        int outputLength = g.Length;
        Compare.AllClose(gx, Numeric(x, g, (p, y) => Conv2dReference.Forward(shape, batch, p, w, bias, y), outputLength), Atol, Rtol, "grad x", shape.ToString());
        Compare.AllClose(gw, Numeric(w, g, (p, y) => Conv2dReference.Forward(shape, batch, x, p, bias, y), outputLength), Atol, Rtol, "grad W", shape.ToString());
        Compare.AllClose(gb, Numeric(bias, g, (p, y) => Conv2dReference.Forward(shape, batch, x, w, p, y), outputLength), Atol, Rtol, "grad bias", shape.ToString());
    }

    public static IEnumerable<TestCaseData> Adapters()
    {
        // (convolution, adapter): BOFT m=2 on a non-square grouped dilated conv; BOFT m=3 (b=2) on d=12; OFT exact b=7 on d=147.
        var grouped = new Conv2dShape(4, 4, 2, 3, 5, 6, paddingWidth: 1, dilationHeight: 2, groups: 2);
        yield return new TestCaseData(grouped, (object)new BoftConfig(grouped.FilterDimension, BlockSize: 3, FactorCount: 1)).SetArgDisplayNames("boft_m1_b3_grouped_2x3");
        var small = new Conv2dShape(4, 3, 2, 1, 4, 5, strideHeight: 2);
        yield return new TestCaseData(small, (object)new BoftConfig(small.FilterDimension, BlockSize: 2, FactorCount: 3)).SetArgDisplayNames("boft_m3_b2_2x1_stride2");
        var odd = Conv2dShape.Square(3, 2, 7, 7, 7, padding: 1, stride: 2);
        yield return new TestCaseData(odd, (object)new OftConfig(odd.FilterDimension, BlockSize: 7, Orthogonalization: Orthogonalization.ExactCayley)).SetArgDisplayNames("oft_b7_d147");
        yield return new TestCaseData(small, (object)new OftConfig(small.FilterDimension, BlockSize: 4)).SetArgDisplayNames("oft_neumann_b4_d8");
    }

    [TestCaseSource(nameof(Adapters))]
    public void AdapterChain_MatchesFiniteDifferences(Conv2dShape conv, object config)
    {
        (RotationShape rotation, CayleyShape cayley) = config switch
        {
            BoftConfig b => (b.Resolve().Rotation, b.Resolve().Cayley),
            OftConfig o => (o.Resolve().Rotation, o.Resolve().Cayley),
            _ => throw new ArgumentException("unknown config"),
        };
        bool scaled = config is BoftConfig;
        var random = new Random(conv.FilterDimension * 31 + conv.OutChannels);
        const int batch = 2;
        int n = conv.OutChannels, d = conv.FilterDimension;
        double[] x = Random(random, batch * conv.InputImageLength), w0 = Random(random, n * d), bias = Random(random, n);
        double[] parameters = Random(random, cayley.ParametersLength, 0.3);
        double[] scale = scaled ? Array.ConvertAll(Random(random, n, 0.2), v => 1 + v) : [];
        double[] g = Random(random, batch * conv.OutputImageLength);
        int outputLength = g.Length;
        var gp = new double[parameters.Length];
        var gs = new double[scale.Length];
        var gx = new double[x.Length];
        var gb = new double[n];
        Conv2dReference.AdapterBackward(conv, rotation, cayley, batch, x, w0, parameters, scale, [], g, gp, gs, gx, gb);
        var adapted = new double[n * d];
        void F(double[] px, double[] pp, double[] ps, double[] pb, double[] y) =>
            Conv2dReference.AdapterForward(conv, rotation, cayley, batch, px, w0, pb, pp, ps, [], y, adapted);
        string context = $"{config} on {conv}";
        Compare.AllClose(gp, Numeric(parameters, g, (p, y) => F(x, p, scale, bias, y), outputLength), Atol, Rtol, "grad parameters", context);
        if (scaled)
            Compare.AllClose(gs, Numeric(scale, g, (p, y) => F(x, parameters, p, bias, y), outputLength), Atol, Rtol, "grad boft_s", context);
        Compare.AllClose(gx, Numeric(x, g, (p, y) => F(p, parameters, scale, bias, y), outputLength), Atol, Rtol, "grad x", context);
        Compare.AllClose(gb, Numeric(bias, g, (p, y) => F(x, parameters, scale, p, y), outputLength), Atol, Rtol, "grad bias", context);
    }

    private static double[] Numeric(double[] point, double[] weights, Action<double[], double[]> f, int outputLength)
    {
        var grad = new double[point.Length];
        var plus = new double[outputLength];
        var minus = new double[outputLength];
        for (int i = 0; i < point.Length; i++)
        {
            double saved = point[i];
            point[i] = saved + Step;
            f(point, plus);
            point[i] = saved - Step;
            f(point, minus);
            point[i] = saved;
            double sum = 0;
            for (int j = 0; j < outputLength; j++)
                sum += weights[j] * (plus[j] - minus[j]);
            grad[i] = sum / (2 * Step);
        }
        return grad;
    }

    private static double[] Random(Random random, int length, double scale = 1.0)
    {
        var v = new double[length];
        for (int i = 0; i < length; i++)
            v[i] = scale * (2 * random.NextDouble() - 1);
        return v;
    }
}
