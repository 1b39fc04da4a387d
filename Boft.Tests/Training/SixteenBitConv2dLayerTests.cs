// The adapted convolutions over 16-bit images (docs/09_Mixed-precision.md): W0 and a frozen bias are stored in the image type,
// W' and every adapter gradient are float32. Given inputs exact in the 16-bit type, the 16-bit layer runs the float32 layer's
// arithmetic on the same values and rounds only y and grad x at the store, so (on one backend):
//  * y and grad x are within one 16-bit ulp of the float32 layer's (plus 1e-5·max for float32 summation-order noise, since
//    the 16-bit SIMD path convolves in chunks of images);
//  * the parameter gradients (boft_R / oft weight, boft_s, a trainable bias) are within float32 tolerance of the float32 layer's;
//  * merge rounds W' once into W0's type: |W'_merged − W'| ≤ 1 ulp of W'.

using Boft.Backends;
using Boft.Layers;
using Boft.Tests.BackendOps;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.Training;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class SixteenBitConv2dLayerTests(BackendCase backendCase) : SixteenBitTestBase(backendCase)
{
    private static readonly Conv2dShape Shape = new(4, 6, 3, 3, 7, 7, paddingHeight: 1, paddingWidth: 1);
    private const int Images = 5;

    private static IEnumerable<TestCaseData> Cases() =>
        from kind in new[] { "boft", "oft" }
        from type in new[] { ElementType.BFloat16, ElementType.Float16 }
        from trainBias in new[] { false, true }
        select new TestCaseData(kind, type, trainBias).SetArgDisplayNames(kind, type.ToString(), trainBias ? "trainBias" : "frozenBias");

    /// <summary>Values exact in <paramref name="type"/>.</summary>
    private static float[] Exact(int seed, int length, ElementType type)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => ElementConversions.Round(2 * random.NextDouble() - 1, type)).ToArray();
    }

    private static AdapterConv2d Create(BoftBackend backend, string kind, ElementType type, ElementType activationType, bool trainBias)
    {
        float[] w = Exact(1, Shape.WeightLength, type), bias = Exact(2, Shape.OutChannels, type);
        var init = new AdapterInitialization(false, 3);
        return kind == "boft"
            ? new BoftConv2d(backend, Shape, new BoftConfig(0, BlockSize: 6, FactorCount: 2), w, bias, init, trainBias, activationType: activationType)
            : new OftConv2d(backend, Shape, new OftConfig(0, BlockSize: 12, Orthogonalization: Orthogonalization.ExactCayley), w, bias, init, trainBias, activationType: activationType);
    }

    [TestCaseSource(nameof(Cases))]
    public void SixteenBitImages_MatchTheFloat32Layer_UpToOneRoundingOfTheOutputs(string kind, ElementType type, bool trainBias)
    {
        RequireConvPath(type);
        float[] x = Exact(4, Images * Shape.InputImageLength, type), gy = Exact(5, Images * Shape.OutputImageLength, type);
        (float[] y, float[] gx, float[][] grads) Run(ElementType activationType)
        {
            using AdapterConv2d layer = Create(Backend, kind, type, activationType, trainBias);
            Assert.That(layer.BaseWeight.Value.ElementType, Is.EqualTo(activationType), "W0 is stored in the image type");
            if (trainBias)
                Assert.That(layer.Bias!.Value.ElementType, Is.EqualTo(ElementType.Float32), "a trainable bias is a float32 master");
            using Tensor tx = Backend.Upload(x, activationType, Images, Shape.InputImageLength), ty = Backend.Allocate(activationType, Images, Shape.OutputImageLength);
            using Tensor tgy = Backend.Upload(gy, activationType, Images, Shape.OutputImageLength), tgx = Backend.Allocate(activationType, Images, Shape.InputImageLength);
            layer.Forward(tx, ty);
            layer.Backward(tgy, tgx);
            float[][] grads = layer.TrainableParameters.Select(p => p.Gradient!.ToArray()).ToArray();
            return (ty.ToArray(), tgx.ToArray(), grads);
        }
        var wide = Run(ElementType.Float32);
        var narrow = Run(type);
        WithinOneUlp(narrow.y, wide.y, type, "y");
        WithinOneUlp(narrow.gx, wide.gx, type, "gradInput");
        Assert.That(narrow.grads, Has.Length.EqualTo(wide.grads.Length));
        for (int i = 0; i < wide.grads.Length; i++)
        {
            double[] expected = Array.ConvertAll(wide.grads[i], v => (double)v);
            (double atol, double rtol) = BackendOracle.Tolerance(expected, Images * Shape.OutputPixels);
            Compare.AllClose(Array.ConvertAll(narrow.grads[i], v => (double)v), expected, atol, rtol, $"parameter gradient {i}", $"{kind} {type}");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void Merge_RoundsTheAdaptedWeightOnceIntoTheBaseType(string kind, ElementType type, bool trainBias)
    {
        RequireConvPath(type);
        using AdapterConv2d layer = Create(Backend, kind, type, type, trainBias);
        using Tensor tx = Backend.Upload(Exact(4, Images * Shape.InputImageLength, type), type, Images, Shape.InputImageLength);
        using Tensor ty = Backend.Allocate(type, Images, Shape.OutputImageLength);
        layer.Forward(tx, ty);
        float[] adapted = layer.AdaptedWeight.ToArray();
        Assert.That(layer.AdaptedWeight.ElementType, Is.EqualTo(ElementType.Float32), "W' is float32 while unmerged");
        layer.Merge();
        Assert.That(layer.BaseWeight.Value.ElementType, Is.EqualTo(type));
        WithinOneUlp(layer.BaseWeight.Value.ToArray(), adapted, type, "merged W0");
        layer.Unmerge();
        // Unmerge: the rounding of W' (‖ΔW'_o‖ ≤ u‖W'_o‖) passes through the orthogonal R and 1/s_o, and W0 is rounded once more:
        // per row ‖W0_restored − W0‖ ≤ u·(‖W'_o‖/|s_o| + ‖W0_o‖) + 1e-6·‖W0_o‖ (a per-element ulp bound does not hold: R mixes a row).
        float[] restored = layer.BaseWeight.Value.ToArray(), original = Exact(1, Shape.WeightLength, type);
        float[]? scale = layer.ScaleParameter?.Value.ToArray();
        double u = type == ElementType.BFloat16 ? Math.Pow(2, -8) : Math.Pow(2, -11);
        int d = Shape.FilterDimension;
        for (int o = 0; o < Shape.OutChannels; o++)
        {
            double Norm(float[] v) => Math.Sqrt(Enumerable.Range(o * d, d).Sum(i => (double)v[i] * v[i]));
            double error = Math.Sqrt(Enumerable.Range(o * d, d).Sum(i => Math.Pow(restored[i] - (double)original[i], 2)));
            double bound = u * (Norm(adapted) / Math.Abs(scale?[o] ?? 1) + Norm(original)) + 1e-6 * Norm(original);
            Assert.That(error, Is.LessThanOrEqualTo(bound), $"unmerged W0 row {o} ({kind} {type})");
        }
    }

    /// <summary>Ignores the case on a backend without the 16-bit Conv2d path, after checking that the layer refuses there.</summary>
    private void RequireConvPath(ElementType type)
    {
        RequireSupport(type);
        if (Backend.HasSixteenBitPath(SixteenBitOperation.Conv2d))
            return;
        var refused = Assert.Throws<NotSupportedException>(() => Create(Backend, "boft", type, type, trainBias: false).Dispose())!;
        Assert.That(refused.Message, Does.Contain(Backend.Name));
        Assert.Ignore($"{Backend.Name} has no {type} Conv2d path yet (docs/09_Mixed-precision.md).");
    }

    private static void WithinOneUlp(float[] actual, float[] expected, ElementType type, string name)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), name);
        int mantissaBits = type == ElementType.BFloat16 ? 8 : 11;
        double scale = expected.Max(v => Math.Abs((double)v));
        for (int i = 0; i < actual.Length; i++)
        {
            double e = expected[i];
            double ulp = e == 0 ? Math.Pow(2, -24) : Math.Pow(2, Math.Floor(Math.Log2(Math.Abs(e))) + 1 - mantissaBits);
            Assert.That(Math.Abs(actual[i] - e), Is.LessThanOrEqualTo(ulp + 1e-5 * scale), $"{name}[{i}] = {actual[i]} but expected {e} ({type})");
        }
    }
}
