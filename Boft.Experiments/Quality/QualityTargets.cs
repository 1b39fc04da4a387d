// The target rotations of the quality experiment (docs/04_Benchmarking.md §Quality at equal budget). Each is a d×d
// orthogonal matrix with det +1, row-major, applied like the adapter's R (x → x·T), built reproducibly from a seed:
//   cross-block mixing: a product of d/8 Givens rotations between coordinate pairs (i, j) with i < d/2 ≤ j (so in different
//     blocks of every OFT(b) with b ≤ d/2), angles uniform in [π/8, π/4]; and a signed random permutation with det +1;
//   structured transforms: the orthonormal DCT-II and the normalised Sylvester–Hadamard matrix (d a power of two), their
//     det fixed to +1 by negating the last row when needed;
//   finetuning-like: exp(εK) for a random skew K scaled to ‖K‖₂ = 1 (so ‖εK‖₂ = ε), ε ∈ {0.3, 1.0}; and a Haar-random
//     rotation (QR of a Gaussian matrix with R's diagonal positive, det fixed to +1).

namespace Boft.Experiments.Quality;

/// <summary>A named target rotation.</summary>
/// <param name="Name">Short name used in tables and JSON (e.g. <c>givens-cross</c>).</param>
/// <param name="Family">cross-block, structured or finetuning-like.</param>
/// <param name="FeatureCount">d.</param>
/// <param name="Matrix">The d×d rotation, row-major.</param>
public sealed record QualityTarget(string Name, string Family, int FeatureCount, double[] Matrix)
{
    /// <summary>The no-fit error ‖I − T‖_F / ‖T‖_F (R = I).</summary>
    public double NoFitError
    {
        get
        {
            double[] identity = DenseMatrix.Identity(FeatureCount);
            return DenseMatrix.FrobeniusDistance(identity, Matrix) / DenseMatrix.Frobenius(Matrix);
        }
    }
}

/// <summary>Builds the targets.</summary>
public static class QualityTargets
{
    /// <summary>Names of every target, in table order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["givens-cross", "signed-permutation", "dct", "hadamard", "small-0.3", "small-1.0", "haar"];

    /// <summary>Every target for <paramref name="d"/> (Hadamard only when d is a power of two).</summary>
    /// <param name="d">Feature count (even, ≥ 4).</param>
    /// <param name="seed">Seed of the random targets.</param>
    /// <returns>The targets.</returns>
    public static IReadOnlyList<QualityTarget> All(int d, int seed) =>
        Names.Where(n => n != "hadamard" || (d & (d - 1)) == 0).Select(n => Create(n, d, seed)).ToList();

    /// <summary>One target by name.</summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <param name="d">Feature count (even, ≥ 4; a power of two for <c>hadamard</c>).</param>
    /// <param name="seed">Seed of the random targets.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentException">Unknown name, or d does not suit the target.</exception>
    public static QualityTarget Create(string name, int d, int seed)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (d < 4 || d % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(d), d, $"d ({d}) must be even and at least 4.");
        // A stable seed (HashCode.Combine is randomised per process, so it would break reproducibility across runs).
        int nameHash = name.Aggregate(17, (h, c) => unchecked(h * 31 + c));
        var random = new Random(unchecked(seed * 1_000_003 + d * 7_919 + nameHash));
        return name switch
        {
            "givens-cross" => new(name, "cross-block", d, GivensCross(d, random)),
            "signed-permutation" => new(name, "cross-block", d, SignedPermutation(d, random)),
            "dct" => new(name, "structured", d, FixDeterminant(Dct(d), d)),
            "hadamard" => new(name, "structured", d, FixDeterminant(Hadamard(d), d)),
            "small-0.3" => new(name, "finetuning-like", d, SmallRotation(d, 0.3, random)),
            "small-1.0" => new(name, "finetuning-like", d, SmallRotation(d, 1.0, random)),
            "haar" => new(name, "finetuning-like", d, FixDeterminant(DenseMatrix.OrthonormalColumns(Gaussian(d * d, random), d), d)),
            _ => throw new ArgumentException($"Unknown target '{name}'. Choose one of: {string.Join(", ", Names)}.", nameof(name)),
        };
    }

    private static double[] GivensCross(int d, Random random)
    {
        double[] t = DenseMatrix.Identity(d);
        int[] low = Enumerable.Range(0, d / 2).ToArray(), high = Enumerable.Range(d / 2, d / 2).ToArray();
        random.Shuffle(low);
        random.Shuffle(high);
        for (int r = 0; r < Math.Max(1, d / 8); r++)
        {
            int i = low[r], j = high[r];
            double angle = Math.PI / 8 + random.NextDouble() * Math.PI / 8;
            double c = Math.Cos(angle), s = Math.Sin(angle);
            // T ← T·G(i, j, angle): columns i and j mix.
            for (int row = 0; row < d; row++)
            {
                double a = t[row * d + i], b = t[row * d + j];
                t[row * d + i] = c * a - s * b;
                t[row * d + j] = s * a + c * b;
            }
        }
        return t;
    }

    private static double[] SignedPermutation(int d, Random random)
    {
        int[] p = Enumerable.Range(0, d).ToArray();
        random.Shuffle(p);
        var t = new double[d * d];
        for (int i = 0; i < d; i++)
            t[i * d + p[i]] = random.Next(2) == 0 ? -1 : 1;
        return FixDeterminant(t, d);
    }

    private static double[] Dct(int d)
    {
        var t = new double[d * d];
        for (int k = 0; k < d; k++)
            for (int n = 0; n < d; n++)
                t[k * d + n] = Math.Sqrt((k == 0 ? 1.0 : 2.0) / d) * Math.Cos(Math.PI * (2 * n + 1) * k / (2.0 * d));
        return t;
    }

    private static double[] Hadamard(int d)
    {
        if ((d & (d - 1)) != 0)
            throw new ArgumentException($"The Hadamard target needs d a power of two; d is {d}.", nameof(d));
        var t = new double[d * d];
        double scale = 1 / Math.Sqrt(d);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                t[i * d + j] = (System.Numerics.BitOperations.PopCount((uint)(i & j)) % 2 == 0 ? 1 : -1) * scale;
        return t;
    }

    private static double[] SmallRotation(int d, double epsilon, Random random)
    {
        double[] g = Gaussian(d * d, random);
        var k = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                k[i * d + j] = g[i * d + j] - g[j * d + i];
        double norm = DenseMatrix.SpectralNorm(k, d);
        for (int i = 0; i < k.Length; i++)
            k[i] *= epsilon / norm;
        return DenseMatrix.Exponential(k, d);
    }

    private static double[] FixDeterminant(double[] t, int d)
    {
        if (DenseMatrix.Determinant(t, d) < 0)
            for (int j = 0; j < d; j++)
                t[(d - 1) * d + j] = -t[(d - 1) * d + j];
        return t;
    }

    private static double[] Gaussian(int length, Random random)
    {
        var values = new double[length];
        for (int i = 0; i < length; i++)
            values[i] = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return values;
    }
}
