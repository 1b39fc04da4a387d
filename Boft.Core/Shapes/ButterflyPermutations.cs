// Butterfly permutations of PEFT's block_butterfly_perm as index tables (never matrices).
// Factor i: groups of g = b·2^i indices, each cut into 2^(i+1) chunks of h = b/2; even chunks first, then odd.
//   p_i[base + c·h + o] = base + src(c)·h + o,  src(c) = 2c (c < 2^i) or 2(c − 2^i) + 1.
// Matrix convention: P_i[a, p_i[a]] = 1, so (z P_i)[t] = z[q_i[t]] with q_i = p_i⁻¹ (boft-spec §2.4).

namespace Boft;

/// <summary>
/// The m butterfly permutations <c>p_0 … p_{m−1}</c> of a BOFT shape and their inverses, as index tables of length d.
/// <c>p_0</c> is always the identity; with m = 1 every table is the identity.
/// </summary>
public sealed class ButterflyPermutations
{
    private readonly int[] forward;
    private readonly int[] inverse;

    /// <summary>Builds the tables for d features, m factors and block size b.</summary>
    /// <param name="featureCount">d.</param>
    /// <param name="factorCount">m ≥ 1.</param>
    /// <param name="blockSize">b; must be even when m &gt; 1.</param>
    /// <exception cref="ArgumentException">b is odd with m &gt; 1, or d is not divisible by b·2^(m−1).</exception>
    public ButterflyPermutations(int featureCount, int factorCount, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(featureCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(factorCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        if (factorCount > 1 && (blockSize % 2 != 0 || factorCount > 31 || ((long)blockSize << (factorCount - 1)) > featureCount || featureCount % ((long)blockSize << (factorCount - 1)) != 0))
        {
            throw new ArgumentException(blockSize % 2 != 0
                ? $"boft_block_size ({blockSize}) must be an even number!"
                : $"Invalid combination of in_features ({featureCount}), boft_n_butterfly_factor ({factorCount}) and boft_block_size ({blockSize})!", nameof(blockSize));
        }
        FeatureCount = featureCount;
        FactorCount = factorCount;
        forward = new int[factorCount * featureCount];
        inverse = new int[factorCount * featureCount];
        for (int i = 0; i < factorCount; i++)
        {
            Span<int> p = forward.AsSpan(i * featureCount, featureCount);
            Fill(featureCount, blockSize, i, p);
            Span<int> q = inverse.AsSpan(i * featureCount, featureCount);
            for (int a = 0; a < featureCount; a++)
                q[p[a]] = a;
        }
    }

    /// <summary>d, the length of every table.</summary>
    public int FeatureCount { get; }

    /// <summary>m, the number of tables.</summary>
    public int FactorCount { get; }

    /// <summary>All forward tables, factor-major: <c>p_i[a] = Forward[i·d + a]</c>. Shape: [factorCount, featureCount].</summary>
    public ReadOnlySpan<int> AllForward => forward;

    /// <summary>All inverse tables, factor-major: <c>q_i[t] = Inverse[i·d + t]</c>. Shape: [factorCount, featureCount].</summary>
    public ReadOnlySpan<int> AllInverse => inverse;

    /// <summary>The table <c>p_i</c>: <c>P_i[a, p_i[a]] = 1</c>, so <c>(w P_iᵀ)[a] = w[p_i[a]]</c>.</summary>
    /// <param name="factor">i in [0, m).</param>
    /// <returns>A view of the table.</returns>
    public ReadOnlySpan<int> Forward(int factor) => forward.AsSpan(CheckFactor(factor) * FeatureCount, FeatureCount);

    /// <summary>The inverse table <c>q_i = p_i⁻¹</c>: <c>(z P_i)[t] = z[q_i[t]]</c>.</summary>
    /// <param name="factor">i in [0, m).</param>
    /// <returns>A view of the table.</returns>
    public ReadOnlySpan<int> Inverse(int factor) => inverse.AsSpan(CheckFactor(factor) * FeatureCount, FeatureCount);

    /// <summary>Writes PEFT's <c>block_butterfly_perm</c> index table for factor <paramref name="factor"/>.</summary>
    /// <param name="featureCount">d.</param>
    /// <param name="blockSize">b.</param>
    /// <param name="factor">i.</param>
    /// <param name="destination">The table p_i, length d.</param>
    /// <exception cref="ArgumentException">b is odd with i &gt; 0, d is not divisible by b·2^i, or the destination length is not d.</exception>
    public static void Fill(int featureCount, int blockSize, int factor, Span<int> destination)
    {
        if (destination.Length != featureCount)
            throw new ArgumentException($"destination has length {destination.Length} but featureCount is {featureCount}.", nameof(destination));
        if (factor == 0)
        {
            for (int a = 0; a < featureCount; a++)
                destination[a] = a;
            return;
        }
        if (blockSize % 2 != 0)
            throw new ArgumentException($"boft_block_size ({blockSize}) must be an even number!", nameof(blockSize));
        int half = blockSize / 2;
        int chunks = 1 << (factor + 1);
        long group = (long)blockSize << factor;
        if (group > featureCount || featureCount % group != 0)
            throw new ArgumentException($"Invalid combination of in_features ({featureCount}), boft_n_butterfly_factor ({factor + 1}) and boft_block_size ({blockSize})!", nameof(featureCount));
        for (int baseIndex = 0; baseIndex < featureCount; baseIndex += (int)group)
        {
            for (int c = 0; c < chunks; c++)
            {
                int source = c < chunks / 2 ? 2 * c : 2 * (c - chunks / 2) + 1;
                for (int o = 0; o < half; o++)
                    destination[baseIndex + c * half + o] = baseIndex + source * half + o;
            }
        }
    }

    private int CheckFactor(int factor)
    {
        if ((uint)factor >= (uint)FactorCount)
            throw new ArgumentOutOfRangeException(nameof(factor), factor, $"factor must be in [0, {FactorCount}).");
        return factor;
    }
}
