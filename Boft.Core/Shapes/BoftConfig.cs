// BOFT configuration as PEFT's BOFTConfig takes it, resolved once into a validated BoftShape.
// Validation order and messages follow PEFT's BOFTConfig.__post_init__ and BOFTLayer.update_layer
// (docs/02_Ops/config.md, ../shared/docs/boft-spec.md §2.2). Unlike PEFT, m is never silently reset to 1.

namespace Boft;

/// <summary>
/// The user-facing BOFT (orthogonal butterfly) configuration for one linear layer, with PEFT's names:
/// exactly one of <see cref="BlockSize"/> (PEFT <c>boft_block_size</c>) and <see cref="BlockCount"/>
/// (PEFT <c>boft_block_num</c>) is non-zero, and <see cref="FactorCount"/> is PEFT's
/// <c>boft_n_butterfly_factor</c> (the number of butterfly factors m; m = 1 is block-diagonal OFT).
/// </summary>
/// <param name="FeatureCount">In-features d of the adapted layer.</param>
/// <param name="BlockSize">Block size b (PEFT <c>boft_block_size</c>), or 0 when <paramref name="BlockCount"/> is given.</param>
/// <param name="BlockCount">Blocks per factor k (PEFT <c>boft_block_num</c>), or 0 when <paramref name="BlockSize"/> is given.</param>
/// <param name="FactorCount">Butterfly factor count m (PEFT <c>boft_n_butterfly_factor</c>), at least 1.</param>
/// <param name="Dropout">Multiplicative dropout probability p (PEFT <c>boft_dropout</c>): in training, one random factor gets
/// <c>floor(p·k)</c> random blocks replaced by the identity.</param>
public sealed record BoftConfig(int FeatureCount, int BlockSize = 4, int BlockCount = 0, int FactorCount = 1, double Dropout = 0.0)
{
    /// <summary>Validates the configuration exactly as PEFT does and returns the resolved shape.</summary>
    /// <returns>The validated shape (d, m, k, b) with its permutation tables.</returns>
    /// <exception cref="ArgumentException">The configuration is one PEFT rejects; the message contains PEFT's text.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size is negative or the dropout probability is outside [0, 1).</exception>
    /// <remarks>Shapes beyond <see cref="ShapeLimits.MaxElementCount"/> elements per tensor are refused (ArgumentException naming d, b, m
    /// and the limit) before anything is allocated.</remarks>
    public BoftShape Resolve()
    {
        int d = FeatureCount, b = BlockSize, k = BlockCount, m = FactorCount;
        if (d <= 0)
            throw new ArgumentOutOfRangeException(nameof(FeatureCount), d, $"in_features ({d}) must be positive.");
        if (b < 0)
            throw new ArgumentOutOfRangeException(nameof(BlockSize), b, $"boft_block_size ({b}) must not be negative.");
        if (k < 0)
            throw new ArgumentOutOfRangeException(nameof(BlockCount), k, $"boft_block_num ({k}) must not be negative.");
        if (double.IsNaN(Dropout) || Dropout < 0 || Dropout >= 1)
            throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, $"boft_dropout ({Dropout}) must be in [0, 1).");

        // BOFTConfig.__post_init__. Each message carries PEFT's text first, then the wording of the golden generator
        // (boft_ref.py, recorded in config_cases.json), so that both can be matched.
        if (b == 0 && k == 0)
            throw new ArgumentException("You must specify either boft_block_size or boft_block_num. Either `boft_block_size` or `boft_block_num` must be non-zero.", nameof(BlockSize));
        if (b != 0 && k != 0)
            throw new ArgumentException($"You can only specify either boft_block_size ({b}) or boft_block_num ({k}), but not both simultaneously, because boft_block_size x boft_block_num != in_features. (You can only specify either boft_block_size or boft_block_num, but not both simultaneously)", nameof(BlockCount));

        // BOFTLayer.update_layer (N = m - 1 in PEFT's notation)
        int n = m - 1;
        if (n < 0)
            throw new ArgumentException($"You can only specify boft_n_butterfly_factor {m} to be a positive integer number.", nameof(FactorCount));
        if (b == 0)
        {
            if (d % k != 0)
                throw new ArgumentException($"in_features ({d}) must be divisible by boft_block_num ({k})!", nameof(BlockCount));
            if (n != 0)
            {
                if (n > FloorLog2(k))
                    throw new ArgumentException($"Invalid combination of boft_n_butterfly_factor ({m}) and boft_block_num ({k})!", nameof(FactorCount));
                if (k % (1 << n) != 0)
                    throw new ArgumentException($"boft_block_num ({k}) must be a multiple of 2 raised to the power of boft_n_butterfly_factor ({m})!", nameof(BlockCount));
            }
            b = d / k;
        }
        else
        {
            if (d % b != 0)
                throw new ArgumentException($"in_features ({d}) must be divisible by boft_block_size ({b})!", nameof(BlockSize));
            if (n != 0 && (n >= 31 || (long)d < (long)b << n || d % (b << n) != 0))
                throw new ArgumentException($"Invalid combination of in_features ({d}), boft_n_butterfly_factor ({m}) and boft_block_size ({b})!", nameof(FactorCount));
            k = d / b;
        }
        if (n != 0)
        {
            if (k % 2 != 0)
                throw new ArgumentException($"boft_block_num ({k}) must be an even number!", nameof(BlockCount));
            if (b % 2 != 0)
                throw new ArgumentException($"boft_block_size ({b}) must be an even number!", nameof(BlockSize));
        }
        // Sizes, in 64-bit arithmetic, before any table or tensor exists: the blocks (m·k·b²) and the permutation tables (m·d).
        string config = $"BOFT(d={d}, b={b}, m={m}, k={k})";
        ShapeLimits.Check((long)m * k * b * b, $"{config} needs m·k·b² = {m}·{k}·{b}²", nameof(BlockSize));
        ShapeLimits.Check((long)m * d, $"{config} needs permutation tables of m·d = {m}·{d}", nameof(FactorCount));
        return new BoftShape(d, m, k, b);
    }

    private static int FloorLog2(int value) => 31 - int.LeadingZeroCount(value);
}
