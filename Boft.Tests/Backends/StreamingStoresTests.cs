// The SIMD kernels' streaming paths (Boft.Kernels/Simd/StreamingStores.cs): beyond 32 MiB of rows the lane, row and tiled
// kernels write with non-temporal stores and read ahead with prefetches. Stores and prefetches change where the bytes go,
// never the arithmetic, so this fixture runs every kernel with the threshold at 0 (every op streams) and at long.MaxValue
// (none does) and asks for bitwise equal results: forward, transposed, the row-scaled merge (scaled in the tile before the
// tiled kernel's streaming stores), the backward, float32, bfloat16 and float16 (read ahead, stored plainly), with tails of
// rows and feature counts whose rows are not vector-aligned. It also checks each kernel's decision, so the equality is known to compare a streamed run.

using Boft.Backends;
using Boft.Kernels.Simd;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixture]
[NonParallelizable] // switches a process-wide threshold and kernel choice
public sealed class StreamingStoresTests
{
    public static IEnumerable<TestCaseData> Widths() =>
        Enum.GetValues<SimdWidth>().Select(w => new TestCaseData(w).SetArgDisplayNames(w.ToString()));

    /// <summary>(d, m, b, rows): OFT b = 2 and 4 (lane kernel), b = 8 / 16 / 32 (row kernel where b is a multiple of the
    /// lanes, else tiled), b = 6 and 12 (tiled only), butterflies with gathers (m &gt; 1; m = 3 leaves the tiled result in
    /// the first of its two tile buffers), d = 200 (rows not vector-aligned), and row counts with tails.</summary>
    private static readonly (int D, int M, int B, int Rows)[] Shapes =
        [(256, 1, 2, 70), (512, 1, 4, 33), (1024, 2, 8, 77), (256, 1, 16, 40), (512, 2, 16, 19), (512, 1, 32, 9), (96, 2, 6, 21), (192, 1, 12, 17), (200, 2, 4, 13),
         (384, 3, 8, 21)];

