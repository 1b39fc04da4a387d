// The SIMD backend's row-layout rotation forwards (Boft.Kernels/Simd/RowRotation.cs, and LaneRotation.cs for OFT b = 2
// and 4) at every vector width, on shapes
// chosen for its own edges, which the shared fixtures (small d, few rows) do not reach: several feature tiles with a
// narrower last one, several 64-row work items with a tail of fewer than 8 rows, x·Rᵀ's final gather (m > 1), m = 1 on
// one tensor with b ≥ 2 vectors (a block's later output vectors read inputs its first one would overwrite), a row scale
// (Merge), and 16-bit rows widened into and rounded out of its stage.
// Tolerances: float32 as in the shared fixtures (BackendOracle.Tolerance with m·b-long reductions); 16-bit outputs are
// rounded once from the float32 result, so they may differ from the double result by half a 16-bit ulp (2^-9 relative for
// bfloat16, 2^-12 for float16) plus the float32 error; the bound below is a whole ulp, still 2^7 / 2^10 times below an
// error of one wrong product term.

using Boft.Backends;
using Boft.Kernels.Simd;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixture]
public sealed class RowRotationTests
{
    public static IEnumerable<TestCaseData> Widths() =>
        Enum.GetValues<SimdWidth>().Select(w => new TestCaseData(w).SetArgDisplayNames(w.ToString()));

    /// <summary>(d, m, b, rows): every shape here runs on the row kernel at Vector128 and Vector256 (b a multiple of 8 where
    /// it matters); at Vector512 those with b a multiple of 16 do, and OFT b = 8 in pairs of blocks; the others check the
    /// tiled fallback the same way.</summary>
    private static readonly (int D, int M, int B, int Rows)[] Shapes =
    [
        (1024, 1, 16, 133), // 4 feature tiles, 3 work items, a 5-row tail
        (1024, 2, 8, 70),   // BOFT(2,8): runs of 4 moved by the butterfly
        (768, 3, 8, 9),     // one group and a 1-row tail
        (512, 1, 32, 17),
        (200, 1, 40, 18),   // tiles of 80, 80 and 40 features
        (1536, 4, 8, 24),   // runs of 4 in a group of 64
        (96, 2, 16, 11),
        (256, 3, 32, 40),
        (2048, 1, 8, 77),   // OFT(8): pairs of blocks at 16 lanes, 4 feature tiles, a 5-row tail
        (2048, 2, 8, 13),   // BOFT(2,8): tiled at 16 lanes below the streaming threshold, one group and a 5-row tail
    ];

    /// <summary>(d, 1, b, rows) with b = 2 or 4: the small-block kernel (LaneRotation.cs) on AVX2 machines at 256 and 512 bits.</summary>
    private static readonly (int D, int M, int B, int Rows)[] LaneShapes = [(1024, 1, 2, 133), (2064, 1, 4, 70), (48, 1, 2, 3), (32, 1, 4, 9)];

    private static IEnumerable<(int D, int M, int B, int Rows)> AllShapes => Shapes.Concat(LaneShapes);

    private static SimdBackend Create(SimdWidth width)
    {
        if (!SimdBackend.IsSupported(width))
            Assert.Ignore($"{width} is not accelerated on this machine.");
        return new SimdBackend(width);
    }

    private static RotationShape Shape(int d, int m, int b) => new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve().Rotation;

    private static double[] Down(Tensor t) => Array.ConvertAll(t.ToArray(), v => (double)v);

