// The tiled rotation forward's register tiles (Boft.Kernels/Simd/Rotation.cs, FactorStep → Columns4): 4 output features ×
// 4 row vectors where the JIT has 32 vector registers (AVX-512), else 4 × 2. Every element sums its block's t terms in
// the same order in both, so they must give the same bits. This fixture forces the tiled kernel and both tiles on every
// width the machine has (the 4 × 4 tile also where it would spill: correctness does not depend on the register count),
// with 150 rows (a 128-row tile runs the 4-vector loop, then the 2- and 1-vector remainders), x·R and x·Rᵀ, and checks
// the bits against each other and the values against RotationReference (BackendOracle.Tolerance).

using Boft.Backends;
using Boft.Kernels.Simd;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixture]
[NonParallelizable] // switches process-wide kernel choices
public sealed class ForwardColumnTileTests
{
    /// <summary>(d, m, b): b = 8 (the tile's target), 4 and 12 (one and three 4-column groups), 6 (2-column remainder).</summary>
    private static readonly (int D, int M, int B)[] Shapes = [(64, 2, 8), (128, 4, 8), (48, 1, 4), (96, 1, 12), (96, 2, 6)];

    [Test]
    public void TiledForward_FourByFourAndFourByTwoTiles_GiveTheSameBits([Values] SimdWidth width, [Values] bool transpose)
    {
        if (!SimdBackend.IsSupported(width))
            Assert.Ignore($"{width} is not accelerated on this machine.");
        bool savedRegisters = Rotation.ThirtyTwoRegisters, savedColumns = Rotation.WideColumns;
        try
        {
            Rotation.ThirtyTwoRegisters = true;
            using var backend = new SimdBackend(width) { ForwardRotationKernel = SimdRotationKernel.Tiled };
            foreach ((int d, int m, int b) in Shapes)
            {
                RotationShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve().Rotation;
                const int rows = 150;
                var random = new Random(d * 100 + m * 10 + b);
                double[] x = AsFloat(Random(random, rows * d));
                double[] blocks = OrthogonalBlocks(random, shape);
                using Tensor tx = backend.Upload(Array.ConvertAll(x, v => (float)v), rows, d);
                using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), m, shape.BlockCount, b, b);
                using Tensor y = backend.Allocate(rows, d);
                float[] Run(bool wide)
                {
                    Rotation.WideColumns = wide;
                    backend.Fill(y, float.NaN);
                    backend.Rotate(shape, tx, tb, transpose, y);
                    return y.ToArray();
                }
                float[] narrow = Run(false), wideTile = Run(true);
                string what = $"{width} {shape} transpose {transpose}";
                Assert.That(wideTile.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(narrow.Select(BitConverter.SingleToInt32Bits)), $"4x4 vs 4x2 bits, {what}");
                var expected = new double[x.Length];
                RotationReference.Forward(shape, x, blocks, transpose, expected);
                (double atol, double rtol) = Tolerance(expected, (double)m * b);
                Compare.AllClose(Array.ConvertAll(wideTile, v => (double)v), expected, atol, rtol, "y", what, [rows, d]);
            }
        }
        finally
        {
            Rotation.ThirtyTwoRegisters = savedRegisters;
            Rotation.WideColumns = savedColumns;
        }
    }
}
