// OFT (PEFT >= 0.16 "OFTv2") configuration, resolved once into a validated OftShape.
// Messages follow PEFT's OFTConfig.__post_init__ and OFTLayer.update_layer; PEFT's silent block-size
// adjustment (adjust_oft_parameters) is available only through AdjustInvalidBlockSize.

namespace Boft;

/// <summary>How OFT turns a skew-symmetric block Q into an (approximately) orthogonal block.</summary>
public enum Orthogonalization
{
    /// <summary>Exact Cayley transform <c>C = (I − Q)(I + Q)⁻¹</c> (PEFT <c>use_cayley_neumann=False</c>).</summary>
    ExactCayley,

    /// <summary>Truncated Cayley–Neumann series <c>C = Σ c_p Q^p</c> (PEFT <c>use_cayley_neumann=True</c>, the PEFT default).
    /// Note the opposite sign convention to the exact map (boft-spec §3.4).</summary>
    CayleyNeumann,
}

/// <summary>Which PEFT release's Cayley–Neumann coefficients to use.</summary>
public enum NeumannVariant
{
    /// <summary>PEFT ≥ 0.18: <c>[1, 2, …, 2, 1]</c> (degree T−1; T = 3 quirk gives <c>[1, 2, 2, 1]</c>).</summary>
    Peft018,

    /// <summary>PEFT 0.16–0.17: <c>[1, 2, …, 2]</c> (degree T−1).</summary>
    Peft016,
}

