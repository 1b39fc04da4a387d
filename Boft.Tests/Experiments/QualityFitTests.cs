// The quality experiment on small d: targets are rotations (TᵀT = I, det +1), the closed-form block-diagonal optimum is
// right on targets whose answer is known, a dense configuration fitted with the training core reaches the exact target,
// and the OFT fit comes within 1 % of its Procrustes optimum where Cayley can reach it.

using Boft.Experiments.Analysis;
using Boft.Experiments.Quality;
using Boft.Kernels.Simd;

namespace Boft.Tests.Experiments;

[TestFixture]
public sealed class QualityFitTests
{
    /// <summary>T[0, 0] of the seed-0 Haar target at d = 8, recorded from a run (any change of the seed derivation changes it).</summary>
    private const double QualityTargetsHaar00 = -0.19759691819924835;

    [TestCase(8)]
    [TestCase(16)]
    public void EveryTarget_IsARotation(int d)
    {
        foreach (QualityTarget t in QualityTargets.All(d, seed: 3))
        {
            double[] gram = DenseMatrix.Multiply(DenseMatrix.Transpose(t.Matrix, d), t.Matrix, d);
            Assert.That(DenseMatrix.FrobeniusDistance(gram, DenseMatrix.Identity(d)), Is.LessThan(1e-9), $"{t.Name}: TᵀT = I");
            Assert.That(DenseMatrix.Determinant(t.Matrix, d), Is.EqualTo(1).Within(1e-9), $"{t.Name}: det = +1");
        }
    }

    [Test]
    public void Targets_AreReproducibleFromTheirSeed()
    {
        double[] first = QualityTargets.Create("haar", 16, 5).Matrix, again = QualityTargets.Create("haar", 16, 5).Matrix;
        Assert.That(again, Is.EqualTo(first));
        Assert.That(QualityTargets.Create("haar", 16, 6).Matrix, Is.Not.EqualTo(first));
        // Across processes too: a fixed entry of the seed-0 Haar target (a per-process hash would change it on every run).
        Assert.That(QualityTargets.Create("signed-permutation", 8, 0).Matrix.Count(v => v != 0), Is.EqualTo(8));
        Assert.That(QualityTargets.Create("haar", 8, 0).Matrix[0], Is.EqualTo(QualityTargetsHaar00).Within(1e-12));
    }

    [Test]
    public void SmallRotation_HasTheRequestedGeneratorNorm()
    {
        // exp(εK) with ‖εK‖₂ = ε: the rotation angles are at most ε, so ‖T − I‖₂ = 2 sin(ε/2) exactly for the largest one.
        QualityTarget t = QualityTargets.Create("small-0.3", 16, 0);
        double[] difference = t.Matrix.Zip(DenseMatrix.Identity(16), (a, b) => a - b).ToArray();
        Assert.That(DenseMatrix.SpectralNorm(difference, 16), Is.EqualTo(2 * Math.Sin(0.15)).Within(1e-9));
    }

    [Test]
    public void Procrustes_IsZeroOnABlockDiagonalRotation_AndTheNoFitErrorAcrossBlocks()
    {
        const int d = 16;
        // A block-diagonal rotation with 4×4 blocks is matched exactly by OFT(4) and OFT(8).
        double[] blocks = DenseMatrix.Identity(d);
        QualityTarget small = QualityTargets.Create("small-1.0", 4, 1);
        for (int k = 0; k < d / 4; k++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    blocks[(4 * k + i) * d + 4 * k + j] = small.Matrix[i * 4 + j];
        Assert.That(Procrustes.BestBlockDiagonalError(blocks, d, 4), Is.LessThan(1e-7));
        Assert.That(Procrustes.BestBlockDiagonalError(blocks, d, 8), Is.LessThan(1e-7));
        // Givens rotations between the two halves: every diagonal block is diagonal with entries cos θ or 1, so the best
        // block-diagonal rotation is I, and the closed form equals the no-fit error for every b ≤ d/2.
        QualityTarget cross = QualityTargets.Create("givens-cross", d, 2);
        foreach (int b in new[] { 2, 4, 8 })
            Assert.That(Procrustes.BestBlockDiagonalError(cross.Matrix, d, b), Is.EqualTo(cross.NoFitError).Within(1e-9), $"b = {b}");
        // A 2×2 block [[-1, 0], [0, -1]] is a rotation by π: the closed form reaches it (error 0) although Cayley cannot.
        double[] flip = DenseMatrix.Identity(4);
        flip[0] = flip[5] = -1;
        Assert.That(Procrustes.BestBlockDiagonalError(flip, 4, 2), Is.LessThan(1e-9));
    }

    [TestCase("oft", 1, 8, "small-0.3")]
    [TestCase("oft", 1, 8, "small-1.0")]
    [TestCase("boft", 1, 8, "small-0.3")]
    public void DenseConfiguration_ReachesTheExactTarget(string method, int m, int b, string target)
    {
        // d = b: one block, the whole of SO(d) away from eigenvalue −1. Tolerance 2e-3: float32 storage (1e-7) and the
        // final Adam steps under the cosine schedule leave ~1e-4; a wrong gradient or factor order leaves O(0.1).
        const int d = 8;
        using var backend = new SimdBackend();
        var config = new MethodConfig(method, m, b);
        Assert.That(config.IsDense(d), Is.True);
        QualityResult result = QualityFit.Fit(backend, config, QualityTargets.Create(target, d, 0), new QualityFitSettings(Steps: 400, SearchSteps: 60, Seeds: 1));
        Assert.That(result.RelativeError, Is.LessThan(2e-3), $"{config} on {target}");
        Assert.That(result.ActivationError, Is.LessThan(2e-3));
        Assert.That(result.NoFitError, Is.GreaterThan(0.1), "the target is far from the identity");
    }

    [Test]
    public void OftFit_ComesWithinOnePercentOfTheClosedForm()
    {
        const int d = 16;
        using var backend = new SimdBackend();
        QualityResult result = QualityFit.Fit(backend, MethodConfig.Oft(4), QualityTargets.Create("small-1.0", d, 0), new QualityFitSettings(Steps: 300, SearchSteps: 60, Seeds: 1));
        Assert.That(result.ClosedFormError, Is.Not.Null);
        Assert.That(result.RelativeError, Is.LessThanOrEqualTo(result.ClosedFormError!.Value * 1.01), "the optimizer reaches the block-diagonal optimum");
        Assert.That(result.RelativeError, Is.GreaterThanOrEqualTo(result.ClosedFormError.Value - 1e-6), "nothing block-diagonal beats the closed form");
    }

    [Test]
    public void InvalidConfiguration_IsRejectedByName()
    {
        using var backend = new SimdBackend();
        Assert.That(() => QualityFit.Fit(backend, MethodConfig.Boft(4, 8), QualityTargets.Create("dct", 16, 0), new QualityFitSettings()),
            Throws.ArgumentException.With.Message.Contains("BOFT(4,8)").And.Message.Contains("d = 16"));
    }
}
