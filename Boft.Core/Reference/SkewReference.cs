// Skew maps and their adjoints, double precision (docs/02_Ops/skew.md).
//   BOFT:  S = (A − Aᵀ)/2 of a full raw b×b block A;            adjoint ∂L/∂A = (G − Gᵀ)/2.
//   OFT:   Q = U − Uᵀ, U[r_t, c_t] = w_t (strict upper triangle, row-major triu_indices(b, b, 1) order, no ½);
//          adjoint ∂L/∂w_t = G[r_t, c_t] − G[c_t, r_t].
// Blocks are row-major b×b, stored one after another. Outputs are overwritten (=).

namespace Boft.Reference;

/// <summary>Reference skew-symmetrization maps (BOFT half difference, OFT packed upper triangle) and their adjoints.</summary>
public static class SkewReference
{
    /// <summary>BOFT: <c>S = (A − Aᵀ)/2</c> per block.</summary>
    /// <param name="raw">Raw blocks A. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="blockSize">b.</param>
    /// <param name="skew">Output S. Same shape.</param>
    /// <exception cref="ArgumentException">Lengths are not whole blocks or differ.</exception>
    public static void HalfDifference(ReadOnlySpan<double> raw, int blockSize, Span<double> skew)
    {
        int blocks = Check.Blocks(raw.Length, blockSize * blockSize, nameof(raw));
        Check.SameLength(skew.Length, raw.Length, nameof(skew), nameof(raw));
        int bb = blockSize * blockSize;
        for (int blk = 0; blk < blocks; blk++)
        {
            ReadOnlySpan<double> a = raw.Slice(blk * bb, bb);
            Span<double> s = skew.Slice(blk * bb, bb);
            for (int r = 0; r < blockSize; r++)
                for (int c = 0; c < blockSize; c++)
                    s[r * blockSize + c] = 0.5 * (a[r * blockSize + c] - a[c * blockSize + r]);
        }
    }

    /// <summary>Adjoint of <see cref="HalfDifference"/>: <c>∂L/∂A = (G − Gᵀ)/2</c>.</summary>
    /// <param name="gradSkew">∂L/∂S. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="blockSize">b.</param>
    /// <param name="gradRaw">Output ∂L/∂A. Same shape.</param>
    public static void HalfDifferenceBackward(ReadOnlySpan<double> gradSkew, int blockSize, Span<double> gradRaw) =>
        HalfDifference(gradSkew, blockSize, gradRaw); // the map is self-adjoint

    /// <summary>OFT: <c>Q = U − Uᵀ</c> from the packed strict upper triangle.</summary>
    /// <param name="packed">w. Shape: [blockCount, blockSize·(blockSize−1)/2].</param>
    /// <param name="blockSize">b.</param>
    /// <param name="skew">Output Q. Shape: [blockCount, blockSize, blockSize].</param>
    public static void FromPacked(ReadOnlySpan<double> packed, int blockSize, Span<double> skew)
    {
        int packedLength = blockSize * (blockSize - 1) / 2;
        int blocks = packedLength == 0 ? skew.Length / (blockSize * blockSize) : Check.Blocks(packed.Length, packedLength, nameof(packed), "b(b−1)/2 = " + packedLength);
        Check.SameLength(skew.Length, blocks * blockSize * blockSize, nameof(skew), "blockCount·b²");
        skew.Clear();
        int bb = blockSize * blockSize;
        for (int blk = 0; blk < blocks; blk++)
        {
            Span<double> q = skew.Slice(blk * bb, bb);
            int t = blk * packedLength;
            for (int r = 0; r < blockSize; r++)
            {
                for (int c = r + 1; c < blockSize; c++, t++)
                {
                    q[r * blockSize + c] = packed[t];
                    q[c * blockSize + r] = -packed[t];
                }
            }
        }
    }

    /// <summary>Adjoint of <see cref="FromPacked"/>: <c>∂L/∂w_t = G[r_t, c_t] − G[c_t, r_t]</c>.</summary>
    /// <param name="gradSkew">∂L/∂Q. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="blockSize">b.</param>
    /// <param name="gradPacked">Output ∂L/∂w. Shape: [blockCount, blockSize·(blockSize−1)/2].</param>
    public static void FromPackedBackward(ReadOnlySpan<double> gradSkew, int blockSize, Span<double> gradPacked)
    {
        int blocks = Check.Blocks(gradSkew.Length, blockSize * blockSize, nameof(gradSkew));
        int packedLength = blockSize * (blockSize - 1) / 2;
        Check.SameLength(gradPacked.Length, blocks * packedLength, nameof(gradPacked), "blockCount·b(b−1)/2");
        int bb = blockSize * blockSize;
        for (int blk = 0; blk < blocks; blk++)
        {
            ReadOnlySpan<double> g = gradSkew.Slice(blk * bb, bb);
            int t = blk * packedLength;
            for (int r = 0; r < blockSize; r++)
                for (int c = r + 1; c < blockSize; c++, t++)
                    gradPacked[t] = g[r * blockSize + c] - g[c * blockSize + r];
        }
    }

    /// <summary>Packs the strict upper triangle of each block (inverse of <see cref="FromPacked"/> on skew matrices).</summary>
    /// <param name="skew">Q. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="blockSize">b.</param>
    /// <param name="packed">Output w. Shape: [blockCount, blockSize·(blockSize−1)/2].</param>
    public static void ToPacked(ReadOnlySpan<double> skew, int blockSize, Span<double> packed)
    {
        int blocks = Check.Blocks(skew.Length, blockSize * blockSize, nameof(skew));
        int packedLength = blockSize * (blockSize - 1) / 2;
        Check.SameLength(packed.Length, blocks * packedLength, nameof(packed), "blockCount·b(b−1)/2");
        int bb = blockSize * blockSize;
        for (int blk = 0; blk < blocks; blk++)
        {
            int t = blk * packedLength;
            for (int r = 0; r < blockSize; r++)
                for (int c = r + 1; c < blockSize; c++, t++)
                    packed[t] = skew[blk * bb + r * blockSize + c];
        }
    }
}