/// <summary>
/// The user-facing OFT configuration for one linear layer, with PEFT's names: exactly one of
/// <see cref="BlockSize"/> (<c>oft_block_size</c>) and <see cref="BlockCount"/> (<c>r</c>) is non-zero.
/// </summary>
/// <param name="FeatureCount">In-features d of the adapted layer.</param>
/// <param name="BlockSize">Block size b (PEFT <c>oft_block_size</c>, default 32), or 0 when <paramref name="BlockCount"/> is given.</param>
/// <param name="BlockCount">Number of blocks r (PEFT <c>r</c>), or 0 when <paramref name="BlockSize"/> is given.</param>
/// <param name="BlockShare">One block shared by all r positions (PEFT <c>block_share</c>).</param>
/// <param name="Orthogonalization">Exact Cayley or Cayley–Neumann (PEFT default: Cayley–Neumann).</param>
/// <param name="NeumannTerms">Number of Cayley–Neumann terms T (PEFT <c>num_cayley_neumann_terms</c>, default 5).</param>
/// <param name="NeumannVariant">Coefficient variant of the series.</param>
/// <param name="Coft">Constrained OFT: project each block onto a Frobenius ball before every forward (PEFT <c>coft</c>).</param>
/// <param name="Eps">COFT radius parameter (PEFT <c>eps</c>, default 6e-5); the radius is <c>eps / sqrt(r_param)</c>.</param>
/// <param name="AdjustInvalidBlockSize">Opt into PEFT's silent replacement of an invalid block size (or r) by the nearest divisor of d.
/// Off by default: an invalid size is then an error naming the nearest valid sizes.</param>
public sealed record OftConfig(
    int FeatureCount,
    int BlockSize = 32,
    int BlockCount = 0,
    bool BlockShare = false,
    Orthogonalization Orthogonalization = Orthogonalization.CayleyNeumann,
    int NeumannTerms = 5,
    NeumannVariant NeumannVariant = NeumannVariant.Peft018,
    bool Coft = false,
    double Eps = 6e-5,
    bool AdjustInvalidBlockSize = false)
{
    /// <summary>Validates the configuration as PEFT does and returns the resolved shape.</summary>
    /// <returns>The validated shape.</returns>
    /// <exception cref="ArgumentException">The configuration is one PEFT rejects (message contains PEFT's text), or the block size
    /// (or r) does not divide d and <see cref="AdjustInvalidBlockSize"/> is off.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size or term count is negative, or <see cref="Eps"/> is negative or not finite.</exception>
    public OftShape Resolve()
    {
        int d = FeatureCount, b = BlockSize, r = BlockCount;
        if (d <= 0)
            throw new ArgumentOutOfRangeException(nameof(FeatureCount), d, $"in_features ({d}) must be positive.");
        if (b < 0)
            throw new ArgumentOutOfRangeException(nameof(BlockSize), b, $"oft_block_size ({b}) must not be negative.");
        if (r < 0)
            throw new ArgumentOutOfRangeException(nameof(BlockCount), r, $"r ({r}) must not be negative.");
        if (NeumannTerms < 0)
            throw new ArgumentOutOfRangeException(nameof(NeumannTerms), NeumannTerms, $"num_cayley_neumann_terms ({NeumannTerms}) must not be negative.");
        if (!double.IsFinite(Eps) || Eps < 0)
            throw new ArgumentOutOfRangeException(nameof(Eps), Eps, $"eps ({Eps}) must be a finite non-negative number.");

        if (r == 0 && b == 0)
            throw new ArgumentException($"Either `r` or `oft_block_size` must be non-zero. Currently, r = {r} and oft_block_size = {b}.", nameof(BlockSize));
        if (r != 0 && b != 0)
            throw new ArgumentException($"You can only specify either r ({r}) or oft_block_size ({b}), but not both simultaneously, because r x oft_block_size == in_features.", nameof(BlockCount));

        if (r == 0)
        {
            if (d % b != 0 || b > d)
            {
                int adjusted = AdjustOftParameter(d, b);
                if (!AdjustInvalidBlockSize)
                    throw new ArgumentException(InvalidSizeMessage("oft_block_size", b, d, adjusted), nameof(BlockSize));
                b = adjusted;
            }
            r = d / b;
        }
        else
        {
            if (d % r != 0 || r > d)
            {
                int adjusted = AdjustOftParameter(d, r);
                if (!AdjustInvalidBlockSize)
                    throw new ArgumentException(InvalidSizeMessage("r", r, d, adjusted), nameof(BlockCount));
                r = adjusted;
            }
            b = d / r;
        }
        double[]? coefficients = Orthogonalization == Orthogonalization.CayleyNeumann
            ? NeumannCoefficients(NeumannTerms, NeumannVariant)
            : null;
        // The blocks tensor has r·b² = d·b elements; checked in 64-bit arithmetic before anything is allocated.
        ShapeLimits.Check((long)r * b * b, $"OFT(d={d}, b={b}, r={r}) needs r·b² = {r}·{b}²", nameof(BlockSize));
        return new OftShape(d, r, b, BlockShare, Orthogonalization, coefficients, Coft, Eps);
    }

    /// <summary>Coefficients <c>c_0..c_p</c> of <c>C = Σ c_p Q^p</c> in PEFT's Cayley–Neumann path (boft-spec §3.4).</summary>
    /// <param name="terms">T, PEFT's <c>num_cayley_neumann_terms</c>.</param>
    /// <param name="variant">The PEFT release whose coefficients to use.</param>
    /// <returns>A new array of coefficients, <c>c_0 = 1</c> first.</returns>
    public static double[] NeumannCoefficients(int terms, NeumannVariant variant)
    {
        if (terms <= 1)
            return [1.0];
        if (terms == 2)
            return [1.0, 2.0];
        if (variant == NeumannVariant.Peft016)
            return [1.0, .. Enumerable.Repeat(2.0, terms - 1)];
        if (terms == 3)
            return [1.0, 2.0, 2.0, 1.0]; // PEFT >= 0.18 quirk: the loop range(3, T-1) is empty but Q^3 is still added.
        return [1.0, .. Enumerable.Repeat(2.0, terms - 2), 1.0];
    }

    /// <summary>PEFT's <c>adjust_oft_parameters</c>: the divisor of <paramref name="featureCount"/> nearest to
    /// <paramref name="value"/> (ties go to the lower one), or <paramref name="featureCount"/> when <paramref name="value"/> ≥ it.</summary>
    /// <param name="featureCount">d.</param>
    /// <param name="value">The requested block size or block count.</param>
    /// <returns>The adjusted value.</returns>
    public static int AdjustOftParameter(int featureCount, int value)
    {
        if (value >= featureCount)
            return featureCount;
        int higher = value;
        while (higher <= featureCount && featureCount % higher != 0)
            higher++;
        int lower = value;
        while (lower > 1 && featureCount % lower != 0)
            lower--;
        return value - lower <= higher - value ? lower : higher;
    }

    private static string InvalidSizeMessage(string name, int value, int d, int adjusted)
    {
        int lower = Math.Min(value, d);
        while (lower > 1 && d % lower != 0)
            lower--;
        int higher = Math.Min(value, d);
        while (higher < d && d % higher != 0)
            higher++;
        string nearest = lower == higher ? $"{lower}" : $"{lower} and {higher}";
        return $"Invalid `{name}` ({value})! in_features ({d}) is not divisible by it; the nearest valid values are {nearest}. " +
               $"PEFT would silently adjust `{name}` to ({adjusted}); set AdjustInvalidBlockSize = true to do the same.";
    }
}
