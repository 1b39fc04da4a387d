// The backend contract, ScaleBias: The per-column scale and bias, forward and backward (docs/02_Ops/linear.md).
// Each public method validates its arguments (ShapeChecks) and calls its protected *Core hook, declared right below it.

namespace Boft.Backends;

public abstract partial class BoftBackend
{
    /// <summary><c>output = input ⊙ scale + bias</c> per row (scale and bias broadcast over rows; either may be null).
    /// <paramref name="output"/> may alias <paramref name="input"/>.</summary>
    /// <param name="input">Shape: [..., outFeatureCount].</param>
    /// <param name="scale">Optional. Shape: [outFeatureCount] or [outFeatureCount, 1].</param>
    /// <param name="bias">Optional. Shape: [outFeatureCount]. Float32 (a trainable bias is a float32 master) or, for a frozen
    /// bias, the element type of <paramref name="input"/>; either way it is added in float32 before the one rounding.</param>
    /// <param name="output">Same shape as <paramref name="input"/>.</param>
    /// <exception cref="ArgumentException">A shape or element type does not match.</exception>
    public void ScaleBias(Tensor input, Tensor? scale, Tensor? bias, Tensor output)
    {
        CheckActivation(input, nameof(input));
        int n = input.LastDimension;
        int rows = RequireRows(input, nameof(input), n, "", activation: true);
        CheckVector(scale, nameof(scale), n, input);
        CheckVector(bias, nameof(bias), n, input, activation: bias is not null && bias.ElementType != ElementType.Float32);
        RequireSixteenBitPath(bias is { ElementType: ElementType.Float32 } ? SixteenBitOperation.ScaleBiasWithFloat32Bias : SixteenBitOperation.ScaleBias, input, nameof(input));
        CheckActivation(output, nameof(output), input, nameof(input));
        RequireSameShape(output, nameof(output), input, nameof(input));
        ScaleBiasCore(input, scale, bias, output, rows, n);
    }

    /// <summary>See <see cref="ScaleBias"/>.</summary>
    /// <param name="input">Input.</param><param name="scale">Scale.</param><param name="bias">Bias.</param>
    /// <param name="output">Output.</param><param name="rowCount">Rows.</param><param name="featureCount">Columns.</param>
    protected abstract void ScaleBiasCore(Tensor input, Tensor? scale, Tensor? bias, Tensor output, int rowCount, int featureCount);

    /// <summary>Backward of <see cref="ScaleBias"/>: <c>gradInput = gradOutput ⊙ scale</c> (=), <c>gradScale += Σ_rows gradOutput ⊙ input</c>,
    /// <c>gradBias += Σ_rows gradOutput</c>. Any output may be null to skip it.</summary>
    /// <param name="input">The forward's input. Shape: [..., outFeatureCount].</param>
    /// <param name="scale">The forward's scale, or null (identity).</param>
    /// <param name="gradOutput">Same shape as <paramref name="input"/>.</param>
    /// <param name="gradInput">Optional, overwritten; same shape as <paramref name="input"/>; may alias <paramref name="gradOutput"/>.</param>
    /// <param name="gradScale">Optional, accumulated. Shape: [outFeatureCount] or [outFeatureCount, 1].</param>
    /// <param name="gradBias">Optional, accumulated. Shape: [outFeatureCount].</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void ScaleBiasBackward(Tensor input, Tensor? scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, Tensor? gradBias)
    {
        CheckActivation(input, nameof(input));
        int n = input.LastDimension;
        int rows = RequireRows(input, nameof(input), n, "", activation: true);
        RequireSixteenBitPath(SixteenBitOperation.ScaleBias, input, nameof(input));
        CheckVector(scale, nameof(scale), n, input);
        CheckActivation(gradOutput, nameof(gradOutput), input, nameof(input));
        RequireSameShape(gradOutput, nameof(gradOutput), input, nameof(input));
        if (gradInput is not null)
        {
            CheckActivation(gradInput, nameof(gradInput), input, nameof(input));
            RequireSameShape(gradInput, nameof(gradInput), input, nameof(input));
        }
        CheckVector(gradScale, nameof(gradScale), n, input);
        CheckVector(gradBias, nameof(gradBias), n, input);
        ScaleBiasBackwardCore(input, scale, gradOutput, gradInput, gradScale, gradBias, rows, n);
    }

    /// <summary>See <see cref="ScaleBiasBackward"/>.</summary>
    /// <param name="input">Input.</param><param name="scale">Scale.</param><param name="gradOutput">Gradient of output.</param>
    /// <param name="gradInput">Gradient of input.</param><param name="gradScale">Gradient of scale.</param><param name="gradBias">Gradient of bias.</param>
    /// <param name="rowCount">Rows.</param><param name="featureCount">Columns.</param>
    protected abstract void ScaleBiasBackwardCore(Tensor input, Tensor? scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, Tensor? gradBias, int rowCount, int featureCount);
}
