// The backend contract, Cayley: The batched Cayley map (exact and Cayley–Neumann), its backward and the COFT projection (docs/02_Ops/cayley.md, cayley-neumann.md, coft.md).
// Each public method validates its arguments (ShapeChecks) and calls its protected *Core hook, declared right below it.

namespace Boft.Backends;

public abstract partial class BoftBackend
{
    /// <summary>
    /// Batched Cayley map: for each output block j, builds the skew block from parameter block <c>shape.ParameterBlockOf(j)</c>
    /// and writes <c>C = (I − S)(I + S)⁻¹</c> (exact) or <c>Σ c_p S^p</c> (Cayley–Neumann). Blocks whose mask value is non-zero
    /// are set to the identity (multiplicative dropout, weight interpolation).
    /// </summary>
    /// <param name="shape">The Cayley shape.</param>
    /// <param name="parameters">Raw parameters. Shape: [parameterBlockCount, parameterBlockLength] (any dims with that length).</param>
    /// <param name="identityMask">Optional; length blockCount, 1 = replace the block by I, 0 = keep it (no other values).</param>
    /// <param name="blocks">Output. Shape: [blockCount, blockSize, blockSize] (any dims with that length).</param>
    /// <exception cref="ArgumentException">A tensor length does not match the shape.</exception>
    /// <exception cref="BackendMismatchException">A tensor belongs to another backend.</exception>
    public void CayleyForward(CayleyShape shape, Tensor parameters, Tensor? identityMask, Tensor blocks)
    {
        ArgumentNullException.ThrowIfNull(shape);
        Check(parameters, nameof(parameters));
        RequireLength(parameters, nameof(parameters), shape.ParametersLength, ShapeChecks.CayleyParametersShape(shape));
        CheckMask(shape, identityMask);
        Check(blocks, nameof(blocks));
        RequireLength(blocks, nameof(blocks), shape.BlocksLength, ShapeChecks.CayleyBlocksShape(shape));
        CayleyForwardCore(shape, parameters, identityMask, blocks);
    }

    /// <summary>See <see cref="CayleyForward"/>.</summary>
    /// <param name="shape">Shape.</param><param name="parameters">Parameters.</param><param name="identityMask">Mask.</param><param name="blocks">Output.</param>
    protected abstract void CayleyForwardCore(CayleyShape shape, Tensor parameters, Tensor? identityMask, Tensor blocks);

    /// <summary>
    /// Backward of <see cref="CayleyForward"/>: <c>gradParameters += ∂L/∂parameters</c> given <c>gradBlocks = ∂L/∂C</c>.
    /// Exact map: <c>∂L/∂S = −2 Mᵀ G Mᵀ</c> with <c>M = (I + S)⁻¹ = (C + I)/2</c> taken from <paramref name="blocks"/>;
    /// Cayley–Neumann: recomputed from <paramref name="parameters"/>. Masked blocks contribute nothing; with a shared block the
    /// copies' gradients are summed.
    /// </summary>
    /// <param name="shape">The Cayley shape.</param>
    /// <param name="parameters">The raw parameters used in the forward. Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <param name="blocks">The forward's output blocks. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="gradBlocks">∂L/∂C. Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="identityMask">The same mask as in the forward, or null.</param>
    /// <param name="gradParameters">Accumulated (+=). Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <exception cref="ArgumentException">A tensor length does not match the shape, or a mask is used with a shared block.</exception>
    /// <exception cref="BackendMismatchException">A tensor belongs to another backend.</exception>
    public void CayleyBackward(CayleyShape shape, Tensor parameters, Tensor blocks, Tensor gradBlocks, Tensor? identityMask, Tensor gradParameters)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ShapeText paramShape = ShapeChecks.CayleyParametersShape(shape);
        ShapeText blockShape = ShapeChecks.CayleyBlocksShape(shape);
        Check(parameters, nameof(parameters));
        RequireLength(parameters, nameof(parameters), shape.ParametersLength, paramShape);
        Check(blocks, nameof(blocks));
        RequireLength(blocks, nameof(blocks), shape.BlocksLength, blockShape);
        Check(gradBlocks, nameof(gradBlocks));
        RequireLength(gradBlocks, nameof(gradBlocks), shape.BlocksLength, blockShape);
        CheckMask(shape, identityMask);
        ShapeChecks.MaskAllowed(shape, identityMask is not null);
        Check(gradParameters, nameof(gradParameters));
        RequireLength(gradParameters, nameof(gradParameters), shape.ParametersLength, paramShape);
        CayleyBackwardCore(shape, parameters, blocks, gradBlocks, identityMask, gradParameters);
    }

    /// <summary>See <see cref="CayleyBackward"/>.</summary>
    /// <param name="shape">Shape.</param><param name="parameters">Parameters.</param><param name="blocks">Blocks.</param>
    /// <param name="gradBlocks">Gradient of blocks.</param><param name="identityMask">Mask.</param><param name="gradParameters">Accumulated output.</param>
    protected abstract void CayleyBackwardCore(CayleyShape shape, Tensor parameters, Tensor blocks, Tensor gradBlocks, Tensor? identityMask, Tensor gradParameters);

    /// <summary>
    /// COFT projection, in place: for each packed parameter block w with <c>Q = U − Uᵀ</c>, if <c>‖Q‖_F &gt; radius</c> then
    /// <c>w := radius · w / ‖Q‖_F</c> (PEFT OFTv2 <c>_project_batch</c>; radius = <c>eps / sqrt(r_param)</c>).
    /// </summary>
    /// <param name="shape">A <see cref="SkewKind.PackedUpper"/> Cayley shape.</param>
    /// <param name="radius">The Frobenius radius (≥ 0).</param>
    /// <param name="parameters">Projected in place. Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <exception cref="ArgumentException">The shape is not packed, or the length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The radius is negative or not finite.</exception>
    public void CoftProject(CayleyShape shape, double radius, Tensor parameters)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ShapeChecks.Coft(shape, radius);
        Check(parameters, nameof(parameters));
        RequireLength(parameters, nameof(parameters), shape.ParametersLength, ShapeChecks.CayleyParametersShape(shape));
        CoftProjectCore(shape, radius, parameters);
    }

    /// <summary>See <see cref="CoftProject"/>.</summary>
    /// <param name="shape">Shape.</param><param name="radius">Radius.</param><param name="parameters">Parameters.</param>
    protected abstract void CoftProjectCore(CayleyShape shape, double radius, Tensor parameters);
}
