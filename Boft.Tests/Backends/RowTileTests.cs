// The row forward's two register tiles (Boft.Kernels/Simd/RowRotation.cs): Factor4x2 (4 rows × 2 output vectors, the default
// for blocks of two or more vectors) and Factor8 (8 rows × 1 vector, which runs b = one vector and ran every block before).
// Both compute every element's sum from zero in the same t order with the same FMAs, so this fixture asks for bitwise
// equality between them, on float32, bfloat16 (rounded in registers by both tiles) and the row-scaled merge, forward and
// transposed, with row counts that leave a tail of single rows. Agreement with the reference is RowRotationTests' job.

using Boft.Backends;
using Boft.Kernels.Simd;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixture]
[NonParallelizable] // switches a process-wide kernel choice
public sealed class RowTileTests
{
    public static IEnumerable<TestCaseData> Widths() =>
        Enum.GetValues<SimdWidth>().Select(w => new TestCaseData(w).SetArgDisplayNames(w.ToString()));

    /// <summary>(d, m, b, rows): b = 2, 4 and 6 vectors at 8 lanes (and 1, 2 at 16), the butterfly's runs (m > 1), several
    /// feature tiles and 64-row work items, and a tail of single rows.</summary>
    private static readonly (int D, int M, int B, int Rows)[] Shapes =
        [(1024, 1, 16, 77), (512, 1, 32, 24), (96, 2, 16, 11), (256, 3, 32, 40), (384, 1, 48, 9), (1024, 2, 32, 70)];

    [TestCaseSource(nameof(Widths))]
    public void PairedTile_IsBitwiseTheEightRowTile(SimdWidth width)
    {
        if (!SimdBackend.IsSupported(width))
            Assert.Ignore($"{width} is not accelerated on this machine.");
        using var backend = new SimdBackend(width);
        int lanes = (int)width / 32;
        int paired = 0;
        bool saved = RowRotation.PairedVectors;
        try
        {
            foreach ((int d, int m, int b, int rows) in Shapes)
            {
                RotationShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve().Rotation;
                if (!RowRotation.Applies(backend.RowPlan(shape), lanes))
                    continue;
                paired += b % (2 * lanes) == 0 ? 1 : 0;
                AssertSameForwards(backend, shape, rows, [ElementType.Float32, ElementType.BFloat16], pairs => RowRotation.PairedVectors = pairs == 0,
                    $"{width}: the two tiles differ");
            }
        }
        finally
        {
            RowRotation.PairedVectors = saved;
        }
        if (width != SimdWidth.Vector512)
            Assert.That(paired, Is.GreaterThan(0), $"{width}: no shape ran the paired tile");
    }

    /// <summary>The pair kernel (b = 8 at 16 lanes, two blocks to a vector) against the tiled kernel it replaces: both sum
    /// every element from zero in t order with FMAs, so they agree bit for bit, on float32 and bfloat16, forward, transposed
    /// and row-scaled, with a tail of rows. BOFT(2,8) runs in pairs only beyond the streaming threshold, so the threshold is
    /// 0 here (both kernels then stream their float32 results).</summary>
    [Test]
    [NonParallelizable]
    public void PairKernel_IsBitwiseTheTiledKernel()
    {
        if (!SimdBackend.IsSupported(SimdWidth.Vector512))
            Assert.Ignore("Vector512 is not accelerated on this machine.");
        using var backend = new SimdBackend(SimdWidth.Vector512);
        RowRotationPlan butterfly = backend.RowPlan(new BoftConfig(1024, BlockSize: 8, FactorCount: 2).Resolve().Rotation);
        Assert.That(RowRotation.Applies(butterfly, 16, StreamingStores.ThresholdBytes - 1), Is.False, "BOFT(2,8) should stay tiled below the streaming threshold");
        Assert.That(RowRotation.Applies(butterfly, 16, StreamingStores.ThresholdBytes), Is.True, "BOFT(2,8) should run in pairs at the streaming threshold");
        long savedThreshold = StreamingStores.ThresholdBytes;
        StreamingStores.ThresholdBytes = 0;
        try
        {
            foreach ((int d, int m, int rows) in new[] { (1024, 1, 77), (2048, 2, 21), (512, 1, 8), (1024, 2, 3) })
            {
                RotationShape shape = new BoftConfig(d, BlockSize: 8, FactorCount: m).Resolve().Rotation;
                Assert.That(RowRotation.Applies(backend.RowPlan(shape), 16, long.MaxValue), Is.True, $"{shape}: the pair kernel should run it");
                AssertSameForwards(backend, shape, rows, [ElementType.Float32, ElementType.BFloat16],
                    tiled => backend.ForwardRotationKernel = tiled == 0 ? SimdRotationKernel.Auto : SimdRotationKernel.Tiled, "pairs and tiled differ");
            }
        }
        finally
        {
            StreamingStores.ThresholdBytes = savedThreshold;
            backend.ForwardRotationKernel = SimdRotationKernel.Auto;
        }
    }

    /// <summary>Runs x·R, x·Rᵀ and the row-scaled merge of random inputs under the two settings <paramref name="configure"/>
    /// makes (0 and 1), for each element type, and asks for bitwise equal, fully written outputs.</summary>
    private static void AssertSameForwards(SimdBackend backend, RotationShape shape, int rows, ElementType[] types, Action<int> configure, string what)
    {
        int d = shape.FeatureCount;
        var random = new Random(d + shape.FactorCount + shape.BlockSize);
        double[] x = AsFloat(Random(random, rows * d));
        double[] blocks = OrthogonalBlocks(random, shape);
        float[] scale = Array.ConvertAll(Random(random, rows), v => (float)(1 + 0.2 * v));
        using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), blocks.Length);
        using Tensor ts = backend.Upload(scale, rows, 1);
        foreach (ElementType type in types)
        {
            using Tensor tx = backend.Upload(Array.ConvertAll(x, v => (float)v), type, rows, d);
            foreach (int op in new[] { 0, 1, 2 }) // x·R, x·Rᵀ, diag(s)·W·Rᵀ
            {
                var results = new List<float[]>();
                foreach (int setting in new[] { 0, 1 })
                {
                    configure(setting);
                    results.Add(RunForward(backend, shape, tx, tb, ts, type, op));
                }
                Assert.That(results[0], Is.EqualTo(results[1]).AsCollection, $"{shape} rows={rows} {type} op={op}: {what}");
                Assert.That(results[0].Any(float.IsNaN), Is.False, $"{shape} {type} op={op}: an output was not written");
            }
        }
    }
}
