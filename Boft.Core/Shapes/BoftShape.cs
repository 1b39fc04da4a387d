// The validated BOFT shape (d, m, k, b). Create it with BoftConfig.Resolve(); see docs/01_Concepts.md.

namespace Boft;

/// <summary>
/// A validated BOFT(m, b) shape: d = k·b features, m butterfly factors of k blocks of size b each.
/// Parameter layout (PEFT): <c>boft_R</c> has shape [m, k, b, b] (raw, unconstrained), <c>boft_s</c> has shape [n, 1].
/// </summary>
public sealed class BoftShape : IEquatable<BoftShape>
{
    internal BoftShape(int featureCount, int factorCount, int blockCount, int blockSize)
    {
        FeatureCount = featureCount;
        FactorCount = factorCount;
        BlockCount = blockCount;
        BlockSize = blockSize;
        Permutations = new ButterflyPermutations(featureCount, factorCount, blockSize);
        Rotation = new RotationShape(featureCount, factorCount, blockCount, blockSize, Permutations);
        Cayley = new CayleyShape(factorCount * blockCount, blockSize, SkewKind.HalfDifference, null, shared: false);
    }

    /// <summary>d, the in-features of the adapted layer.</summary>
    public int FeatureCount { get; }

    /// <summary>m, the number of butterfly factors (PEFT <c>boft_n_butterfly_factor</c>).</summary>
    public int FactorCount { get; }

    /// <summary>k, the number of blocks per factor (PEFT <c>boft_block_num</c>).</summary>
    public int BlockCount { get; }

    /// <summary>b, the block size (PEFT <c>boft_block_size</c>).</summary>
    public int BlockSize { get; }

    /// <summary>The butterfly permutation tables.</summary>
    public ButterflyPermutations Permutations { get; }

    /// <summary>The rotation shape the kernels take.</summary>
    public RotationShape Rotation { get; }

    /// <summary>The Cayley shape the kernels take: m·k raw b×b blocks, <c>S = (A − Aᵀ)/2</c>, exact Cayley.</summary>
    public CayleyShape Cayley { get; }

    /// <summary>The size of the dense diagonal blocks of R: <c>b·2^(m−1)</c>.</summary>
    public int DenseBlockSize => checked((int)((long)BlockSize << (FactorCount - 1)));

    /// <summary>Whether R is a dense d×d matrix: exactly when <c>k = 2^(m−1)</c>, i.e. <c>m = log2(d/b) + 1</c>.</summary>
    public bool IsDense => DenseBlockSize == FeatureCount;

    /// <summary>Number of raw block scalars PEFT stores: <c>m·k·b²</c>.</summary>
    public int RawParameterCount => checked(FactorCount * BlockCount * BlockSize * BlockSize);

    /// <summary>Trainable scalars PEFT stores for a layer with <paramref name="outFeatureCount"/> outputs: <c>m·k·b² + n</c>.</summary>
    /// <param name="outFeatureCount">n.</param>
    /// <returns>The stored parameter count.</returns>
    public long StoredParameterCount(int outFeatureCount) => RawParameterCount + (long)outFeatureCount;

    /// <summary>The paper's effective count (skew degrees of freedom): <c>m·k·b(b−1)/2 = ½(b−1)·d·m</c>.</summary>
    public int EffectiveParameterCount => (int)((long)FactorCount * BlockCount * BlockSize * (BlockSize - 1) / 2);

    /// <inheritdoc />
    public bool Equals(BoftShape? other) =>
        other is not null && FeatureCount == other.FeatureCount && FactorCount == other.FactorCount &&
        BlockCount == other.BlockCount && BlockSize == other.BlockSize;

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as BoftShape);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(FeatureCount, FactorCount, BlockCount, BlockSize);

    /// <inheritdoc />
    public override string ToString() => $"BOFT(m={FactorCount}, b={BlockSize}; d={FeatureCount}, k={BlockCount})";
}
