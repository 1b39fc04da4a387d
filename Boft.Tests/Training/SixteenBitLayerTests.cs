// 16-bit adapter layers beyond the forward and backward (docs/09_Mixed-precision.md): a trainable bias is a float32 master
// beside 16-bit activations, and Merge / Unmerge keep the base weight's element type with their safety checks.
//
// Tolerances (u = 2^-8 for bf16, 2^-11 for fp16, the unit roundoff of RNE):
//  * the same layer on this backend and on the reference: intermediate 16-bit activations (u = x R, h = u W0ᵀ) may land one
//    ulp apart at a rounding boundary, and those ulps pass to y, so |Δy| ≤ 4u·max|y| (a wrong index or a dropped bias is O(|y|));
//  * merged vs unmerged forward: unmerged rounds u, h and y, merged rounds W', x W'ᵀ and the biased sum. With R orthogonal,
//    Σ|u||W0| ≤ ‖x_r‖‖W0_o‖ and Σ|x||W'| ≤ |s_o|‖x_r‖‖W0_o‖ (Cauchy–Schwarz), so
//    |y_merged − y| ≤ u·(3|s_o|‖x_r‖‖W0_o‖ + 3|y|) + 1e-5·max|y| per element;
//  * unmerge: W' is rounded once (‖ΔW'_o‖ ≤ u‖W'_o‖), R is orthogonal, and W0 is rounded once more, so per row
//    ‖W0_restored − W0‖ ≤ u·(‖W'_o‖/|s_o| + ‖W0_o‖) + 1e-6·‖W0_o‖.

using Boft.Backends;
using Boft.Layers;
using Boft.Tests.Infrastructure;
using Boft.Training;

namespace Boft.Tests.Training;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class SixteenBitLayerTests(BackendCase backendCase) : SixteenBitTestBase(backendCase)
{
    private static double UnitRoundoff(ElementType type) => type == ElementType.BFloat16 ? Math.Pow(2, -8) : Math.Pow(2, -11);

