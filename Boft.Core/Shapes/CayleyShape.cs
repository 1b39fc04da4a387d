// The kernel-level description of a batched Cayley map: raw parameters -> skew blocks -> orthogonal blocks.

namespace Boft;

/// <summary>How raw parameters become a skew-symmetric block.</summary>
public enum SkewKind
{
    /// <summary>BOFT: full raw b×b block A, <c>S = (A − Aᵀ)/2</c>. Parameter block length b².</summary>
    HalfDifference,

    /// <summary>OFTv2: packed strict upper triangle w (row-major <c>triu_indices(b, b, 1)</c> order),
    /// <c>U[r_t, c_t] = w_t</c>, <c>Q = U − Uᵀ</c> (no ½). Parameter block length b(b−1)/2.</summary>
    PackedUpper,
}

/// <summary>
/// A batch of Cayley maps: <see cref="BlockCount"/> output blocks b×b from <see cref="ParameterBlockCount"/> parameter blocks.
/// Exact map (no coefficients): <c>C = (I − S)(I + S)⁻¹</c>. Cayley–Neumann: <c>C = Σ_p c_p S^p</c>.
/// With <see cref="Shared"/>, every output block uses parameter block 0 (OFT <c>block_share</c>).
/// </summary>
public sealed class CayleyShape : IEquatable<CayleyShape>
{
    private readonly double[] coefficients;

    /// <summary>Creates a Cayley shape; normally obtained from <see cref="BoftShape.Cayley"/> or <see cref="OftShape.Cayley"/>.</summary>
    /// <param name="blockCount">Number of output blocks.</param>
    /// <param name="blockSize">b.</param>
    /// <param name="skew">The skew map.</param>
    /// <param name="neumannCoefficients">Cayley–Neumann coefficients <c>c_0..c_p</c>, or null for the exact map.</param>
    /// <param name="shared">Whether all output blocks share parameter block 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive.</exception>
    public CayleyShape(int blockCount, int blockSize, SkewKind skew, double[]? neumannCoefficients, bool shared)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        BlockCount = blockCount;
        BlockSize = blockSize;
        Skew = skew;
        Shared = shared;
        coefficients = neumannCoefficients is null ? [] : (double[])neumannCoefficients.Clone();
    }

    /// <summary>Number of output blocks.</summary>
    public int BlockCount { get; }

    /// <summary>b.</summary>
    public int BlockSize { get; }

    /// <summary>The skew map.</summary>
    public SkewKind Skew { get; }

    /// <summary>Whether all output blocks share parameter block 0.</summary>
    public bool Shared { get; }

    /// <summary>True for the exact Cayley map, false for Cayley–Neumann.</summary>
    public bool IsExact => coefficients.Length == 0;

    /// <summary>Cayley–Neumann coefficients <c>c_0..c_p</c> (empty for the exact map).</summary>
    public ReadOnlySpan<double> NeumannCoefficients => coefficients;

    /// <summary>Number of parameter blocks: 1 when shared, else <see cref="BlockCount"/>.</summary>
    public int ParameterBlockCount => Shared ? 1 : BlockCount;

    /// <summary>Length of one parameter block: b² (<see cref="SkewKind.HalfDifference"/>) or b(b−1)/2 (<see cref="SkewKind.PackedUpper"/>).</summary>
    public int ParameterBlockLength => checked(Skew == SkewKind.HalfDifference ? BlockSize * BlockSize : (int)((long)BlockSize * (BlockSize - 1) / 2));

    /// <summary>Length of the parameter tensor.</summary>
    public int ParametersLength => checked(ParameterBlockCount * ParameterBlockLength);

    /// <summary>Length of the blocks tensor: BlockCount·b².</summary>
    public int BlocksLength => checked(BlockCount * BlockSize * BlockSize);

    /// <summary>The parameter block used by output block <paramref name="block"/>.</summary>
    /// <param name="block">An output block index.</param>
    /// <returns>0 when shared, else <paramref name="block"/>.</returns>
    public int ParameterBlockOf(int block) => Shared ? 0 : block;

    /// <inheritdoc />
    public bool Equals(CayleyShape? other) =>
        other is not null && BlockCount == other.BlockCount && BlockSize == other.BlockSize && Skew == other.Skew &&
        Shared == other.Shared && coefficients.AsSpan().SequenceEqual(other.coefficients);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as CayleyShape);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(BlockCount, BlockSize, Skew, Shared, coefficients.Length);

    /// <inheritdoc />
    public override string ToString() =>
        $"Cayley(blocks={BlockCount}, b={BlockSize}, {Skew}, {(IsExact ? "exact" : $"neumann[{string.Join(",", coefficients)}]")}{(Shared ? ", shared" : "")})";
}