    [TestCaseSource(nameof(Widths))]
    public void StreamedResults_AreBitwiseTheCachedOnes(SimdWidth width)
    {
        if (!SimdBackend.IsSupported(width))
            Assert.Ignore($"{width} is not accelerated on this machine.");
        using var backend = new SimdBackend(width);
        int lanes = (int)width / 32;
        int laneCases = 0, rowCases = 0;
        foreach ((int d, int m, int b, int rows) in Shapes)
        {
            RotationShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve().Rotation;
            var random = new Random(d + m + b);
            double[] x = AsFloat(Random(random, rows * d));
            double[] g = AsFloat(Random(random, rows * d));
            double[] blocks = OrthogonalBlocks(random, shape);
            float[] scale = Array.ConvertAll(Random(random, rows), v => (float)(1 + 0.2 * v));
            using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), blocks.Length);
            using Tensor ts = backend.Upload(scale, rows, 1);
            using Tensor tg = backend.Upload(Array.ConvertAll(g, v => (float)v), rows, d);
            foreach (ElementType type in new[] { ElementType.Float32, ElementType.BFloat16, ElementType.Float16 })
            {
                using Tensor tx = backend.Upload(Array.ConvertAll(x, v => (float)v), type, rows, d);
                foreach (SimdRotationKernel kernel in new[] { SimdRotationKernel.Auto, SimdRotationKernel.Tiled })
                {
                    backend.ForwardRotationKernel = kernel;
                    foreach (int op in new[] { 0, 1, 2, 3 }) // x·R, x·Rᵀ, diag(s)·W·Rᵀ, backward (float32 only)
                    {
                        if (op == 3 && type != ElementType.Float32)
                            continue;
                        List<float[]> cached = Run(backend, shape, tx, tb, ts, tg, type, rows, d, op, long.MaxValue);
                        List<float[]> streamed = Run(backend, shape, tx, tb, ts, tg, type, rows, d, op, 0);
                        string what = $"{width} {shape} rows={rows} {type} {kernel} op={op}";
                        for (int i = 0; i < cached.Count; i++)
                        {
                            Assert.That(streamed[i], Is.EqualTo(cached[i]).AsCollection, $"{what}: result {i} differs when streamed");
                            Assert.That(streamed[i].Any(float.IsNaN), Is.False, $"{what}: an output was not written");
                        }
                    }
                }
            }
            backend.ForwardRotationKernel = SimdRotationKernel.Auto;
            laneCases += width != SimdWidth.Vector128 && LaneRotation.Applies(shape) ? 1 : 0;
            rowCases += RowRotation.Applies(backend.RowPlan(shape), lanes) ? 1 : 0;
        }
        Assert.That(rowCases, Is.GreaterThan(0), $"{width}: no shape ran the row kernel");
        if (width != SimdWidth.Vector128 && LaneRotation.Applies(new BoftConfig(256, BlockSize: 2, FactorCount: 1).Resolve().Rotation))
            Assert.That(laneCases, Is.GreaterThan(0), $"{width}: no shape ran the lane kernel");
    }

    [Test]
    public void EachKernel_StreamsOnlyBeyondTheThreshold_AndNeverIntoItsOwnInput()
    {
        using var backend = new SimdBackend(SimdWidth.Vector128);
        RotationShape shape = new BoftConfig(256, BlockSize: 16, FactorCount: 1).Resolve().Rotation;
        var x = (SimdTensor)backend.Allocate(64, 256);
        var y = (SimdTensor)backend.Allocate(64, 256);
        var half = (SimdTensor)backend.Allocate(ElementType.Float16, 64, 256);
        RowRotationPlan plan = backend.RowPlan(shape);
        long saved = StreamingStores.ThresholdBytes;
        try
        {
            // 64 rows × 256 floats in and out: 128 KiB.
            StreamingStores.ThresholdBytes = 128 * 1024 + 1;
            Assert.Multiple(() =>
            {
                Assert.That(Rotation.Streams(64, 256, y, x), Is.False, "tiled, below");
                Assert.That(RowRotation.Streams(plan, x, y, 64, 4), Is.False, "row, below");
                Assert.That(LaneRotation.Streams(x, y, 64, 256), Is.False, "lane, below");
            });
            StreamingStores.ThresholdBytes = 128 * 1024;
            Assert.Multiple(() =>
            {
                Assert.That(Rotation.Streams(64, 256, y, x), Is.True, "tiled, at");
                Assert.That(RowRotation.Streams(plan, x, y, 64, 4), Is.True, "row, at");
                Assert.That(LaneRotation.Streams(x, y, 64, 256), Is.True, "lane, at");
                Assert.That(Rotation.Streams(64, 256, x, x), Is.False, "tiled, in place");
                Assert.That(RowRotation.Streams(plan, x, x, 64, 4), Is.False, "row, in place");
                Assert.That(LaneRotation.Streams(x, x, 64, 256), Is.False, "lane, in place");
                Assert.That(Rotation.Streams(64, 256, half, x), Is.False, "tiled, float16 out (rounded through a stage)");
                Assert.That(LaneRotation.Streams(x, half, 64, 256), Is.False, "lane, float16 out");
                Assert.That(RowRotation.Streams(plan, x, half, 64, 4), Is.False, "row, float16 out");
                Assert.That(StreamingStores.ReadsAhead(x, half, 64 * 4 / 3 + 1, 256), Is.True, "lane and row kernels, float16 out still reads ahead");
                Assert.That(StreamingStores.ReadsAhead(x, half, 64 * 4 / 3 - 1, 256), Is.False, "lane and row kernels, float16 out below the threshold");
                Assert.That(StreamingStores.ReadsAhead(x, x, 64, 256), Is.False, "lane and row kernels, in place");
            });
            StreamingStores.ThresholdBytes = StreamingStores.DefaultThresholdBytes;
            Assert.That(Rotation.Streams(4096, 4096, y, x), Is.True, "tiled, 128 MiB at the default");
        }
        finally
        {
            StreamingStores.ThresholdBytes = saved;
            x.Dispose();
            y.Dispose();
            half.Dispose();
        }
    }

    private static List<float[]> Run(SimdBackend backend, RotationShape shape, Tensor x, Tensor blocks, Tensor scale, Tensor g, ElementType type, int rows, int d,
        int op, long threshold)
    {
        long saved = StreamingStores.ThresholdBytes;
        try
        {
            StreamingStores.ThresholdBytes = threshold;
            if (op == 3)
            {
                using Tensor gradInput = backend.Allocate(rows, d);
                using Tensor gradBlocks = backend.Allocate(blocks.Length);
                backend.Fill(gradInput, float.NaN);
                backend.RotateBackward(shape, x, blocks, g, gradInput, gradBlocks);
                return [gradInput.ToArray(), gradBlocks.ToArray()];
            }
            return [RunForward(backend, shape, x, blocks, scale, type, op)];
        }
        finally
        {
            StreamingStores.ThresholdBytes = saved;
        }
    }
}
