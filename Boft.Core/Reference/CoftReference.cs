// COFT projection (PEFT OFTv2 _project_batch), double precision (docs/02_Ops/coft.md).
//   Q = U − Uᵀ from the packed w;  ρ = eps / sqrt(r_param);  if ‖Q‖_F > ρ:  w := ρ · w / ‖Q‖_F  (‖Q‖_F² = 2 Σ w²).
// Applied in place to the parameters before every forward, outside autograd (identity Jacobian).

namespace Boft.Reference;

/// <summary>Reference COFT projection of OFT's packed skew parameters onto a Frobenius ball around 0.</summary>
public static class CoftReference
{
    /// <summary>Projects each packed block onto the Frobenius ball of radius <paramref name="radius"/>.</summary>
    /// <param name="packed">w. Shape: [blockCount, blockSize·(blockSize−1)/2].</param>
    /// <param name="blockSize">b.</param>
    /// <param name="radius">ρ = eps / sqrt(r_param).</param>
    /// <param name="projected">Output (may alias <paramref name="packed"/>). Same shape.</param>
    public static void Project(ReadOnlySpan<double> packed, int blockSize, double radius, Span<double> projected)
    {
        int packedLength = blockSize * (blockSize - 1) / 2;
        Check.SameLength(projected.Length, packed.Length, nameof(projected), nameof(packed));
        if (packedLength == 0)
            return;
        int count = Check.Blocks(packed.Length, packedLength, nameof(packed));
        for (int blk = 0; blk < count; blk++)
        {
            ReadOnlySpan<double> w = packed.Slice(blk * packedLength, packedLength);
            Span<double> o = projected.Slice(blk * packedLength, packedLength);
            double sum = 0;
            foreach (double v in w)
                sum += v * v;
            double norm = Math.Sqrt(2 * sum);
            double factor = norm <= radius ? 1.0 : radius / norm;
            for (int t = 0; t < packedLength; t++)
                o[t] = factor == 1.0 ? w[t] : radius * (w[t] / norm);
        }
    }
}
