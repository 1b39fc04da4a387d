// SIMD-backend-only checks that the shared fixtures cannot express: every vector width this machine supports (the
// Vector256 / Vector128 fallbacks run the same kernels with other lane counts and tile sizes), results independent of the
// thread count, the tile transposer, explicit-width construction, and one large shape (d = 4096).
// Tolerances as in the shared fixtures (BackendOracle.Tolerance).

using Boft.Backends;
using Boft.Kernels.Simd;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixture]
public sealed class SimdBackendTests
{
    public static IEnumerable<TestCaseData> Widths() =>
        Enum.GetValues<SimdWidth>().Select(w => new TestCaseData(w).SetArgDisplayNames(w.ToString()));

    private static SimdBackend Create(SimdWidth width, int threads = -1)
    {
        if (!SimdBackend.IsSupported(width))
            Assert.Ignore($"{width} is not accelerated on this machine.");
        return new SimdBackend(width, threads);
    }

    private static Tensor Up(BoftBackend backend, double[] values, params int[] shape) => backend.Upload(Array.ConvertAll(values, v => (float)v), shape);

    private static double[] Down(Tensor t) => Array.ConvertAll(t.ToArray(), v => (double)v);

    /// <summary>The GEMM's special paths at every width: 5-8 rows (dot products, four rows per pass over a weight column,
    /// then the remaining rows one by one, reductions with vector and scalar tails) and the packed-A path of the
    /// backward-weight GEMM (k strided; row panels of 6 with a partial last panel, two K blocks).</summary>
    [TestCaseSource(nameof(Widths))]
    public void Simd_EveryWidth_FewRowsAndPackedALinearMatchReference(SimdWidth width)
    {
        using SimdBackend backend = Create(width);
        foreach ((int rows, int d, int n) in new[] { (5, 37, 19), (6, 70, 9), (7, 16, 33), (8, 129, 4), (300, 40, 23) })
        {
            var random = new Random(rows * 31 + d * 7 + n);
            double[] x = AsFloat(Random(random, rows * d)), w = AsFloat(Random(random, n * d)), g = AsFloat(Random(random, rows * n));
            string context = $"{width} rows={rows} d={d} n={n}";
            using Tensor tx = Up(backend, x, rows, d);
            using Tensor tw = Up(backend, w, n, d);
            using Tensor tg = Up(backend, g, rows, n);
            using Tensor y = backend.Allocate(rows, n);
            backend.Linear(tx, tw, y);
            var expectedY = new double[rows * n];
            LinearReference.Forward(x, w, d, expectedY);
            (double atol, double rtol) = Tolerance(expectedY, d);
            Compare.AllClose(Down(y), expectedY, atol, rtol, "x·Wᵀ", context);

            using Tensor gw = backend.Allocate(n, d);
            backend.Fill(gw, 0);
            backend.LinearBackwardWeight(tg, tx, gw);
            var expectedGw = new double[n * d];
            LinearReference.BackwardWeight(g, x, d, expectedGw);
            (atol, rtol) = Tolerance(expectedGw, rows);
            Compare.AllClose(Down(gw), expectedGw, atol, rtol, "gradWeight", context);
        }
    }

    [TestCaseSource(nameof(Widths))]
    public void Simd_EveryWidth_RotationAndCayleyMatchReference(SimdWidth width)
    {
        using SimdBackend backend = Create(width);
        foreach ((int d, int m, int b, int rows) in new[] { (24, 1, 3, 5), (96, 2, 6, 33), (64, 4, 4, 19), (128, 7, 2, 9), (80, 1, 40, 11) })
        {
            BoftShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve();
            var random = new Random(d + m + b);
            double[] raw = AsFloat(Random(random, shape.RawParameterCount, 0.3));
            double[] x = AsFloat(Random(random, rows * d)), g = AsFloat(Random(random, rows * d));
            string context = $"{width} {shape} rows={rows}";
            using Tensor tp = Up(backend, raw, raw.Length);
            using Tensor blocks = backend.Allocate(raw.Length);
            backend.CayleyForward(shape.Cayley, tp, null, blocks);
            double[] expectedBlocks = CayleyForward(shape.Cayley, raw, null);
            (double atol, double rtol) = Tolerance(expectedBlocks, b * b);
            Compare.AllClose(Down(blocks), expectedBlocks, atol, rtol, "blocks", context);
            double[] c = AsFloat(Down(blocks));

            using Tensor tx = Up(backend, x, rows, d);
            using Tensor y = backend.Allocate(rows, d);
            backend.Rotate(shape.Rotation, tx, blocks, transpose: true, y);
            var expectedY = new double[x.Length];
            RotationReference.Forward(shape.Rotation, x, c, true, expectedY);
            (atol, rtol) = Tolerance(expectedY, m * b);
            Compare.AllClose(Down(y), expectedY, atol, rtol, "x·Rᵀ", context);

            using Tensor tg = Up(backend, g, rows, d);
            using Tensor gx = backend.Allocate(rows, d);
            using Tensor gb = backend.Allocate(raw.Length);
            backend.RotateBackward(shape.Rotation, tx, blocks, tg, gx, gb);
            var expectedGx = new double[x.Length];
            var expectedGb = new double[raw.Length];
            RotationReference.Backward(shape.Rotation, x, c, g, expectedGx, expectedGb);
            Compare.AllClose(Down(gx), expectedGx, atol, rtol, "gradInput", context);
            (atol, rtol) = Tolerance(expectedGb, rows * m * b);
            Compare.AllClose(Down(gb), expectedGb, atol, rtol, "gradBlocks", context);

            using Tensor gp = backend.Allocate(raw.Length);
            backend.CayleyBackward(shape.Cayley, tp, blocks, gb, null, gp);
            double[] expectedGp = CayleyBackward(shape.Cayley, raw, AsFloat(Down(gb)), null);
            (atol, rtol) = Tolerance(expectedGp, b * b);
            Compare.AllClose(Down(gp), expectedGp, atol, rtol, "gradParameters", context);
        }
    }

