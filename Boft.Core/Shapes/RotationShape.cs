// The kernel-level description of a rotation R = F_{m−1} … F_0 (BOFT) or R = blockdiag(C) (OFT: m = 1).

namespace Boft;

/// <summary>
/// What the rotation kernels need: d features, m factors of k blocks of size b, and the butterfly permutation tables.
/// Blocks are passed factor-major with shape [factorCount, blockCount, blockSize, blockSize] (row-major b×b blocks).
/// <c>F_i = P_i D_i P_iᵀ</c>, <c>R = F_{m−1} … F_0</c>; a row vector meets <c>F_{m−1}</c> first.
/// Two shapes are equal when (d, m, k, b) are equal (the tables are derived from them).
/// </summary>
public sealed class RotationShape : IEquatable<RotationShape>
{
    /// <summary>Creates a rotation shape; normally obtained from <see cref="BoftShape.Rotation"/> or <see cref="OftShape.Rotation"/>.</summary>
    /// <param name="featureCount">d = k·b.</param>
    /// <param name="factorCount">m ≥ 1.</param>
    /// <param name="blockCount">k.</param>
    /// <param name="blockSize">b.</param>
    /// <param name="permutations">The m permutation tables of length d.</param>
    /// <exception cref="ArgumentException">The sizes are inconsistent.</exception>
    public RotationShape(int featureCount, int factorCount, int blockCount, int blockSize, ButterflyPermutations permutations)
    {
        ArgumentNullException.ThrowIfNull(permutations);
        if (featureCount <= 0 || factorCount <= 0 || blockCount <= 0 || blockSize <= 0 || (long)blockCount * blockSize != featureCount)
            throw new ArgumentException($"Inconsistent rotation shape: d={featureCount}, m={factorCount}, k={blockCount}, b={blockSize} (need d = k·b > 0).");
        if (permutations.FeatureCount != featureCount || permutations.FactorCount != factorCount)
            throw new ArgumentException($"permutations are for d={permutations.FeatureCount}, m={permutations.FactorCount} but the shape has d={featureCount}, m={factorCount}.", nameof(permutations));
        FeatureCount = featureCount;
        FactorCount = factorCount;
        BlockCount = blockCount;
        BlockSize = blockSize;
        Permutations = permutations;
    }

    /// <summary>d.</summary>
    public int FeatureCount { get; }

    /// <summary>m.</summary>
    public int FactorCount { get; }

    /// <summary>k, blocks per factor.</summary>
    public int BlockCount { get; }

    /// <summary>b.</summary>
    public int BlockSize { get; }

    /// <summary>The permutation tables (identity for every factor when m = 1).</summary>
    public ButterflyPermutations Permutations { get; }

    /// <summary>m·k, the number of blocks.</summary>
    public int TotalBlockCount => checked(FactorCount * BlockCount);

    /// <summary>m·k·b², the length of the blocks tensor.</summary>
    public int BlocksLength => checked(TotalBlockCount * BlockSize * BlockSize);

    /// <inheritdoc />
    public bool Equals(RotationShape? other) =>
        other is not null && FeatureCount == other.FeatureCount && FactorCount == other.FactorCount &&
        BlockCount == other.BlockCount && BlockSize == other.BlockSize;

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as RotationShape);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(FeatureCount, FactorCount, BlockCount, BlockSize);

    /// <inheritdoc />
    public override string ToString() => $"Rotation(d={FeatureCount}, m={FactorCount}, k={BlockCount}, b={BlockSize})";
}
