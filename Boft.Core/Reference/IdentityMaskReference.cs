// Block identity masks: PEFT's multiplicative dropout and the paper's weight interpolation (docs/02_Ops/dropout-interpolation.md).
// A mask has one value per block (BOFT: [m, k], factor-major); 1 replaces the block by I before the rotation is formed,
// which also zeroes that block's gradient.

namespace Boft.Reference;

/// <summary>Reference construction and application of block identity masks.</summary>
public static class IdentityMaskReference
{
    /// <summary>Replaces masked blocks by the identity: <c>C := (1 − mask)·C + mask·I</c>.</summary>
    /// <param name="mask">One value per block (0 or 1). Shape: [blockCount].</param>
    /// <param name="blockSize">b.</param>
    /// <param name="blocks">Blocks, modified in place. Shape: [blockCount, blockSize, blockSize].</param>
    public static void Apply(ReadOnlySpan<double> mask, int blockSize, Span<double> blocks)
    {
        int bb = blockSize * blockSize;
        int count = Check.Blocks(blocks.Length, bb, nameof(blocks));
        Check.SameLength(mask.Length, count, nameof(mask), "blockCount");
        for (int blk = 0; blk < count; blk++)
        {
            if (mask[blk] == 0)
                continue;
            Span<double> c = blocks.Slice(blk * bb, bb);
            for (int r = 0; r < blockSize; r++)
                for (int col = 0; col < blockSize; col++)
                    c[r * blockSize + col] = (1 - mask[blk]) * c[r * blockSize + col] + mask[blk] * (r == col ? 1 : 0);
        }
    }

    /// <summary>Zeroes the gradient of masked blocks: <c>G := (1 − mask)·G</c>.</summary>
    /// <param name="mask">Shape: [blockCount].</param>
    /// <param name="blockSize">b.</param>
    /// <param name="gradBlocks">Modified in place. Shape: [blockCount, blockSize, blockSize].</param>
    public static void ApplyBackward(ReadOnlySpan<double> mask, int blockSize, Span<double> gradBlocks)
    {
        int bb = blockSize * blockSize;
        int count = Check.Blocks(gradBlocks.Length, bb, nameof(gradBlocks));
        Check.SameLength(mask.Length, count, nameof(mask), "blockCount");
        for (int blk = 0; blk < count; blk++)
            foreach (ref double g in gradBlocks.Slice(blk * bb, bb))
                g *= 1 - mask[blk];
    }

    /// <summary>
    /// PEFT's multiplicative dropout mask (<c>MultiplicativeDropoutLayer</c>): one factor f chosen uniformly, then
    /// <c>floor(p·k)</c> distinct blocks of that factor chosen uniformly are marked 1. Same distribution as PEFT, different RNG stream.
    /// </summary>
    /// <param name="shape">The BOFT shape.</param>
    /// <param name="probability">p in [0, 1).</param>
    /// <param name="random">The random source (seed it for reproducibility).</param>
    /// <param name="mask">Output. Shape: [factorCount, blockCount].</param>
    public static void Dropout(BoftShape shape, double probability, Random random, Span<double> mask)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(random);
        if (double.IsNaN(probability) || probability < 0 || probability >= 1)
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "The dropout probability must be in [0, 1).");
        int m = shape.FactorCount, k = shape.BlockCount;
        Check.SameLength(mask.Length, m * k, nameof(mask), "factorCount·blockCount");
        mask.Clear();
        int factor = random.Next(m);
        int dropped = (int)(probability * k);
        Span<int> order = k <= 1024 ? stackalloc int[k] : new int[k];
        for (int j = 0; j < k; j++)
            order[j] = j;
        for (int j = 0; j < dropped; j++)
        {
            int pick = j + random.Next(k - j);
            (order[j], order[pick]) = (order[pick], order[j]);
            mask[factor * k + order[j]] = 1;
        }
    }

    /// <summary>
    /// Weight interpolation (paper Sec. 6.3): the <paramref name="identityFactorCount"/> left-most factors
    /// <c>F_{m−1}, …, F_{m−j}</c> set to the identity.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="identityFactorCount">j in [0, m].</param>
    /// <param name="mask">Output. Shape: [factorCount, blockCount].</param>
    public static void Interpolation(RotationShape shape, int identityFactorCount, Span<double> mask)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int m = shape.FactorCount, k = shape.BlockCount;
        if (identityFactorCount < 0 || identityFactorCount > m)
            throw new ArgumentOutOfRangeException(nameof(identityFactorCount), identityFactorCount, $"identityFactorCount must be in [0, {m}].");
        Check.SameLength(mask.Length, m * k, nameof(mask), "factorCount·blockCount");
        for (int i = 0; i < m; i++)
            mask.Slice(i * k, k).Fill(i >= m - identityFactorCount ? 1 : 0);
    }
}
