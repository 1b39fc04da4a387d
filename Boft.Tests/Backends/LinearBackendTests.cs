// Linear, LinearBackwardInput, LinearBackwardWeight, ScaleBias and ScaleBiasBackward on every registered backend against
// LinearReference. Tolerances: BackendOracle.Tolerance with the GEMM's reduction length (d, n or rows); the column sums of
// ScaleBiasBackward reduce over rows. gradInput is overwritten (=); gradWeight, gradScale, gradBias accumulate (+=).

using Boft.Backends;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class LinearBackendTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    /// <summary>(rows, d, n): tails in every dimension (not multiples of 6 rows, 16 or 32 columns, 256-long reductions).</summary>
    private IEnumerable<(int Rows, int D, int N)> Shapes() => IsSimulator
        ? [(1, 8, 5), (3, 16, 7), (7, 5, 3)]
        : [(1, 8, 5), (3, 16, 7), (7, 5, 3), (33, 70, 45), (4, 300, 33), (100, 257, 130), (13, 64, 64), (200, 40, 520)];

    [Test]
    public void LinearOps_MatchReference()
    {
        foreach ((int rows, int d, int n) in Shapes())
        {
            var random = new Random(rows * 7 + d * 13 + n);
            double[] x = AsFloat(Random(random, rows * d)), w = AsFloat(Random(random, n * d)), g = AsFloat(Random(random, rows * n));
            double[] initial = AsFloat(Random(random, n * d));
            string context = $"{Case.Name} rows={rows} d={d} n={n}";
            using Tensor tx = Upload(x, rows, d);
            using Tensor tw = Upload(w, n, d);
            using Tensor tg = Upload(g, rows, n);

            using Tensor y = Backend.Allocate(rows, n);
            Backend.Fill(y, float.NaN);
            Backend.Linear(tx, tw, y);
            var expectedY = new double[rows * n];
            LinearReference.Forward(x, w, d, expectedY);
            (double atol, double rtol) = Tolerance(expectedY, d);
            Compare.AllClose(Download(y), expectedY, atol, rtol, "x·Wᵀ", context, [rows, n]);

            using Tensor gx = Backend.Allocate(rows, d);
            Backend.Fill(gx, float.NaN);
            Backend.LinearBackwardInput(tg, tw, gx);
            var expectedGx = new double[rows * d];
            LinearReference.BackwardInput(g, w, d, expectedGx);
            (atol, rtol) = Tolerance(expectedGx, n);
            Compare.AllClose(Download(gx), expectedGx, atol, rtol, "gradInput", context, [rows, d]);

            using Tensor gw = Upload(initial, n, d);
            Backend.LinearBackwardWeight(tg, tx, gw);
            var increment = new double[n * d];
            LinearReference.BackwardWeight(g, x, d, increment);
            (atol, rtol) = Tolerance(increment, rows);
            Compare.AllClose(Download(gw), initial.Zip(increment, (a, b) => a + b).ToArray(), atol, rtol, "gradWeight (initial + increment)", context, [n, d]);
        }
    }

    /// <summary>A long reduction over rows (category GpuRace: full size on CUDA in the GPU check; 300 rows on the simulator).</summary>
    [Test]
    [Category("GpuRace")]
    public void LinearBackwardWeight_ManyRows_MatchesReference()
    {
        int rows = IsSimulator ? 300 : 3000, d = 40, n = 24;
        var random = new Random(5);
        double[] x = AsFloat(Random(random, rows * d)), g = AsFloat(Random(random, rows * n));
        using Tensor tx = Upload(x, rows, d);
        using Tensor tg = Upload(g, rows, n);
        using Tensor gw = Backend.Allocate(n, d);
        Backend.LinearBackwardWeight(tg, tx, gw);
        var expected = new double[n * d];
        LinearReference.BackwardWeight(g, x, d, expected);
        (double atol, double rtol) = Tolerance(expected, rows);
        Compare.AllClose(Download(gw), expected, atol, rtol, "gradWeight", $"{Case.Name} rows={rows}");
    }

    [Test]
    public void Linear_IsDeterministic()
    {
        int rows = IsSimulator ? 5 : 300, d = IsSimulator ? 8 : 513, n = IsSimulator ? 6 : 260;
        var random = new Random(6);
        using Tensor tx = Upload(Random(random, rows * d), rows, d);
        using Tensor tw = Upload(Random(random, n * d), n, d);
        using Tensor tg = Upload(Random(random, rows * n), rows, n);
        float[] Run()
        {
            using Tensor y = Backend.Allocate(rows, n);
            using Tensor gw = Backend.Allocate(n, d);
            Backend.Linear(tx, tw, y);
            Backend.LinearBackwardWeight(tg, tx, gw);
            return [.. y.ToArray(), .. gw.ToArray()];
        }
        float[] first = Run(), second = Run();
        Assert.That(second, Is.EqualTo(first).AsCollection, $"{Case.Name}: two runs must be bit-identical");
    }

    [Test]
    public void ScaleBias_MatchesReference_ForEveryCombination()
    {
        foreach ((int rows, int n) in IsSimulator ? new[] { (3, 5) } : [(3, 5), (1, 33), (70, 17), (257, 64)])
        {
            var random = new Random(rows + n);
            double[] h = AsFloat(Random(random, rows * n)), s = AsFloat(Random(random, n)), bias = AsFloat(Random(random, n));
            using Tensor th = Upload(h, rows, n);
            using Tensor ts = Upload(s, n, 1);
            using Tensor tb = Upload(bias, n);
            foreach ((bool useScale, bool useBias) in new[] { (true, true), (true, false), (false, true), (false, false) })
            {
                using Tensor y = Backend.Allocate(rows, n);
                Backend.ScaleBias(th, useScale ? ts : null, useBias ? tb : null, y);
                var expected = new double[rows * n];
                LinearReference.ScaleBias(h, useScale ? s : [], useBias ? bias : [], n, expected);
                Compare.AllClose(Download(y), expected, 1e-6, 1e-6, "h⊙s + bias", $"{Case.Name} rows={rows} n={n} scale={useScale} bias={useBias}");
            }
            Backend.ScaleBias(th, ts, tb, th); // in place
            var inPlace = new double[rows * n];
            LinearReference.ScaleBias(h, s, bias, n, inPlace);
            Compare.AllClose(Download(th), inPlace, 1e-6, 1e-6, "in-place h⊙s + bias", $"{Case.Name} rows={rows} n={n}");
        }
    }

    [Test]
    public void ScaleBiasBackward_MatchesReference_AndAccumulates()
    {
        foreach ((int rows, int n) in IsSimulator ? new[] { (3, 5) } : [(3, 5), (1, 33), (70, 17), (1000, 24)])
        {
            var random = new Random(rows * 3 + n);
            double[] h = AsFloat(Random(random, rows * n)), s = AsFloat(Random(random, n)), g = AsFloat(Random(random, rows * n));
            double[] initialScale = AsFloat(Random(random, n)), initialBias = AsFloat(Random(random, n));
            string context = $"{Case.Name} rows={rows} n={n}";
            using Tensor th = Upload(h, rows, n);
            using Tensor ts = Upload(s, n);
            using Tensor tg = Upload(g, rows, n);
            using Tensor gh = Backend.Allocate(rows, n);
            using Tensor gs = Upload(initialScale, n, 1);
            using Tensor gb = Upload(initialBias, n);
            Backend.Fill(gh, float.NaN);
            Backend.ScaleBiasBackward(th, ts, tg, gh, gs, gb);
            var eh = new double[rows * n];
            var es = new double[n];
            var eb = new double[n];
            LinearReference.ScaleBiasBackward(h, s, g, n, eh, es, eb);
            Compare.AllClose(Download(gh), eh, 1e-6, 1e-6, "gradInput", context);
            (double atol, double rtol) = Tolerance(es, rows);
            Compare.AllClose(Download(gs), initialScale.Zip(es, (a, b) => a + b).ToArray(), atol, rtol, "gradScale (+=)", context);
            (atol, rtol) = Tolerance(eb, rows);
            Compare.AllClose(Download(gb), initialBias.Zip(eb, (a, b) => a + b).ToArray(), atol, rtol, "gradBias (+=)", context);

            // No scale (identity): gradInput is a copy of gradOutput.
            using Tensor copy = Backend.Allocate(rows, n);
            Backend.ScaleBiasBackward(th, null, tg, copy, null, null);
            Compare.AllClose(Download(copy), g, 0, 0, "gradInput without scale", context);

            // gradInput aliasing gradOutput: the sums must still see the original gradOutput.
            using Tensor gb2 = Backend.Allocate(n);
            Backend.ScaleBiasBackward(th, ts, tg, tg, null, gb2);
            Compare.AllClose(Download(tg), eh, 1e-6, 1e-6, "gradInput (aliasing gradOutput)", context);
            Compare.AllClose(Download(gb2), eb, atol, rtol, "gradBias (gradInput aliasing gradOutput)", context);
        }
    }
}
