// Rotate (x·R, x·Rᵀ), RotateBackward and Merge on every registered backend against RotationReference / BoftReference.
// Tolerances (BackendOracle.Tolerance): outputs and gradInput reduce m·b products per entry; gradBlocks reduces
// rows·1 products per entry after m·b-long chains, so its reduction length is rows·m·b.
// Shapes cover every block size (m = 1: 1..32; m > 1: even b), non-power-of-two d (24, 96, 192), m up to log2(d/b)+1
// (dense R), odd row counts (1, 3, 7, 33) and rows not filling a vector; the simulator gets a small subset.

using Boft.Backends;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class RotationBackendTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    /// <summary>(d, m, b, rows) cases; the simulator gets d ≤ 64 and rows ≤ 8.</summary>
    private IEnumerable<(int D, int M, int B, int Rows)> Shapes()
    {
        if (IsSimulator)
            return [(8, 1, 1, 3), (16, 2, 4, 3), (24, 1, 3, 5), (24, 2, 6, 7), (32, 3, 4, 2), (64, 6, 2, 1), (48, 1, 48, 4)];
        var shapes = new List<(int, int, int, int)>();
        int[] rows = [1, 3, 7, 33];
        for (int b = 1; b <= 32; b++)
            shapes.Add((3 * b, 1, b, rows[b % 4])); // m = 1, k = 3: every block size, d not a power of two
        for (int b = 2; b <= 32; b += 2)
            shapes.Add((4 * b, 2, b, rows[(b / 2) % 4])); // m = 2 with every even block size
        shapes.AddRange([(24, 2, 6, 7), (96, 2, 6, 33), (96, 4, 12, 5), (96, 3, 2, 17), (192, 4, 6, 9), (64, 6, 2, 33), (64, 5, 4, 3), (128, 7, 2, 70),
            (16, 4, 2, 1), (256, 3, 32, 40), (96, 1, 96, 3), (200, 1, 40, 18)]);
        return shapes;
    }

    private static BoftShape Boft(int d, int m, int b) => new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve();

    [Test]
    public void Rotate_MatchesReference_ForwardAndTranspose()
    {
        foreach ((int d, int m, int b, int rows) in Shapes())
        {
            RotationShape shape = Boft(d, m, b).Rotation;
            var random = new Random(d * 1000 + m * 100 + b);
            double[] x = AsFloat(Random(random, rows * d));
            double[] blocks = OrthogonalBlocks(random, shape);
            using Tensor tx = Upload(x, rows, d);
            using Tensor tb = Upload(blocks, m, shape.BlockCount, b, b);
            foreach (bool transpose in new[] { false, true })
            {
                using Tensor y = Backend.Allocate(rows, d);
                Backend.Fill(y, float.NaN);
                Backend.Rotate(shape, tx, tb, transpose, y);
                var expected = new double[x.Length];
                RotationReference.Forward(shape, x, blocks, transpose, expected);
                (double atol, double rtol) = Tolerance(expected, m * b);
                Compare.AllClose(Download(y), expected, atol, rtol, transpose ? "x·Rᵀ" : "x·R", $"{Case.Name} {shape} rows={rows}", [rows, d]);
            }
        }
    }

    [Test]
    public void RotateBackward_MatchesReference()
    {
        foreach ((int d, int m, int b, int rows) in Shapes())
            CheckBackward(Boft(d, m, b).Rotation, rows, seed: d * 1000 + m * 100 + b);
    }

    /// <summary>
    /// Many row tiles and reduction chunks: exposes races and ordering bugs in the gradBlocks reduction. Category GpuRace: the
    /// GPU check runs it at full size on CUDA (2,048 rows); on the simulator it runs at 48 rows on a second backend over the
    /// same accelerator with 4-row tiles and 8 fixed chunks, so groups still race over many tiles and chunks (about a second).
    /// </summary>
    [Test]
    [Category("GpuRace")]
    public void RotateBackward_LargeRowCount_MatchesReference()
    {
        if (IsSimulator)
        {
            var simulator = (Boft.Kernels.Ilgpu.IlgpuBackend)Backend;
            using var tight = new Boft.Kernels.Ilgpu.IlgpuBackend(simulator.Accelerator, "IlgpuTightTiles",
                new Boft.Kernels.Ilgpu.BoftKernelOptions { GroupSize = simulator.Kernels.Options.GroupSize, MaxRowsPerTile = 4, ReductionChunkCount = 8 });
            CheckBackward(Boft(64, 3, 4).Rotation, 48, seed: 11, tight);
            CheckBackward(Boft(48, 1, 16).Rotation, 47, seed: 12, tight);
            return;
        }
        CheckBackward(Boft(64, 3, 4).Rotation, 2048, seed: 11);
        CheckBackward(Boft(48, 1, 16).Rotation, 2047, seed: 12);
    }

    private void CheckBackward(RotationShape shape, int rows, int seed, BoftBackend? on = null)
    {
        BoftBackend backend = on ?? Backend;
        int d = shape.FeatureCount, m = shape.FactorCount, b = shape.BlockSize;
        var random = new Random(seed);
        double[] x = AsFloat(Random(random, rows * d));
        double[] blocks = OrthogonalBlocks(random, shape);
        double[] g = AsFloat(Random(random, rows * d));
        using Tensor tx = backend.Upload(Array.ConvertAll(x, v => (float)v), rows, d);
        using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), m, shape.BlockCount, b, b);
        using Tensor tg = backend.Upload(Array.ConvertAll(g, v => (float)v), rows, d);
        using Tensor gx = backend.Allocate(rows, d);
        using Tensor gb = backend.Allocate(m, shape.BlockCount, b, b);
        backend.Fill(gx, 7f); // overwritten, not accumulated
        backend.Fill(gb, 7f);
        backend.RotateBackward(shape, tx, tb, tg, gx, gb);
        var expectedX = new double[x.Length];
        var expectedB = new double[blocks.Length];
        RotationReference.Backward(shape, x, blocks, g, expectedX, expectedB);
        string context = $"{backend.Name} {shape} rows={rows}";
        (double atol, double rtol) = Tolerance(expectedX, m * b);
        Compare.AllClose(Download(gx), expectedX, atol, rtol, "gradInput", context, [rows, d]);
        (atol, rtol) = Tolerance(expectedB, (double)rows * m * b);
        Compare.AllClose(Download(gb), expectedB, atol, rtol, "gradBlocks", context, [m, shape.BlockCount, b, b]);
    }

    [Test]
    public void Rotate_InPlace_MatchesReference()
    {
        RotationShape shape = Boft(IsSimulator ? 32 : 96, 3, 4).Rotation;
        int rows = IsSimulator ? 5 : 37, d = shape.FeatureCount;
        var random = new Random(21);
        double[] x = AsFloat(Random(random, rows * d));
        double[] blocks = OrthogonalBlocks(random, shape);
        using Tensor tb = Upload(blocks, blocks.Length);
        foreach (bool transpose in new[] { false, true })
        {
            using Tensor t = Upload(x, rows, d);
            Backend.Rotate(shape, t, tb, transpose, t);
            var expected = new double[x.Length];
            RotationReference.Forward(shape, x, blocks, transpose, expected);
            (double atol, double rtol) = Tolerance(expected, 12);
            Compare.AllClose(Download(t), expected, atol, rtol, "in-place rotation", $"{Case.Name} {shape} transpose={transpose}");
        }
    }

    [Test]
    public void Rotate_ThenTranspose_RoundTrips()
    {
        RotationShape shape = Boft(IsSimulator ? 32 : 192, IsSimulator ? 3 : 5, 6 - (IsSimulator ? 2 : 0)).Rotation;
        int rows = IsSimulator ? 4 : 19, d = shape.FeatureCount;
        var random = new Random(22);
        double[] x = AsFloat(Random(random, rows * d));
        using Tensor tb = Upload(OrthogonalBlocks(random, shape), shape.BlocksLength);
        using Tensor t = Upload(x, rows, d);
        using Tensor u = Backend.Allocate(rows, d);
        Backend.Rotate(shape, t, tb, transpose: false, u);
        Backend.Rotate(shape, u, tb, transpose: true, u);
        Compare.AllClose(Download(u), x, 1e-5, 1e-5, "x·R·Rᵀ", $"{Case.Name} {shape}");
    }

    [Test]
    public void RotateBackward_GradInputMayAliasGradOutput()
    {
        RotationShape shape = Boft(IsSimulator ? 32 : 96, 3, 4).Rotation;
        int rows = IsSimulator ? 6 : 21, d = shape.FeatureCount;
        var random = new Random(23);
        double[] x = AsFloat(Random(random, rows * d));
        double[] blocks = OrthogonalBlocks(random, shape);
        double[] g = AsFloat(Random(random, rows * d));
        using Tensor tx = Upload(x, rows, d);
        using Tensor tb = Upload(blocks, blocks.Length);
        using Tensor tg = Upload(g, rows, d);
        using Tensor gb = Backend.Allocate(blocks.Length);
        Backend.RotateBackward(shape, tx, tb, tg, tg, gb);
        var expectedX = new double[x.Length];
        var expectedB = new double[blocks.Length];
        RotationReference.Backward(shape, x, blocks, g, expectedX, expectedB);
        string context = $"{Case.Name} {shape} aliased";
        (double atol, double rtol) = Tolerance(expectedX, 12);
        Compare.AllClose(Download(tg), expectedX, atol, rtol, "gradInput (aliasing gradOutput)", context);
        (atol, rtol) = Tolerance(expectedB, rows * 12.0);
        Compare.AllClose(Download(gb), expectedB, atol, rtol, "gradBlocks", context);
    }

    [Test]
    public void RotateBackward_IsDeterministic()
    {
        RotationShape shape = Boft(IsSimulator ? 32 : 256, IsSimulator ? 2 : 3, 8).Rotation;
        int rows = IsSimulator ? 8 : 2048, d = shape.FeatureCount;
        var random = new Random(24);
        using Tensor tx = Upload(Random(random, rows * d), rows, d);
        using Tensor tb = Upload(OrthogonalBlocks(random, shape), shape.BlocksLength);
        using Tensor tg = Upload(Random(random, rows * d), rows, d);
        float[] Run()
        {
            using Tensor gx = Backend.Allocate(rows, d);
            using Tensor gb = Backend.Allocate(shape.BlocksLength);
            Backend.RotateBackward(shape, tx, tb, tg, gx, gb);
            return [.. gb.ToArray(), .. gx.ToArray()];
        }
        float[] first = Run();
        for (int run = 0; run < 3; run++)
            Assert.That(Run(), Is.EqualTo(first).AsCollection, $"{Case.Name}: run {run + 2} differs from run 1 ({shape}, rows={rows})");
    }

    [Test]
    public void Merge_MatchesReference_WithAndWithoutScale()
    {
        foreach ((int d, int m, int b, int n) in IsSimulator ? new[] { (16, 2, 4, 5) } : [(16, 2, 4, 5), (96, 3, 4, 33), (24, 1, 3, 7), (64, 6, 2, 1)])
        {
            BoftShape shape = Boft(d, m, b);
            var random = new Random(d + n);
            double[] w = AsFloat(Random(random, n * d));
            double[] raw = AsFloat(Random(random, shape.RawParameterCount, 0.3));
            double[] s = AsFloat(Random(random, n).Select(v => 1 + 0.2 * v).ToArray());
            var blocks = new double[raw.Length];
            BoftReference.Blocks(shape, raw, [], blocks);
            blocks = AsFloat(blocks);
            using Tensor tw = Upload(w, n, d);
            using Tensor tb = Upload(blocks, blocks.Length);
            using Tensor ts = Upload(s, n, 1);
            using Tensor merged = Backend.Allocate(n, d);
            Backend.Merge(shape.Rotation, tw, tb, ts, merged);
            var expected = new double[w.Length];
            RotationReference.Forward(shape.Rotation, w, blocks, transpose: true, expected);
            for (int o = 0; o < n; o++)
                for (int t = 0; t < d; t++)
                    expected[o * d + t] *= s[o];
            (double atol, double rtol) = Tolerance(expected, m * b);
            Compare.AllClose(Download(merged), expected, atol, rtol, "diag(s)·W·Rᵀ", $"{Case.Name} {shape.Rotation} n={n}", [n, d]);

            // No scale, and output aliasing weight.
            Backend.Merge(shape.Rotation, tw, tb, null, tw);
            RotationReference.Forward(shape.Rotation, w, blocks, transpose: true, expected);
            Compare.AllClose(Download(tw), expected, atol, rtol, "W·Rᵀ in place", $"{Case.Name} {shape.Rotation} n={n}", [n, d]);
        }
    }

    [Test]
    public void Merge_AgreesWithForward_OnTheBoftLayer()
    {
        // (x·R)·W0ᵀ ⊙ s  ==  x·(diag(s)·W0·Rᵀ)ᵀ: the merged weight reproduces the adapted layer.
        BoftShape shape = Boft(32, 3, 4);
        int rows = 5, n = 6, d = 32;
        var random = new Random(31);
        double[] x = AsFloat(Random(random, rows * d)), w = AsFloat(Random(random, n * d)), raw = AsFloat(Random(random, shape.RawParameterCount, 0.3));
        double[] s = AsFloat(Random(random, n).Select(v => 1 + 0.2 * v).ToArray());
        var expected = new double[rows * n];
        BoftReference.Forward(shape, x, w, [], raw, s, [], expected);
        using Tensor tp = Upload(raw, raw.Length);
        using Tensor blocks = Backend.Allocate(raw.Length);
        Backend.CayleyForward(shape.Cayley, tp, null, blocks);
        using Tensor tw = Upload(w, n, d);
        using Tensor ts = Upload(s, n);
        using Tensor merged = Backend.Allocate(n, d);
        Backend.Merge(shape.Rotation, tw, blocks, ts, merged);
        using Tensor tx = Upload(x, rows, d);
        using Tensor y = Backend.Allocate(rows, n);
        Backend.Linear(tx, merged, y);
        Compare.AllClose(Download(y), expected, 2e-5, 1e-5, "x·W'ᵀ", $"{Case.Name} {shape}");
    }
}
