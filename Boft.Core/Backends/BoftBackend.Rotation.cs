// The backend contract, Rotation: The butterfly rotation without forming R, forward and backward (docs/02_Ops/rotation.md).
// Each public method validates its arguments (ShapeChecks) and calls its protected *Core hook, declared right below it.

namespace Boft.Backends;

public abstract partial class BoftBackend
{
    /// <summary>
    /// Applies the rotation to rows without forming R: <c>output = input · R</c> (or <c>input · Rᵀ</c> with
    /// <paramref name="transpose"/>), all m factors fused, permutations applied as gathers.
    /// <paramref name="output"/> may be the same tensor as <paramref name="input"/>.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="input">Rows. Shape: [..., featureCount].</param>
    /// <param name="blocks">Orthogonal blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="transpose">Apply Rᵀ instead of R.</param>
    /// <param name="output">Rows. Same shape as <paramref name="input"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void Rotate(RotationShape shape, Tensor input, Tensor blocks, bool transpose, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int rows = RequireRows(input, nameof(input), shape.FeatureCount, ShapeChecks.RotationRowsReason(shape), activation: true);
        RequireSixteenBitPath(SixteenBitOperation.Rotation, input, nameof(input));
        CheckBlocks(shape, blocks, nameof(blocks));
        CheckActivation(output, nameof(output), input, nameof(input));
        RequireSameShape(output, nameof(output), input, nameof(input));
        RotateCore(shape, input, blocks, transpose, output, rows);
    }

    /// <summary>See <see cref="Rotate"/>.</summary>
    /// <param name="shape">Shape.</param><param name="input">Input.</param><param name="blocks">Blocks.</param>
    /// <param name="transpose">Transpose.</param><param name="output">Output.</param><param name="rowCount">Rows.</param>
    protected abstract void RotateCore(RotationShape shape, Tensor input, Tensor blocks, bool transpose, Tensor output, int rowCount);

    /// <summary>
    /// Backward of <c>output = input · R</c>: <c>gradInput = gradOutput · Rᵀ</c> and
    /// <c>gradBlocks[i, j] = Σ_rows w_i[:, blk j]ᵀ · g_v[:, blk j]</c> (both overwritten; boft-spec §5), reduced deterministically.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="input">The forward's input rows. Shape: [..., featureCount].</param>
    /// <param name="blocks">The forward's blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="gradOutput">∂L/∂output. Same shape as <paramref name="input"/>.</param>
    /// <param name="gradInput">Overwritten with ∂L/∂input. Same shape as <paramref name="input"/>. May alias <paramref name="gradOutput"/>.</param>
    /// <param name="gradBlocks">Overwritten with ∂L/∂blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void RotateBackward(RotationShape shape, Tensor input, Tensor blocks, Tensor gradOutput, Tensor gradInput, Tensor gradBlocks)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int rows = RequireRows(input, nameof(input), shape.FeatureCount, ShapeChecks.RotationRowsReason(shape), activation: true);
        RequireSixteenBitPath(SixteenBitOperation.Rotation, input, nameof(input));
        CheckBlocks(shape, blocks, nameof(blocks));
        CheckActivation(gradOutput, nameof(gradOutput), input, nameof(input));
        RequireSameShape(gradOutput, nameof(gradOutput), input, nameof(input));
        CheckActivation(gradInput, nameof(gradInput), input, nameof(input));
        RequireSameShape(gradInput, nameof(gradInput), input, nameof(input));
        CheckBlocks(shape, gradBlocks, nameof(gradBlocks));
        ShapeChecks.GradInputNotAliasingInput(ReferenceEquals(gradInput, input));
        RotateBackwardCore(shape, input, blocks, gradOutput, gradInput, gradBlocks, rows);
    }

    /// <summary>See <see cref="RotateBackward"/>.</summary>
    /// <param name="shape">Shape.</param><param name="input">Input.</param><param name="blocks">Blocks.</param><param name="gradOutput">Gradient of output.</param>
    /// <param name="gradInput">Gradient of input.</param><param name="gradBlocks">Gradient of blocks.</param><param name="rowCount">Rows.</param>
    protected abstract void RotateBackwardCore(RotationShape shape, Tensor input, Tensor blocks, Tensor gradOutput, Tensor gradInput, Tensor gradBlocks, int rowCount);
}