    [TestCaseSource(nameof(Widths))]
    public void Simd_EveryWidth_LinearMatchesReference(SimdWidth width)
    {
        using SimdBackend backend = Create(width);
        foreach ((int rows, int d, int n) in new[] { (2, 33, 17), (45, 70, 51) })
        {
            var random = new Random(rows + d + n);
            double[] x = AsFloat(Random(random, rows * d)), w = AsFloat(Random(random, n * d)), g = AsFloat(Random(random, rows * n));
            string context = $"{width} rows={rows} d={d} n={n}";
            using Tensor tx = Up(backend, x, rows, d);
            using Tensor tw = Up(backend, w, n, d);
            using Tensor tg = Up(backend, g, rows, n);
            using Tensor y = backend.Allocate(rows, n);
            using Tensor gx = backend.Allocate(rows, d);
            using Tensor gw = backend.Allocate(n, d);
            backend.Linear(tx, tw, y);
            backend.LinearBackwardInput(tg, tw, gx);
            backend.LinearBackwardWeight(tg, tx, gw);
            var ey = new double[rows * n];
            var egx = new double[rows * d];
            var egw = new double[n * d];
            LinearReference.Forward(x, w, d, ey);
            LinearReference.BackwardInput(g, w, d, egx);
            LinearReference.BackwardWeight(g, x, d, egw);
            (double atol, double rtol) = Tolerance(ey, d);
            Compare.AllClose(Down(y), ey, atol, rtol, "y", context);
            (atol, rtol) = Tolerance(egx, n);
            Compare.AllClose(Down(gx), egx, atol, rtol, "gradInput", context);
            (atol, rtol) = Tolerance(egw, rows);
            Compare.AllClose(Down(gw), egw, atol, rtol, "gradWeight", context);
        }
    }

    [Test]
    public void Simd_ResultsDoNotDependOnThreadCount()
    {
        // Reduction boundaries depend on the shapes only, so one thread and all threads give bit-identical results.
        BoftShape shape = new BoftConfig(256, BlockSize: 8, FactorCount: 3).Resolve();
        int rows = 1500, d = 256, n = 96;
        var random = new Random(7);
        float[] x = Array.ConvertAll(Random(random, rows * d), v => (float)v), g = Array.ConvertAll(Random(random, rows * d), v => (float)v);
        float[] raw = Array.ConvertAll(Random(random, shape.RawParameterCount, 0.3), v => (float)v);
        float[] w = Array.ConvertAll(Random(random, n * d), v => (float)v), gy = Array.ConvertAll(Random(random, rows * n), v => (float)v);
        float[] Run(int threads)
        {
            using var backend = new SimdBackend(SimdBackend.BestWidth, threads);
            using Tensor tx = backend.Upload(x, rows, d);
            using Tensor tg = backend.Upload(g, rows, d);
            using Tensor tp = backend.Upload(raw, raw.Length);
            using Tensor blocks = backend.Allocate(raw.Length);
            using Tensor gx = backend.Allocate(rows, d);
            using Tensor gb = backend.Allocate(raw.Length);
            using Tensor gp = backend.Allocate(raw.Length);
            using Tensor tw = backend.Upload(w, n, d);
            using Tensor tgy = backend.Upload(gy, rows, n);
            using Tensor gw = backend.Allocate(n, d);
            using Tensor gs = backend.Allocate(n);
            backend.CayleyForward(shape.Cayley, tp, null, blocks);
            backend.RotateBackward(shape.Rotation, tx, blocks, tg, gx, gb);
            backend.CayleyBackward(shape.Cayley, tp, blocks, gb, null, gp);
            backend.LinearBackwardWeight(tgy, tx, gw);
            using Tensor h = backend.Allocate(rows, n);
            backend.Linear(tx, tw, h);
            backend.ScaleBiasBackward(h, null, tgy, null, gs, null);
            return [.. gx.ToArray(), .. gb.ToArray(), .. gp.ToArray(), .. gw.ToArray(), .. gs.ToArray(), (float)backend.SumOfSquares(gx)];
        }
        float[] parallel = Run(-1), single = Run(1);
        Assert.That(parallel, Is.EqualTo(single).AsCollection);
    }

