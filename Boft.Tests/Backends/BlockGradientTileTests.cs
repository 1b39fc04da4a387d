// The SIMD backward's block-gradient register tiles (Boft.Kernels/Simd/Rotation.cs, BlockGradient): 4 × 4 where the JIT has
// 32 vector registers (AVX-512) and 4 × 2 where it has 16 (AVX2, SSE), where the 4 × 4 tile spilled its accumulators. A
// machine runs one of them by default; this fixture runs both on every width the machine has, on block sizes that reach
// every remainder of the t and c loops (b = 2, 3, 6, 12 as well as the powers of two), against RotationReference.
// Tolerances as in the shared fixtures (BackendOracle.Tolerance; the block gradient sums rows·m·b products).

using Boft.Backends;
using Boft.Kernels.Simd;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixture]
[NonParallelizable] // switches a process-wide kernel choice
public sealed class BlockGradientTileTests
{
    public static IEnumerable<TestCaseData> Cases() =>
        from width in Enum.GetValues<SimdWidth>()
        from wide in new[] { true, false }
        select new TestCaseData(width, wide).SetArgDisplayNames(width.ToString(), wide ? "4x4" : "4x2");

    /// <summary>(d, m, b): remainders of the 4-row t groups (b = 2, 3, 6) and of the 2- and 4-column c groups.</summary>
    private static readonly (int D, int M, int B)[] Shapes =
        [(64, 1, 2), (48, 1, 3), (96, 2, 6), (64, 2, 8), (96, 1, 12), (128, 2, 16), (64, 1, 32)];

    [TestCaseSource(nameof(Cases))]
    public void BlockGradient_BothRegisterTiles_MatchReference(SimdWidth width, bool wide)
    {
        if (!SimdBackend.IsSupported(width))
            Assert.Ignore($"{width} is not accelerated on this machine.");
        bool saved = Rotation.ThirtyTwoRegisters;
        try
        {
            Rotation.ThirtyTwoRegisters = wide;
            using var backend = new SimdBackend(width);
            foreach ((int d, int m, int b) in Shapes)
            {
                RotationShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve().Rotation;
                const int rows = 37;
                var random = new Random(d * 100 + m * 10 + b);
                double[] x = AsFloat(Random(random, rows * d)), g = AsFloat(Random(random, rows * d));
                double[] blocks = OrthogonalBlocks(random, shape);
                using Tensor tx = backend.Upload(Array.ConvertAll(x, v => (float)v), rows, d);
                using Tensor tg = backend.Upload(Array.ConvertAll(g, v => (float)v), rows, d);
                using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), m, shape.BlockCount, b, b);
                using Tensor gx = backend.Allocate(rows, d);
                using Tensor gb = backend.Allocate(m, shape.BlockCount, b, b);
                backend.Fill(gb, 7f); // overwritten, not accumulated
                backend.RotateBackward(shape, tx, tb, tg, gx, gb);
                var expectedX = new double[x.Length];
                var expectedB = new double[blocks.Length];
                RotationReference.Backward(shape, x, blocks, g, expectedX, expectedB);
                (double atol, double rtol) = Tolerance(expectedB, (double)rows * m * b);
                Compare.AllClose(Array.ConvertAll(gb.ToArray(), v => (double)v), expectedB, atol, rtol, "gradBlocks",
                    $"{width} {(wide ? "4x4" : "4x2")} {shape}", [m, shape.BlockCount, b, b]);
            }
        }
        finally
        {
            Rotation.ThirtyTwoRegisters = saved;
        }
    }
}
