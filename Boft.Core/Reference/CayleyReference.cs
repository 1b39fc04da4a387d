// Exact Cayley map and its backward, double precision (docs/02_Ops/cayley.md).
//   C = (I − S)(I + S)⁻¹ = 2M − I,  M = (I + S)⁻¹   (PEFT: torch.linalg.solve(I + S, I − S, left=False))
//   dC = −2 M dS M   ⇒   ∂L/∂S = −2 Mᵀ G Mᵀ
// I + S is always invertible for skew S (eigenvalues 1 + iλ); C is orthogonal with det +1.

namespace Boft.Reference;

/// <summary>Reference exact Cayley transform of skew-symmetric blocks and its vector-Jacobian product.</summary>
public static class CayleyReference
{
    /// <summary><c>C = (I − S)(I + S)⁻¹</c> for each block.</summary>
    /// <param name="skew">S. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="blockSize">b.</param>
    /// <param name="blocks">Output C. Same shape.</param>
    public static void Forward(ReadOnlySpan<double> skew, int blockSize, Span<double> blocks)
    {
        int bb = blockSize * blockSize;
        int count = Check.Blocks(skew.Length, bb, nameof(skew));
        Check.SameLength(blocks.Length, skew.Length, nameof(blocks), nameof(skew));
        var m = new double[bb];
        for (int blk = 0; blk < count; blk++)
        {
            InverseOfIdentityPlus(skew.Slice(blk * bb, bb), blockSize, m);
            Span<double> c = blocks.Slice(blk * bb, bb);
            for (int i = 0; i < bb; i++)
                c[i] = 2 * m[i];
            for (int i = 0; i < blockSize; i++)
                c[i * blockSize + i] -= 1;
        }
    }

    /// <summary>Backward: <c>∂L/∂S = −2 Mᵀ G Mᵀ</c> with <c>M = (I + S)⁻¹</c>.</summary>
    /// <param name="skew">S used in the forward. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="gradBlocks">G = ∂L/∂C. Same shape.</param>
    /// <param name="blockSize">b.</param>
    /// <param name="gradSkew">Output ∂L/∂S. Same shape.</param>
    public static void Backward(ReadOnlySpan<double> skew, ReadOnlySpan<double> gradBlocks, int blockSize, Span<double> gradSkew)
    {
        int bb = blockSize * blockSize;
        int count = Check.Blocks(skew.Length, bb, nameof(skew));
        Check.SameLength(gradBlocks.Length, skew.Length, nameof(gradBlocks), nameof(skew));
        Check.SameLength(gradSkew.Length, skew.Length, nameof(gradSkew), nameof(skew));
        var m = new double[bb];
        var mt = new double[bb];
        var tmp = new double[bb];
        for (int blk = 0; blk < count; blk++)
        {
            InverseOfIdentityPlus(skew.Slice(blk * bb, bb), blockSize, m);
            MatrixReference.Transpose(m, blockSize, mt);
            MatrixReference.Multiply(mt, gradBlocks.Slice(blk * bb, bb), blockSize, tmp);
            Span<double> g = gradSkew.Slice(blk * bb, bb);
            MatrixReference.Multiply(tmp, mt, blockSize, g);
            for (int i = 0; i < bb; i++)
                g[i] *= -2;
        }
    }

    private static void InverseOfIdentityPlus(ReadOnlySpan<double> s, int blockSize, Span<double> inverse)
    {
        Span<double> a = blockSize <= 32 ? stackalloc double[blockSize * blockSize] : new double[blockSize * blockSize];
        s.CopyTo(a);
        for (int i = 0; i < blockSize; i++)
            a[i * blockSize + i] += 1;
        MatrixReference.Invert(a, blockSize, inverse);
    }
}
