// The Cayley map's lane-matrix product (Boft.Kernels/Simd/Cayley.cs, LanesMultiply): a 4 × 4 register tile where the JIT has
// 32 vector registers (AVX-512) and 4 × 2 where it has 16 (AVX2, SSE), where the 4 × 4 tile spilled its accumulators. The
// product runs in the Cayley–Neumann forward (b ≥ 8) and in both backwards. Every element sums t in order in both tiles
// (and in the 1-column edge), so this fixture asks for bitwise equality between them on every width the machine has, on
// block sizes that reach every remainder of the 4-row, 4-column and 2-column loops (b = 3, 6, 10 besides 8, 16 and 32).
// Agreement with the reference is the shared Cayley fixtures' job.

using Boft.Backends;
using Boft.Kernels.Simd;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixture]
[NonParallelizable] // switches a process-wide kernel choice
public sealed class CayleyTileTests
{
    public static IEnumerable<TestCaseData> Widths() =>
        Enum.GetValues<SimdWidth>().Select(w => new TestCaseData(w).SetArgDisplayNames(w.ToString()));

    [TestCaseSource(nameof(Widths))]
    public void LaneProduct_BothRegisterTiles_GiveTheSameBits(SimdWidth width)
    {
        if (!SimdBackend.IsSupported(width))
            Assert.Ignore($"{width} is not accelerated on this machine.");
        using var backend = new SimdBackend(width);
        foreach (int b in new[] { 3, 6, 8, 10, 16, 32 })
            foreach (Orthogonalization map in new[] { Orthogonalization.CayleyNeumann, Orthogonalization.ExactCayley })
            {
                CayleyShape shape = new OftConfig(b * 24, BlockSize: b, Orthogonalization: map).Resolve().Cayley;
                var random = new Random(b * 10 + (int)map);
                float[] parameters = Array.ConvertAll(Random(random, shape.ParametersLength), v => (float)(0.1 * v));
                float[] gradient = Array.ConvertAll(Random(random, shape.BlocksLength), v => (float)v);
                using Tensor p = backend.Upload(parameters, shape.ParameterBlockCount, shape.ParameterBlockLength);
                using Tensor g = backend.Upload(gradient, shape.BlockCount, b, b);
                var results = new List<(float[] Blocks, float[] Gradient)>();
                foreach (bool wide in new[] { true, false })
                {
                    bool saved = Rotation.ThirtyTwoRegisters;
                    try
                    {
                        Rotation.ThirtyTwoRegisters = wide;
                        using Tensor blocks = backend.Allocate(shape.BlockCount, b, b);
                        using Tensor gp = backend.Allocate(shape.ParameterBlockCount, shape.ParameterBlockLength);
                        backend.CayleyForward(shape, p, null, blocks);
                        backend.Fill(gp, 0f);
                        backend.CayleyBackward(shape, p, blocks, g, null, gp);
                        results.Add((blocks.ToArray(), gp.ToArray()));
                    }
                    finally
                    {
                        Rotation.ThirtyTwoRegisters = saved;
                    }
                }
                string context = $"{width} b={b} {map}";
                Assert.That(results[0].Blocks.Any(float.IsNaN) || results[0].Gradient.Any(float.IsNaN), Is.False, $"{context}: NaN in the output");
                Assert.That(results[1].Blocks, Is.EqualTo(results[0].Blocks).AsCollection, $"{context}: blocks differ between the tiles");
                Assert.That(results[1].Gradient, Is.EqualTo(results[0].Gradient).AsCollection, $"{context}: parameter gradients differ between the tiles");
            }
    }
}
