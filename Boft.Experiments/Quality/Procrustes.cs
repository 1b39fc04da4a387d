// The closed-form best block-diagonal fit (the check of the OFT rows): min over Q = diag(Q_1, …, Q_r), Q_k ∈ SO(b), of
// ‖Q − T‖_F. Off-diagonal blocks of T cannot be matched at all; per diagonal block T_kk the optimum is the orthogonal
// Procrustes solution with the det +1 constraint, Q_k = U diag(1, …, 1, det(U Vᵀ)) Vᵀ for T_kk = U Σ Vᵀ, whose trace
// against T_kk is Σσ − 2σ_min when det(T_kk) < 0 (else Σσ). So ‖Q − T‖² = ‖T‖² + d − 2 Σ_k tr(Q_kᵀ T_kk).

namespace Boft.Experiments.Quality;

/// <summary>The best block-diagonal (OFT) approximation error of a target, in closed form.</summary>
public static class Procrustes
{
    /// <summary>min ‖Q − T‖_F / ‖T‖_F over block-diagonal Q with b×b blocks in SO(b).</summary>
    /// <param name="target">T, d×d row-major.</param>
    /// <param name="d">Feature count.</param>
    /// <param name="blockSize">b (divides d).</param>
    /// <returns>The relative error of the best block-diagonal rotation.</returns>
    /// <exception cref="ArgumentException">b does not divide d or the target is not d×d.</exception>
    public static double BestBlockDiagonalError(double[] target, int d, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.Length != d * d)
            throw new ArgumentException($"target has {target.Length} elements but d = {d} needs {d * d}.", nameof(target));
        if (blockSize < 1 || d % blockSize != 0)
            throw new ArgumentException($"blockSize ({blockSize}) must divide d ({d}).", nameof(blockSize));
        int b = blockSize;
        double trace = 0;
        var block = new double[b * b];
        for (int k = 0; k < d / b; k++)
        {
            for (int i = 0; i < b; i++)
                for (int j = 0; j < b; j++)
                    block[i * b + j] = target[(k * b + i) * d + k * b + j];
            double[] sigma = DenseMatrix.SingularValues(block, b);
            double sum = sigma.Sum();
            if (DenseMatrix.Determinant(block, b) < 0)
                sum -= 2 * sigma[0];
            trace += sum;
        }
        double targetSquared = Math.Pow(DenseMatrix.Frobenius(target), 2);
        return Math.Sqrt(Math.Max(targetSquared + d - 2 * trace, 0)) / Math.Sqrt(targetSquared);
    }
}