    private static float[] RandomFloats(int seed, int length, double scale = 1)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(scale * (2 * random.NextDouble() - 1))).ToArray();
    }

    private const int D = 32, N = 24, Rows = 40;

    private static AdapterLinear Create(BoftBackend backend, string kind, ElementType type, bool trainBias) => kind == "boft"
        ? new BoftLinear(backend, new BoftConfig(D, BlockSize: 4, FactorCount: 2), N, RandomFloats(1, N * D), RandomFloats(2, N), new AdapterInitialization(false, 3),
            trainBias: trainBias, activationType: type)
        : new OftLinear(backend, new OftConfig(D, BlockSize: 8, Orthogonalization: Orthogonalization.ExactCayley), N, RandomFloats(1, N * D), RandomFloats(2, N),
            new AdapterInitialization(false, 3), trainBias: trainBias, activationType: type);

    private static IEnumerable<TestCaseData> Cases() =>
        from kind in new[] { "boft", "oft" } from type in SixteenBitTypes select new TestCaseData(kind, type).SetArgDisplayNames(kind, type.ToString());

    [TestCaseSource(nameof(Cases))]
    public void TrainableBias_WithSixteenBitActivations_IsAFloat32Master_AndMatchesTheReference(string kind, ElementType type)
    {
        RequirePath(type, SixteenBitOperation.ScaleBiasWithFloat32Bias);
        float[] x = RandomFloats(4, Rows * D), gy = RandomFloats(5, Rows * N);
        (float[] y, float[] gradBias, float[] biasBefore, float[] biasAfter) Run(BoftBackend backend)
        {
            using AdapterLinear layer = Create(backend, kind, type, trainBias: true);
            Assert.That(layer.Bias!.Value.ElementType, Is.EqualTo(ElementType.Float32), "a trainable bias is a float32 master");
            Assert.That(layer.Bias.RequiresGrad, Is.True);
            using Tensor tx = backend.Upload(x, type, Rows, D), ty = backend.Allocate(type, Rows, N), tgy = backend.Upload(gy, type, Rows, N);
            layer.Forward(tx, ty);
            layer.Backward(tgy, null);
            float[] before = layer.Bias.Value.ToArray(), gradBias = layer.Bias.Gradient!.ToArray();
            using (var adam = new Adam([layer.Bias], new AdamSettings(1e-4)))
                adam.Step();
            return (ty.ToArray(), gradBias, before, layer.Bias.Value.ToArray());
        }
        var actual = Run(Backend);
        var expected = Run(Reference);
        double maxY = expected.y.Max(v => Math.Abs((double)v));
        double worst = actual.y.Zip(expected.y, (a, e) => Math.Abs((double)a - e)).Max();
        Assert.That(worst, Is.LessThanOrEqualTo(4 * UnitRoundoff(type) * maxY), "y against the reference layer");
        // gradBias = Σ_rows gy: gy is the same 16-bit input on both sides, so the float32 rule applies.
        double[] e = Array.ConvertAll(expected.gradBias, v => (double)v);
        (double atol, double rtol) = Boft.Tests.BackendOps.BackendOracle.Tolerance(e, Rows);
        Compare.AllClose(Array.ConvertAll(actual.gradBias, v => (double)v), e, atol, rtol, "gradBias", kind);
        // An Adam step of 1e-4 moves every bias entry by about 1e-4: in float32 it changes, while in the 16-bit type (an ulp of
        // 2^-9 … 2^-7 for these |b| in [0.1, 1]) most entries would round back to where they were.
        int moved = actual.biasAfter.Zip(actual.biasBefore, (a, b) => a != b).Count(m => m);
        Assert.That(moved, Is.EqualTo(N), "every float32 bias entry moved");
        Assert.That(actual.biasAfter.Zip(actual.biasBefore, (a, b) => Math.Abs(a - b)).Max(), Is.LessThan(2e-4), "by the step, not by an ulp");
    }

    [TestCaseSource(nameof(Cases))]
    public void Merge_KeepsTheBaseWeightsType_MergedForwardMatchesUnmerged_AndUnmergeRestoresW0(string kind, ElementType type)
    {
        RequirePath(type, SixteenBitOperation.Merge);
        double u = UnitRoundoff(type);
        using AdapterLinear layer = Create(Backend, kind, type, trainBias: false);
        layer.IsTraining = false;
        float[] w0 = layer.BaseWeight.Value.ToArray();
        float[] s = layer.ScaleParameter?.Value.ToArray() ?? Enumerable.Repeat(1f, N).ToArray();
        float[] x = RandomFloats(6, Rows * D);
        using Tensor tx = Backend.Upload(x, type, Rows, D), ty = Backend.Allocate(type, Rows, N), tyMerged = Backend.Allocate(type, Rows, N);
        layer.Forward(tx, ty);
        layer.Merge();
        Assert.That(layer.IsMerged, Is.True);
        Assert.That(layer.BaseWeight.Value.ElementType, Is.EqualTo(type), "the merged weight is in the base weight's type");
        float[] merged = layer.BaseWeight.Value.ToArray();
        Assert.That(merged, Is.Not.EqualTo(w0), "the adapter is not the identity");
        layer.Forward(tx, tyMerged);
        float[] y = ty.ToArray(), yMerged = tyMerged.ToArray();
        double maxY = y.Max(v => Math.Abs((double)v));
        double[] xNorm = Enumerable.Range(0, Rows).Select(r => Norm(x.AsSpan(r * D, D))).ToArray();
        double[] wNorm = Enumerable.Range(0, N).Select(o => Norm(w0.AsSpan(o * D, D))).ToArray();
        for (int r = 0; r < Rows; r++)
            for (int o = 0; o < N; o++)
            {
                double bound = u * (3 * Math.Abs(s[o]) * xNorm[r] * wNorm[o] + 3 * Math.Abs(y[r * N + o])) + 1e-5 * maxY;
                Assert.That(Math.Abs(yMerged[r * N + o] - y[r * N + o]), Is.LessThanOrEqualTo(bound), $"y[{r}, {o}] merged vs unmerged");
            }

        layer.Unmerge();
        Assert.That(layer.BaseWeight.Value.ElementType, Is.EqualTo(type));
        float[] restored = layer.BaseWeight.Value.ToArray();
        for (int o = 0; o < N; o++)
        {
            double error = Math.Sqrt(Enumerable.Range(0, D).Sum(t => Math.Pow(restored[o * D + t] - w0[o * D + t], 2)));
            double bound = u * (Norm(merged.AsSpan(o * D, D)) / Math.Abs(s[o]) + wNorm[o]) + 1e-6 * wNorm[o];
            Assert.That(error, Is.LessThanOrEqualTo(bound), $"row {o} of the restored W0");
        }
    }

    [TestCaseSource(nameof(SixteenBitTypes))]
    public void Merge_MatchesTheReferenceLayersMerge(ElementType type)
    {
        RequirePath(type, SixteenBitOperation.Merge);
        float[] Merged(BoftBackend backend)
        {
            using AdapterLinear layer = Create(backend, "boft", type, trainBias: false);
            layer.Merge();
            return layer.BaseWeight.Value.ToArray();
        }
        float[] actual = Merged(Backend), expected = Merged(Reference);
        Boft.Tests.BackendOps.SixteenBitBackendTests.CheckSixteenBit(actual, expected, type, "merged weight");
    }

    [TestCaseSource(nameof(SixteenBitTypes))]
    public void SafeMerge_OfASixteenBitLayer_RefusesAZeroScale_AndChangesNothing(ElementType type)
    {
        RequirePath(type, SixteenBitOperation.Merge);
        using var layer = (BoftLinear)Create(Backend, "boft", type, trainBias: false);
        float[] scale = layer.BoftS.Value.ToArray();
        scale[3] = 0;
        layer.BoftS.CopyFrom(scale);
        ushort[] before = Bits(layer.BaseWeight.Value);
        Assert.That(() => layer.Merge(), Throws.TypeOf<MergeRefusedException>().With.Message.Contains("index 3"));
        Assert.That(layer.IsMerged, Is.False);
        Assert.That(Bits(layer.BaseWeight.Value), Is.EqualTo(before), "the 16-bit base weight is untouched");
    }

    [Test]
    public void SafeMerge_Float16_RefusesAnOverflowOfTheType_InMergeAndInUnmerge()
    {
        RequirePath(ElementType.Float16, SixteenBitOperation.Merge);
        // Merge: W' = diag(s) W0 Rᵀ with |W0| ≈ 3e4 and s = 4 exceeds float16's 65504 (finite in float32): refused after the rounding.
        float[] big = Enumerable.Repeat(30000f, N * D).ToArray();
        using var layer = new BoftLinear(Backend, new BoftConfig(D, BlockSize: 4, FactorCount: 2), N, big, initialization: new AdapterInitialization(false, 3),
            activationType: ElementType.Float16);
        layer.BoftS.CopyFrom(Enumerable.Repeat(4f, N).ToArray());
        ushort[] before = Bits(layer.BaseWeight.Value);
        Assert.That(() => layer.Merge(), Throws.TypeOf<MergeRefusedException>().With.Message.Contains("NaN or infinite"));
        Assert.That(Bits(layer.BaseWeight.Value), Is.EqualTo(before));

        // Unmerge: W0 = diag(1/s) W' R with s shrunk to 1e-3 after the merge overflows float16 (not float32): refused, merged weight kept.
        layer.BoftS.CopyFrom(Enumerable.Repeat(0.5f, N).ToArray());
        layer.Merge();
        ushort[] merged = Bits(layer.BaseWeight.Value);
        layer.BoftS.CopyFrom(Enumerable.Repeat(1e-3f, N).ToArray());
        Assert.That(() => layer.Unmerge(), Throws.TypeOf<MergeRefusedException>().With.Message.Contains("restored base weight would hold"));
        Assert.That(layer.IsMerged, Is.True);
        Assert.That(Bits(layer.BaseWeight.Value), Is.EqualTo(merged));
    }

    [Test]
    public void Parameter_RefusesATrainableSixteenBitValue()
    {
        RequireSupport(ElementType.BFloat16);
        Tensor value = Backend.Allocate(ElementType.BFloat16, 4);
        try
        {
            Assert.That(() => new Parameter("w", value, requiresGrad: true), Throws.ArgumentException.With.Message.Contains("must be Float32"));
            using var frozen = new Parameter("w", value, requiresGrad: false);
            value = null!;
        }
        finally
        {
            value?.Dispose();
        }
    }

    private static double Norm(ReadOnlySpan<float> values)
    {
        double sum = 0;
        foreach (float v in values)
            sum += (double)v * v;
        return Math.Sqrt(sum);
    }

    private static ushort[] Bits(Tensor tensor)
    {
        var bits = new ushort[tensor.Length];
        tensor.CopyBitsTo(bits);
        return bits;
    }
}
