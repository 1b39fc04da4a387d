// Cayley–Neumann series and its backward, double precision (docs/02_Ops/cayley-neumann.md).
//   C = Σ_p c_p Q^p   (PEFT ≥ 0.18: c = [1, 2, …, 2, 1]; 0.16–0.17: [1, 2, …, 2]; see OftConfig.NeumannCoefficients)
//   ∂L/∂Q = Σ_p c_p Σ_{j=0}^{p−1} (Q^j)ᵀ G (Q^{p−1−j})ᵀ
// This truncates (I + Q)(I − Q)⁻¹, the Cayley transform with the opposite sign to CayleyReference.

namespace Boft.Reference;

/// <summary>Reference truncated Cayley–Neumann series of skew-symmetric blocks and its vector-Jacobian product.</summary>
public static class CayleyNeumannReference
{
    /// <summary><c>C = Σ_p c_p Q^p</c> for each block.</summary>
    /// <param name="skew">Q. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="coefficients">c_0..c_p (at least one).</param>
    /// <param name="blockSize">b.</param>
    /// <param name="blocks">Output C. Same shape.</param>
    public static void Forward(ReadOnlySpan<double> skew, ReadOnlySpan<double> coefficients, int blockSize, Span<double> blocks)
    {
        int bb = blockSize * blockSize;
        int count = Check.Blocks(skew.Length, bb, nameof(skew));
        Check.SameLength(blocks.Length, skew.Length, nameof(blocks), nameof(skew));
        if (coefficients.IsEmpty)
            throw new ArgumentException("At least one Neumann coefficient is needed.", nameof(coefficients));
        var power = new double[bb];
        var next = new double[bb];
        for (int blk = 0; blk < count; blk++)
        {
            ReadOnlySpan<double> q = skew.Slice(blk * bb, bb);
            Span<double> c = blocks.Slice(blk * bb, bb);
            SetIdentity(power, blockSize);
            for (int i = 0; i < bb; i++)
                c[i] = coefficients[0] * power[i];
            for (int p = 1; p < coefficients.Length; p++)
            {
                MatrixReference.Multiply(power, q, blockSize, next);
                next.CopyTo(power.AsSpan());
                for (int i = 0; i < bb; i++)
                    c[i] += coefficients[p] * power[i];
            }
        }
    }

    /// <summary>Backward: <c>∂L/∂Q = Σ_p c_p Σ_{j&lt;p} (Q^j)ᵀ G (Q^{p−1−j})ᵀ</c>.</summary>
    /// <param name="skew">Q used in the forward. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="coefficients">c_0..c_p.</param>
    /// <param name="gradBlocks">G = ∂L/∂C. Same shape as <paramref name="skew"/>.</param>
    /// <param name="blockSize">b.</param>
    /// <param name="gradSkew">Output ∂L/∂Q. Same shape.</param>
    public static void Backward(ReadOnlySpan<double> skew, ReadOnlySpan<double> coefficients, ReadOnlySpan<double> gradBlocks, int blockSize, Span<double> gradSkew)
    {
        int bb = blockSize * blockSize;
        int count = Check.Blocks(skew.Length, bb, nameof(skew));
        Check.SameLength(gradBlocks.Length, skew.Length, nameof(gradBlocks), nameof(skew));
        Check.SameLength(gradSkew.Length, skew.Length, nameof(gradSkew), nameof(skew));
        int degree = coefficients.Length - 1;
        var powersT = new double[Math.Max(degree, 1)][]; // (Q^j)ᵀ for j = 0..degree−1
        var tmp = new double[bb];
        var term = new double[bb];
        var power = new double[bb];
        var next = new double[bb];
        for (int blk = 0; blk < count; blk++)
        {
            ReadOnlySpan<double> q = skew.Slice(blk * bb, bb);
            ReadOnlySpan<double> g = gradBlocks.Slice(blk * bb, bb);
            Span<double> result = gradSkew.Slice(blk * bb, bb);
            result.Clear();
            SetIdentity(power, blockSize);
            for (int j = 0; j < degree; j++)
            {
                powersT[j] = new double[bb];
                MatrixReference.Transpose(power, blockSize, powersT[j]);
                MatrixReference.Multiply(power, q, blockSize, next);
                next.CopyTo(power.AsSpan());
            }
            for (int p = 1; p <= degree; p++)
            {
                for (int j = 0; j < p; j++)
                {
                    MatrixReference.Multiply(powersT[j], g, blockSize, tmp);
                    MatrixReference.Multiply(tmp, powersT[p - 1 - j], blockSize, term);
                    for (int i = 0; i < bb; i++)
                        result[i] += coefficients[p] * term[i];
                }
            }
        }
    }

    private static void SetIdentity(Span<double> matrix, int size)
    {
        matrix.Clear();
        for (int i = 0; i < size; i++)
            matrix[i * size + i] = 1;
    }
}
