// The backend contract, Linear: The frozen linear map (GEMM) and its two gradients (docs/02_Ops/linear.md).
// Each public method validates its arguments (ShapeChecks) and calls its protected *Core hook, declared right below it.

namespace Boft.Backends;

public abstract partial class BoftBackend
{
    /// <summary><c>output = input · weightᵀ</c> (a linear layer without bias).</summary>
    /// <param name="input">Shape: [..., inFeatureCount].</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="output">Shape: [..., outFeatureCount] with the same rows as <paramref name="input"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void Linear(Tensor input, Tensor weight, Tensor output)
    {
        (int n, int d) = RequireMatrix(weight, nameof(weight), activation: true);
        int rows = RequireRows(input, nameof(input), d, ShapeChecks.WeightReason(nameof(weight), weight), activation: true);
        RequireSixteenBitPath(SixteenBitOperation.Linear, input, nameof(input));
        CheckActivation(weight, nameof(weight), input, nameof(input));
        RequireRowsOf(output, nameof(output), rows, n, input, nameof(input), activation: true);
        LinearCore(input, weight, output, rows, d, n);
    }

    /// <summary>See <see cref="Linear"/>.</summary>
    /// <param name="input">Input.</param><param name="weight">Weight.</param><param name="output">Output.</param>
    /// <param name="rowCount">Rows.</param><param name="inFeatureCount">d.</param><param name="outFeatureCount">n.</param>
    protected abstract void LinearCore(Tensor input, Tensor weight, Tensor output, int rowCount, int inFeatureCount, int outFeatureCount);

    /// <summary><c>gradInput = gradOutput · weight</c> (overwritten): the input gradient of <see cref="Linear"/>.</summary>
    /// <param name="gradOutput">Shape: [..., outFeatureCount].</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="gradInput">Shape: [..., inFeatureCount] with the same rows as <paramref name="gradOutput"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void LinearBackwardInput(Tensor gradOutput, Tensor weight, Tensor gradInput)
    {
        (int n, int d) = RequireMatrix(weight, nameof(weight), activation: true);
        int rows = RequireRows(gradOutput, nameof(gradOutput), n, ShapeChecks.WeightReason(nameof(weight), weight), activation: true);
        RequireSixteenBitPath(SixteenBitOperation.Linear, gradOutput, nameof(gradOutput));
        CheckActivation(weight, nameof(weight), gradOutput, nameof(gradOutput));
        RequireRowsOf(gradInput, nameof(gradInput), rows, d, gradOutput, nameof(gradOutput), activation: true);
        LinearBackwardInputCore(gradOutput, weight, gradInput, rows, d, n);
    }

    /// <summary>See <see cref="LinearBackwardInput"/>.</summary>
    /// <param name="gradOutput">Gradient of output.</param><param name="weight">Weight.</param><param name="gradInput">Gradient of input.</param>
    /// <param name="rowCount">Rows.</param><param name="inFeatureCount">d.</param><param name="outFeatureCount">n.</param>
    protected abstract void LinearBackwardInputCore(Tensor gradOutput, Tensor weight, Tensor gradInput, int rowCount, int inFeatureCount, int outFeatureCount);

    /// <summary><c>gradWeight += gradOutputᵀ · input</c>: the weight gradient of <see cref="Linear"/>, reduced deterministically.</summary>
    /// <param name="gradOutput">Shape: [..., outFeatureCount].</param>
    /// <param name="input">Shape: [..., inFeatureCount] with the same rows.</param>
    /// <param name="gradWeight">Accumulated; always float32 (a trainable weight is a float32 master, even when <paramref name="gradOutput"/> and
    /// <paramref name="input"/> are 16-bit activations). Shape: [outFeatureCount, inFeatureCount].</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void LinearBackwardWeight(Tensor gradOutput, Tensor input, Tensor gradWeight)
    {
        (int n, int d) = RequireMatrix(gradWeight, nameof(gradWeight));
        int rows = RequireRows(gradOutput, nameof(gradOutput), n, ShapeChecks.WeightReason(nameof(gradWeight), gradWeight), activation: true);
        RequireSixteenBitPath(SixteenBitOperation.LinearBackwardWeight, gradOutput, nameof(gradOutput));
        RequireRowsOf(input, nameof(input), rows, d, gradOutput, nameof(gradOutput), activation: true);
        LinearBackwardWeightCore(gradOutput, input, gradWeight, rows, d, n);
    }

    /// <summary>See <see cref="LinearBackwardWeight"/>.</summary>
    /// <param name="gradOutput">Gradient of output.</param><param name="input">Input.</param><param name="gradWeight">Accumulated gradient of weight.</param>
    /// <param name="rowCount">Rows.</param><param name="inFeatureCount">d.</param><param name="outFeatureCount">n.</param>
    protected abstract void LinearBackwardWeightCore(Tensor gradOutput, Tensor input, Tensor gradWeight, int rowCount, int inFeatureCount, int outFeatureCount);
}
