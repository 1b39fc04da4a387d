// A method and its shape as the benchmarks name them: BOFT(m, b) with m butterfly factors of b×b blocks, or OFT(b) (one
// factor, packed skew, exact Cayley like BOFT so the two differ only in structure).

using Boft.Backends;

namespace Boft.Experiments.Analysis;

/// <summary>BOFT with <paramref name="FactorCount"/> factors of <paramref name="BlockSize"/>×<paramref name="BlockSize"/> blocks, or OFT (one factor) with block b.</summary>
/// <param name="Method"><c>boft</c> or <c>oft</c> (the JSON <c>method</c>).</param>
/// <param name="FactorCount">m (1 for OFT).</param>
/// <param name="BlockSize">b.</param>
public sealed record MethodConfig(string Method, int FactorCount, int BlockSize)
{
    /// <summary>BOFT(m, b).</summary>
    /// <param name="m">Butterfly factors.</param>
    /// <param name="b">Block size.</param>
    /// <returns>The configuration.</returns>
    public static MethodConfig Boft(int m, int b) => new("boft", m, b);

    /// <summary>OFT(b).</summary>
    /// <param name="b">Block size.</param>
    /// <returns>The configuration.</returns>
    public static MethodConfig Oft(int b) => new("oft", 1, b);

    /// <summary>Whether this is BOFT.</summary>
    public bool IsBoft => Method == "boft";

    /// <inheritdoc />
    public override string ToString() => IsBoft ? $"BOFT({FactorCount},{BlockSize})" : $"OFT({BlockSize})";

    /// <summary>The BOFT configuration on d features (this must be BOFT).</summary>
    /// <param name="d">Feature count.</param>
    /// <returns>The configuration.</returns>
    public BoftConfig BoftConfig(int d) => new(d, BlockSize: BlockSize, FactorCount: FactorCount);

    /// <summary>The OFT configuration on d features (exact Cayley; this must be OFT).</summary>
    /// <param name="d">Feature count.</param>
    /// <returns>The configuration.</returns>
    public OftConfig OftConfig(int d) => new(d, BlockSize: BlockSize, Orthogonalization: Orthogonalization.ExactCayley);

    /// <summary>The Cayley and rotation shapes on d features.</summary>
    /// <param name="d">Feature count.</param>
    /// <returns>The shapes.</returns>
    /// <exception cref="ArgumentException">The shape is not valid for d.</exception>
    public (CayleyShape Cayley, RotationShape Rotation) Shapes(int d)
    {
        if (IsBoft)
        {
            BoftShape shape = BoftConfig(d).Resolve();
            return (shape.Cayley, shape.Rotation);
        }
        OftShape oft = OftConfig(d).Resolve();
        return (oft.Cayley, oft.Rotation);
    }

    /// <summary>Skew degrees of freedom (the paper's parameter count): m·d·(b−1)/2.</summary>
    /// <param name="d">Feature count.</param>
    /// <returns>The count.</returns>
    public long EffectiveParameters(int d) => (long)FactorCount * d * (BlockSize - 1) / 2;

    /// <summary>Rotation scalars stored and trained: BOFT m·d·b (full raw blocks, PEFT's boft_R), OFT d·(b−1)/2 (packed).</summary>
    /// <param name="d">Feature count.</param>
    /// <returns>The count.</returns>
    public long StoredParameters(int d) => IsBoft ? (long)FactorCount * d * BlockSize : (long)d * (BlockSize - 1) / 2;

    /// <summary>Whether BOFT(m, b) reaches its dense limit m = log2(d/b) + 1 (every output depends on every input), or OFT has one block.</summary>
    /// <param name="d">Feature count.</param>
    /// <returns>True when dense.</returns>
    public bool IsDense(int d) => IsBoft ? BlockSize > 0 && d % BlockSize == 0 && FactorCount >= DenseFactorCount(d, BlockSize) : BlockSize == d;

    /// <summary>The dense limit log2(d/b) + 1 of BOFT with block b.</summary>
    /// <param name="d">Feature count.</param>
    /// <param name="b">Block size.</param>
    /// <returns>m at which the butterfly is dense.</returns>
    public static int DenseFactorCount(int d, int b) => (int)Math.Round(Math.Log2((double)d / b)) + 1;

    /// <summary>Whether the shape is valid for d (validated by the layer configuration, no adjustment).</summary>
    /// <param name="d">Feature count.</param>
    /// <returns>True when valid.</returns>
    public bool IsValidFor(int d)
    {
        try
        {
            (CayleyShape cayley, _) = Shapes(d);
            return cayley.BlockSize == BlockSize;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