    [TestCaseSource(nameof(Widths))]
    public void RowKernel_RunsTheseShapes_AndMatchesReference_ForwardTransposedAndInPlace(SimdWidth width)
    {
        using SimdBackend backend = Create(width);
        foreach ((int d, int m, int b, int rows) in AllShapes)
        {
            RotationShape shape = Shape(d, m, b);
            if (LaneShapes.Contains((d, m, b, rows)))
                Assert.That(LaneRotation.Applies(shape), Is.EqualTo(System.Runtime.Intrinsics.X86.Avx2.IsSupported), $"{shape}: the small-block kernel should run it");
            else if (width != SimdWidth.Vector512 || b % 16 == 0 || (b == 8 && m == 1))
                Assert.That(RowRotation.Applies(backend.RowPlan(shape), (int)width / 32), Is.True, $"{shape}: the row kernel should run it at {width}");
            var random = new Random(d + 10 * m + b);
            double[] x = AsFloat(Random(random, rows * d));
            double[] blocks = OrthogonalBlocks(random, shape);
            using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), blocks.Length);
            foreach (bool transpose in new[] { false, true })
            {
                string context = $"{width} {shape} rows={rows} transpose={transpose}";
                var expected = new double[x.Length];
                RotationReference.Forward(shape, x, blocks, transpose, expected);
                (double atol, double rtol) = Tolerance(expected, m * b);
                using Tensor tx = backend.Upload(Array.ConvertAll(x, v => (float)v), rows, d);
                using Tensor y = backend.Allocate(rows, d);
                backend.Fill(y, float.NaN);
                backend.Rotate(shape, tx, tb, transpose, y);
                Compare.AllClose(Down(y), expected, atol, rtol, "row kernel", context, [rows, d]);

                backend.Rotate(shape, tx, tb, transpose, tx); // in place
                Compare.AllClose(Down(tx), expected, atol, rtol, "row kernel in place", context, [rows, d]);
            }
        }
    }

    [TestCaseSource(nameof(Widths))]
    public void RowKernel_AgreesWithTheTiledKernel_AndIsRepeatable(SimdWidth width)
    {
        using SimdBackend backend = Create(width);
        foreach ((int d, int m, int b, int rows) in AllShapes)
        {
            RotationShape shape = Shape(d, m, b);
            var random = new Random(7 * d + m + b);
            double[] x = AsFloat(Random(random, rows * d));
            double[] blocks = OrthogonalBlocks(random, shape);
            using Tensor tx = backend.Upload(Array.ConvertAll(x, v => (float)v), rows, d);
            using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), blocks.Length);
            using Tensor row = backend.Allocate(rows, d), tiled = backend.Allocate(rows, d);
            backend.Rotate(shape, tx, tb, false, row);
            float[] first = row.ToArray();
            backend.Rotate(shape, tx, tb, false, row);
            Assert.That(row.ToArray(), Is.EqualTo(first).AsCollection, $"{width} {shape}: a second run differs");
            backend.ForwardRotationKernel = SimdRotationKernel.Tiled;
            try
            {
                backend.Rotate(shape, tx, tb, false, tiled);
            }
            finally
            {
                backend.ForwardRotationKernel = SimdRotationKernel.Auto;
            }
            double[] expected = Down(tiled);
            (double atol, double rtol) = Tolerance(expected, m * b);
            Compare.AllClose(Down(row), expected, atol, rtol, "row vs tiled", $"{width} {shape} rows={rows}", [rows, d]);
        }
    }

    [TestCaseSource(nameof(Widths))]
    public void RowKernel_Merge_ScalesRows_InPlaceToo(SimdWidth width)
    {
        using SimdBackend backend = Create(width);
        foreach ((int d, int m, int b, int n) in new[] { (1024, 2, 8, 75), (512, 1, 32, 13), (1536, 4, 8, 9), (1024, 1, 2, 70), (2064, 1, 4, 5) })
        {
            RotationShape shape = Shape(d, m, b);
            var random = new Random(d * n);
            double[] w = AsFloat(Random(random, n * d));
            double[] blocks = OrthogonalBlocks(random, shape);
            double[] s = AsFloat(Random(random, n).Select(v => 1 + 0.2 * v).ToArray());
            var expected = new double[w.Length];
            RotationReference.Forward(shape, w, blocks, transpose: true, expected);
            for (int o = 0; o < n; o++)
                for (int t = 0; t < d; t++)
                    expected[o * d + t] *= s[o];
            (double atol, double rtol) = Tolerance(expected, m * b);
            using Tensor tw = backend.Upload(Array.ConvertAll(w, v => (float)v), n, d);
            using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), blocks.Length);
            using Tensor ts = backend.Upload(Array.ConvertAll(s, v => (float)v), n, 1);
            using Tensor merged = backend.Allocate(n, d);
            backend.Merge(shape, tw, tb, ts, merged);
            Compare.AllClose(Down(merged), expected, atol, rtol, "diag(s)·W·Rᵀ", $"{width} {shape} n={n}", [n, d]);
            backend.Merge(shape, tw, tb, ts, tw);
            Compare.AllClose(Down(tw), expected, atol, rtol, "diag(s)·W·Rᵀ in place", $"{width} {shape} n={n}", [n, d]);
        }
    }

    [TestCaseSource(nameof(Widths))]
    public void RowKernel_SixteenBitRows_AreRoundedOnceFromTheFloat32Result(SimdWidth width)
    {
        using SimdBackend backend = Create(width);
        foreach (ElementType type in new[] { ElementType.BFloat16, ElementType.Float16 })
        {
            double ulp = type == ElementType.BFloat16 ? Math.Pow(2, -7) : Math.Pow(2, -10);
            foreach ((int d, int m, int b, int rows) in AllShapes)
            {
                RotationShape shape = Shape(d, m, b);
                var random = new Random(3 * d + m + b);
                // Inputs exactly representable in the 16-bit type, so the only rounding is the one at the store.
                double[] x = Array.ConvertAll(Random(random, rows * d), v => (double)ElementConversions.Round(v, type));
                double[] blocks = OrthogonalBlocks(random, shape);
                using Tensor tx = backend.Upload(Array.ConvertAll(x, v => (float)v), type, rows, d);
                using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), blocks.Length);
                foreach (bool transpose in new[] { false, true })
                {
                    using Tensor y = backend.Allocate(type, rows, d);
                    backend.Rotate(shape, tx, tb, transpose, y);
                    var expected = new double[x.Length];
                    RotationReference.Forward(shape, x, blocks, transpose, expected);
                    (double atol, double rtol) = Tolerance(expected, m * b);
                    Compare.AllClose(Down(y), expected, atol, rtol + ulp, $"{type} row kernel", $"{width} {shape} rows={rows} transpose={transpose}", [rows, d]);
                }
            }
        }
    }

    /// <summary>The OFT b = 2/4 backward in row layout (LaneRotation.BlockGradients, then g·Cᵀ by the forward kernel) on the
    /// lane shapes: against the reference in float32 and in both 16-bit types (inputs exact in the type; g_x rounded once),
    /// with gradInput aliasing gradOutput, repeatable, and the same on 1 and 2 threads bit for bit (chunks by row count).
    /// A row count of 1,100 makes 16 row chunks with a short last one.</summary>
    [Test]
    public void LaneKernel_Backward_MatchesReference_InPlace_SixteenBit_AndIsThreadCountIndependent()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
            Assert.Ignore("The small-block kernel needs AVX2.");
        using var one = new SimdBackend(SimdWidth.Vector256, 1);
        using var two = new SimdBackend(SimdWidth.Vector256, 2);
        foreach ((int d, int m, int b, int rows) in LaneShapes.Append((64, 1, 4, 1100)))
        {
            Assert.That(LaneRotation.Applies(Shape(d, m, b)), Is.True, $"{Shape(d, m, b)}: the small-block kernel should run it");
            BackwardInPlace_AllTypes_OneAndTwoThreads(one, two, d, m, b, rows, "Vector256");
        }
    }

    /// <summary>
    /// One shape's backward on both backends (1 and 2 threads) in float32, bfloat16 and float16 (inputs exact in the type):
    /// block gradients and the input gradient against the reference (gradInput aliasing gradOutput; g_x rounded once, so
    /// within a 16-bit ulp beyond the float32 tolerance), and the block gradients bit for bit the same on both thread counts.
    /// </summary>
    private static void BackwardInPlace_AllTypes_OneAndTwoThreads(SimdBackend one, SimdBackend two, int d, int m, int b, int rows, string width)
    {
        RotationShape shape = Shape(d, m, b);
        foreach (ElementType type in new[] { ElementType.Float32, ElementType.BFloat16, ElementType.Float16 })
        {
            var random = new Random(d + b + (int)type);
            double[] x = Array.ConvertAll(Random(random, rows * d), v => (double)ElementConversions.Round(v, type));
            double[] g = Array.ConvertAll(Random(random, rows * d), v => (double)ElementConversions.Round(v, type));
            double[] blocks = OrthogonalBlocks(random, shape);
            var expectedX = new double[x.Length];
            var expectedB = new double[blocks.Length];
            RotationReference.Backward(shape, x, blocks, g, expectedX, expectedB);
            var results = new List<float[]>();
            foreach (SimdBackend backend in new[] { one, two })
            {
                using Tensor tx = backend.Upload(Array.ConvertAll(x, v => (float)v), type, rows, d);
                using Tensor tg = backend.Upload(Array.ConvertAll(g, v => (float)v), type, rows, d);
                using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), m, shape.BlockCount, b, b);
                using Tensor gb = backend.Allocate(m, shape.BlockCount, b, b);
                backend.Fill(gb, 7f); // overwritten, not accumulated
                string context = $"{width} {shape} rows={rows} {type} threads={backend.MaxDegreeOfParallelism}";
                backend.RotateBackward(shape, tx, tb, tg, tg, gb); // gradInput aliases gradOutput
                (double atol, double rtol) = Tolerance(expectedB, (double)rows * m * b);
                Compare.AllClose(Down(gb), expectedB, atol, rtol, "gradBlocks", context, [m, shape.BlockCount, b, b]);
                (atol, rtol) = Tolerance(expectedX, m * b);
                if (type != ElementType.Float32)
                    rtol += type == ElementType.BFloat16 ? Math.Pow(2, -7) : Math.Pow(2, -10);
                Compare.AllClose(Down(tg), expectedX, atol, rtol, "gradInput (in place)", context, [rows, d]);
                results.Add(gb.ToArray());
            }
            Assert.That(results[1], Is.EqualTo(results[0]).AsCollection, $"{width} {shape} rows={rows} {type}: 1 and 2 threads differ");
        }
    }

    /// <summary>(d, m, b, rows) for the row backward (RowRotation.Backward.cs; b a multiple of two vectors, so b = 8 only at
    /// 4 lanes): b = 2 to 8 vectors, one to four factors (recomputed inputs, g scattered back through the butterfly's runs),
    /// several feature tiles, row tails of 1–3 rows, and 1,100 rows: 16 row chunks of 69 rows, each summed in two batches
    /// (35 + 34), the second added to the first.</summary>
    private static readonly (int D, int M, int B, int Rows)[] BackwardShapes =
        [(1024, 1, 16, 133), (512, 1, 32, 1100), (320, 1, 64, 18), (384, 1, 48, 9), (96, 1, 16, 21), (256, 1, 8, 70),
         (1024, 2, 16, 133), (256, 3, 32, 41), (96, 2, 16, 11), (512, 4, 16, 70), (256, 2, 8, 1100)];

    /// <summary>The backward in row layout (per staged batch: recompute, block gradients, g·Cᵀ factor by factor) against the
    /// reference in float32 and both 16-bit types (inputs exact in the type; g_x rounded once), with gradInput aliasing
    /// gradOutput, and bit for bit the same on 1 and 2 threads.</summary>
    [TestCaseSource(nameof(Widths))]
    public void RowKernel_Backward_MatchesReference_InPlace_SixteenBit_AndIsThreadCountIndependent(SimdWidth width)
    {
        using SimdBackend probe = Create(width);
        using var one = new SimdBackend(width, 1);
        using var two = new SimdBackend(width, 2);
        int lanes = (int)width / 32, ran = 0;
        foreach ((int d, int m, int b, int rows) in BackwardShapes)
        {
            RotationShape shape = Shape(d, m, b);
            if (!RowRotation.BackwardApplies(one.RowPlan(shape), lanes) || (width != SimdWidth.Vector128 && LaneRotation.Applies(shape)))
                continue;
            ran++;
            BackwardInPlace_AllTypes_OneAndTwoThreads(one, two, d, m, b, rows, width.ToString());
        }
        Assert.That(ran, Is.GreaterThanOrEqualTo(width == SimdWidth.Vector512 ? 2 : 9), $"{width}: too few shapes ran the row backward");
    }

    [Test]
    public void LaneKernel_RowsBeyondTheCache_AreStreamed_AndMatchTheReference()
    {
        // 4096 × 2048 rows: input and output together take 64 MiB in float32 and 32 MiB in bfloat16, so the small-block
        // kernel writes them with non-temporal stores (LaneRotation.StreamingBytes); float16 goes through its stage.
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
            Assert.Ignore("The small-block kernel needs AVX2.");
        using var backend = new SimdBackend(SimdWidth.Vector256);
        const int rows = 4096, d = 2048;
        foreach (int b in new[] { 2, 4 })
        {
            RotationShape shape = Shape(d, 1, b);
            var random = new Random(b);
            double[] blocks = OrthogonalBlocks(random, shape);
            using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), blocks.Length);
            foreach (ElementType type in new[] { ElementType.Float32, ElementType.BFloat16 })
            {
                double[] x = Array.ConvertAll(Random(random, rows * d), v => (double)ElementConversions.Round(v, type));
                var expected = new double[x.Length];
                RotationReference.Forward(shape, x, blocks, transpose: false, expected);
                (double atol, double rtol) = Tolerance(expected, b);
                if (type != ElementType.Float32)
                    rtol += Math.Pow(2, -7);
                using Tensor tx = backend.Upload(Array.ConvertAll(x, v => (float)v), type, rows, d);
                using Tensor y = backend.Allocate(type, rows, d);
                backend.Rotate(shape, tx, tb, false, y);
                Compare.AllClose(Down(y), expected, atol, rtol, $"{type} streamed rows", $"{shape} rows={rows}", [rows, d]);
            }
        }
    }
}