    [TestCaseSource(nameof(Widths))]
    public void Simd_Transposer_MatchesScalarTranspose(SimdWidth width)
    {
        if (!SimdBackend.IsSupported(width))
            Assert.Ignore($"{width} is not accelerated on this machine.");
        foreach ((int rows, int columns) in new[] { (16, 16), (8, 8), (4, 4), (37, 70), (1, 5), (5, 1), (33, 16) })
        {
            float[] source = Enumerable.Range(0, rows * (columns + 3)).Select(i => (float)i).ToArray();
            var actual = new float[columns * (rows + 2)];
            int sourceStride = columns + 3, destinationStride = rows + 2;
            switch (width)
            {
                case SimdWidth.Vector512:
                    Transposer.Transpose<Simd512, System.Runtime.Intrinsics.Vector512<float>>(ref source[0], sourceStride, ref actual[0], destinationStride, rows, columns);
                    break;
                case SimdWidth.Vector256:
                    Transposer.Transpose<Simd256, System.Runtime.Intrinsics.Vector256<float>>(ref source[0], sourceStride, ref actual[0], destinationStride, rows, columns);
                    break;
                default:
                    Transposer.Transpose<Simd128, System.Runtime.Intrinsics.Vector128<float>>(ref source[0], sourceStride, ref actual[0], destinationStride, rows, columns);
                    break;
            }
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < columns; c++)
                    Assert.That(actual[c * destinationStride + r], Is.EqualTo(source[r * sourceStride + c]), $"{width} {rows}×{columns} at ({r}, {c})");
        }
    }

    [Test]
    public void Simd_ExplicitWidthIsHonoured()
    {
        using var backend = new SimdBackend(SimdWidth.Vector128, 1);
        Assert.That(backend.Width, Is.EqualTo(SimdWidth.Vector128));
        Assert.That(backend.Name, Is.EqualTo("Simd"));
        using var best = new SimdBackend();
        Assert.That(best.Width, Is.EqualTo(SimdBackend.BestWidth));
        foreach (SimdWidth width in Enum.GetValues<SimdWidth>().Where(w => !SimdBackend.IsSupported(w)))
            Assert.Throws<PlatformNotSupportedException>(() => _ = new SimdBackend(width));
    }

    [TestCase(0)]
    [TestCase(-2)]
    public void Simd_ThrowsForBadThreadCount(int threads) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SimdBackend(SimdWidth.Vector128, threads));

    [Test]
    public void Simd_LargeFeatureCount_MatchesReference()
    {
        // d = 4096 with the paper's BOFT(2, 8) and OFT(b = 32) blocks: many feature tiles, full-size groups.
        using var backend = new SimdBackend();
        foreach ((int m, int b) in new[] { (2, 8), (1, 32) })
        {
            int d = 4096, rows = 40;
            RotationShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve().Rotation;
            var random = new Random(m * b);
            double[] x = AsFloat(Random(random, rows * d)), g = AsFloat(Random(random, rows * d));
            double[] blocks = OrthogonalBlocks(random, shape);
            using Tensor tx = Up(backend, x, rows, d);
            using Tensor tb = Up(backend, blocks, blocks.Length);
            using Tensor tg = Up(backend, g, rows, d);
            using Tensor y = backend.Allocate(rows, d);
            using Tensor gx = backend.Allocate(rows, d);
            using Tensor gb = backend.Allocate(blocks.Length);
            backend.Rotate(shape, tx, tb, false, y);
            backend.RotateBackward(shape, tx, tb, tg, gx, gb);
            var ey = new double[x.Length];
            var egx = new double[x.Length];
            var egb = new double[blocks.Length];
            RotationReference.Forward(shape, x, blocks, false, ey);
            RotationReference.Backward(shape, x, blocks, g, egx, egb);
            string context = $"{shape} rows={rows}";
            (double atol, double rtol) = Tolerance(ey, m * b);
            Compare.AllClose(Down(y), ey, atol, rtol, "x·R", context);
            Compare.AllClose(Down(gx), egx, atol, rtol, "gradInput", context);
            (atol, rtol) = Tolerance(egb, rows * m * b);
            Compare.AllClose(Down(gb), egb, atol, rtol, "gradBlocks", context);
        }
    }
}
