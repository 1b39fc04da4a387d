// The validated OFT (PEFT >= 0.16) shape. Create it with OftConfig.Resolve(); see docs/01_Concepts.md.

namespace Boft;

/// <summary>
/// A validated OFT shape: d = r·b features, r blocks of size b (one shared block with <see cref="BlockShare"/>).
/// Parameter layout (PEFT OFTv2): <c>weight</c> has shape [r_param, b(b−1)/2], the strict upper triangle of each block in
/// row-major order; <c>Q = U − Uᵀ</c>. There is no scale vector.
/// </summary>
public sealed class OftShape : IEquatable<OftShape>
{
    internal OftShape(int featureCount, int blockCount, int blockSize, bool blockShare, Orthogonalization orthogonalization,
        double[]? neumannCoefficients, bool coft, double eps)
    {
        FeatureCount = featureCount;
        BlockCount = blockCount;
        BlockSize = blockSize;
        BlockShare = blockShare;
        Orthogonalization = orthogonalization;
        Coft = coft;
        Eps = eps;
        Rotation = new RotationShape(featureCount, 1, blockCount, blockSize, new ButterflyPermutations(featureCount, 1, blockSize));
        Cayley = new CayleyShape(blockCount, blockSize, SkewKind.PackedUpper, neumannCoefficients, blockShare);
    }

    /// <summary>d, the in-features of the adapted layer.</summary>
    public int FeatureCount { get; }

    /// <summary>r, the number of diagonal blocks of R (PEFT <c>r</c>).</summary>
    public int BlockCount { get; }

    /// <summary>b, the block size (PEFT <c>oft_block_size</c>).</summary>
    public int BlockSize { get; }

    /// <summary>Whether one block is shared by all r positions (PEFT <c>block_share</c>).</summary>
    public bool BlockShare { get; }

    /// <summary>Exact Cayley or Cayley–Neumann.</summary>
    public Orthogonalization Orthogonalization { get; }

    /// <summary>Cayley–Neumann coefficients <c>c_0..c_p</c>, or an empty span for the exact map.</summary>
    public ReadOnlySpan<double> NeumannCoefficients => Cayley.NeumannCoefficients;

    /// <summary>Whether COFT projects the parameters before every forward.</summary>
    public bool Coft { get; }

    /// <summary>COFT radius parameter; the Frobenius radius per block is <c>eps / sqrt(r_param)</c>.</summary>
    public double Eps { get; }

    /// <summary>The COFT Frobenius radius <c>eps / sqrt(r_param)</c>.</summary>
    public double CoftRadius => Eps / Math.Sqrt(ParameterBlockCount);

    /// <summary>r_param: 1 with block sharing, else r.</summary>
    public int ParameterBlockCount => BlockShare ? 1 : BlockCount;

    /// <summary>b(b−1)/2, the packed length of one block's parameters.</summary>
    public int PackedBlockLength => checked((int)((long)BlockSize * (BlockSize - 1) / 2));

    /// <summary>Trainable scalars PEFT stores: <c>r_param·b(b−1)/2</c>.</summary>
    public int StoredParameterCount => checked(ParameterBlockCount * PackedBlockLength);

    /// <summary>The rotation shape the kernels take (one factor, identity permutation).</summary>
    public RotationShape Rotation { get; }

    /// <summary>The Cayley shape the kernels take.</summary>
    public CayleyShape Cayley { get; }

    /// <inheritdoc />
    public bool Equals(OftShape? other) =>
        other is not null && FeatureCount == other.FeatureCount && BlockCount == other.BlockCount && BlockSize == other.BlockSize &&
        BlockShare == other.BlockShare && Coft == other.Coft && Eps.Equals(other.Eps) && Cayley.Equals(other.Cayley);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as OftShape);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(FeatureCount, BlockCount, BlockSize, BlockShare, Cayley);

    /// <inheritdoc />
    public override string ToString() =>
        $"OFT(b={BlockSize}, r={BlockCount}{(BlockShare ? ", shared" : "")}, {Orthogonalization}{(Cayley.IsExact ? "" : $" degree {NeumannCoefficients.Length - 1}")}{(Coft ? $", COFT eps={Eps}" : "")}; d={FeatureCount})";
}
