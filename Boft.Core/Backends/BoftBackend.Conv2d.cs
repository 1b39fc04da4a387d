// The Conv2d family of the backend contract: the frozen 2-D convolution (forward, input gradient, weight and bias
// gradient) and the per-row scale backward that the weight-centric conv adapters need (W' = diag(s)·W0·Rᵀ is built by
// Merge; its gradient flows back through RowScaleBackward and RotateBackward). Semantics: docs/02_Ops/conv2d.md.
//
// Tensor layouts (NCHW, row-major): an image batch is [N, C, H, W] or, flattened for Sequential/Trainer, [N, C·H·W];
// a conv weight is [C_out, C_in/G, kh, kw] or its matrix view [C_out, (C_in/G)·kh·kw]. The batch N is the first dimension.
// Every check runs before any work and names the argument and both shapes.

using System.Globalization;

namespace Boft.Backends;

public abstract partial class BoftBackend
{
    #region Conv2d

    /// <summary><c>output = conv2d(input, weight) + bias</c> (bias per output channel, optional), with the stride, padding,
    /// dilation and groups of <paramref name="shape"/>.</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="input">Shape: [N, C_in, H, W] or [N, C_in·H·W].</param>
    /// <param name="weight">Shape: [C_out, C_in/G, kh, kw] or [C_out, (C_in/G)·kh·kw].</param>
    /// <param name="bias">Optional. Shape: [C_out].</param>
    /// <param name="output">Overwritten. Shape: [N, C_out, H_out, W_out] or [N, C_out·H_out·W_out].</param>
    /// <exception cref="ArgumentException">A shape does not match the convolution (channels, kernel, spatial size or batch).</exception>
    public void Conv2d(Conv2dShape shape, Tensor input, Tensor weight, Tensor? bias, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int batch = ConvImages(shape, input, nameof(input), shape.InChannels, shape.InputHeight, shape.InputWidth, "input", activation: true);
        ConvWeight(shape, weight, nameof(weight), input, nameof(input));
        if (bias is not null)
            ConvVector(shape, bias, nameof(bias), input, nameof(input));
        ConvBatchOf(shape, output, nameof(output), batch, input, nameof(input));
        if (ReferenceEquals(output, input) || ReferenceEquals(output, weight))
            throw new ArgumentException("output must not alias input or weight.", nameof(output));
        Conv2dCore(shape, input, weight, bias, output, batch);
    }

    /// <summary><c>gradInput = ∂L/∂input</c> (overwritten) of <see cref="Conv2d"/> for <c>gradOutput = ∂L/∂output</c>
    /// (the transposed convolution with <paramref name="weight"/>).</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="gradOutput">Shape: [N, C_out, H_out, W_out] or [N, C_out·H_out·W_out].</param>
    /// <param name="weight">Shape: [C_out, C_in/G, kh, kw] or [C_out, (C_in/G)·kh·kw].</param>
    /// <param name="gradInput">Overwritten. Shape: [N, C_in, H, W] or [N, C_in·H·W].</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void Conv2dBackwardInput(Conv2dShape shape, Tensor gradOutput, Tensor weight, Tensor gradInput)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int batch = ConvImages(shape, gradOutput, nameof(gradOutput), shape.OutChannels, shape.OutputHeight, shape.OutputWidth, "output", activation: true);
        ConvWeight(shape, weight, nameof(weight), gradOutput, nameof(gradOutput));
        int inputBatch = ConvImages(shape, gradInput, nameof(gradInput), shape.InChannels, shape.InputHeight, shape.InputWidth, "input", gradOutput, nameof(gradOutput));
        if (inputBatch != batch)
            throw new ArgumentException($"gradInput has shape {gradInput.ShapeString} ({inputBatch} images) but gradOutput has shape {gradOutput.ShapeString} ({batch} images).", nameof(gradInput));
        if (ReferenceEquals(gradInput, gradOutput) || ReferenceEquals(gradInput, weight))
            throw new ArgumentException("gradInput must not alias gradOutput or weight.", nameof(gradInput));
        Conv2dBackwardInputCore(shape, gradOutput, weight, gradInput, batch);
    }

    /// <summary><c>gradWeight += ∂L/∂weight</c> and <c>gradBias += ∂L/∂bias</c> of <see cref="Conv2d"/> (either may be null to skip
    /// it), reduced over the batch and the output pixels in a fixed order (deterministic).</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="gradOutput">Shape: [N, C_out, H_out, W_out] or [N, C_out·H_out·W_out].</param>
    /// <param name="input">The forward's input. Shape: [N, C_in, H, W] or [N, C_in·H·W].</param>
    /// <param name="gradWeight">Optional, accumulated. Shape: [C_out, C_in/G, kh, kw] or [C_out, (C_in/G)·kh·kw].</param>
    /// <param name="gradBias">Optional, accumulated. Shape: [C_out].</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void Conv2dBackwardWeight(Conv2dShape shape, Tensor gradOutput, Tensor input, Tensor? gradWeight, Tensor? gradBias)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int batch = ConvImages(shape, gradOutput, nameof(gradOutput), shape.OutChannels, shape.OutputHeight, shape.OutputWidth, "output", activation: true);
        int inputBatch = ConvImages(shape, input, nameof(input), shape.InChannels, shape.InputHeight, shape.InputWidth, "input", gradOutput, nameof(gradOutput));
        if (inputBatch != batch)
            throw new ArgumentException($"input has shape {input.ShapeString} ({inputBatch} images) but gradOutput has shape {gradOutput.ShapeString} ({batch} images).", nameof(input));
        if (gradWeight is not null)
            ConvWeight(shape, gradWeight, nameof(gradWeight));
        if (gradBias is not null)
            ConvVector(shape, gradBias, nameof(gradBias));
        if (gradWeight is null && gradBias is null)
            return;
        Conv2dBackwardWeightCore(shape, gradOutput, input, gradWeight, gradBias, batch);
    }

    /// <summary>
    /// Backward of a per-row scale <c>output[r, t] = scale[r]·input[r, t]</c> (BOFT's <c>boft_s</c> on the rows of a merged conv
    /// weight, as <see cref="Merge"/> applies it): <c>gradInput = diag(scale)·gradOutput</c> (overwritten) and
    /// <c>gradScale[r] += Σ_t gradOutput[r, t]·input[r, t]</c>. Either output may be null to skip it.
    /// </summary>
    /// <param name="input">The unscaled rows. Shape: [rows, columns] (any rank; rows = first dimension).</param>
    /// <param name="scale">Shape: [rows], [rows, 1] or [1, rows].</param>
    /// <param name="gradOutput">Same shape as <paramref name="input"/>.</param>
    /// <param name="gradInput">Optional, overwritten; same shape as <paramref name="input"/>; may alias <paramref name="gradOutput"/>.</param>
    /// <param name="gradScale">Optional, accumulated; same length as <paramref name="scale"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void RowScaleBackward(Tensor input, Tensor scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale)
    {
        Check(input, nameof(input));
        if (input.Rank == 0 || input.Shape[0] == 0)
            throw new ArgumentException($"input has shape {input.ShapeString} but needs at least one row.", nameof(input));
        int rows = input.Shape[0], columns = input.Length / rows;
        Check(scale, nameof(scale));
        if (scale.Length != rows)
            throw new ArgumentException($"scale has shape {scale.ShapeString} but input {input.ShapeString} has {rows} rows (one scale per row).", nameof(scale));
        Check(gradOutput, nameof(gradOutput));
        ConvSameShape(gradOutput, nameof(gradOutput), input, nameof(input));
        if (gradInput is not null)
        {
            Check(gradInput, nameof(gradInput));
            ConvSameShape(gradInput, nameof(gradInput), input, nameof(input));
            if (ReferenceEquals(gradInput, input))
                throw new ArgumentException("gradInput must not alias input.", nameof(gradInput));
        }
        if (gradScale is not null)
        {
            Check(gradScale, nameof(gradScale));
            if (gradScale.Length != rows)
                throw new ArgumentException($"gradScale has shape {gradScale.ShapeString} but scale has shape {scale.ShapeString}.", nameof(gradScale));
        }
        if (gradInput is null && gradScale is null)
            return;
        RowScaleBackwardCore(input, scale, gradOutput, gradInput, gradScale, rows, columns);
    }

    #endregion

    #region Conv2d core hooks

    /// <summary>See <see cref="Conv2d"/>.</summary>
    /// <param name="shape">Shape.</param><param name="input">Input.</param><param name="weight">Weight.</param>
    /// <param name="bias">Bias or null.</param><param name="output">Output.</param><param name="batch">N.</param>
    protected abstract void Conv2dCore(Conv2dShape shape, Tensor input, Tensor weight, Tensor? bias, Tensor output, int batch);

    /// <summary>See <see cref="Conv2dBackwardInput"/>.</summary>
    /// <param name="shape">Shape.</param><param name="gradOutput">Gradient of output.</param><param name="weight">Weight.</param>
    /// <param name="gradInput">Gradient of input.</param><param name="batch">N.</param>
    protected abstract void Conv2dBackwardInputCore(Conv2dShape shape, Tensor gradOutput, Tensor weight, Tensor gradInput, int batch);

    /// <summary>See <see cref="Conv2dBackwardWeight"/> (at least one of the gradients is non-null).</summary>
    /// <param name="shape">Shape.</param><param name="gradOutput">Gradient of output.</param><param name="input">Input.</param>
    /// <param name="gradWeight">Accumulated gradient of weight or null.</param><param name="gradBias">Accumulated gradient of bias or null.</param>
    /// <param name="batch">N.</param>
    protected abstract void Conv2dBackwardWeightCore(Conv2dShape shape, Tensor gradOutput, Tensor input, Tensor? gradWeight, Tensor? gradBias, int batch);

    /// <summary>See <see cref="RowScaleBackward"/> (at least one output is non-null).</summary>
    /// <param name="input">Input.</param><param name="scale">Scale.</param><param name="gradOutput">Gradient of output.</param>
    /// <param name="gradInput">Gradient of input or null.</param><param name="gradScale">Accumulated gradient of scale or null.</param>
    /// <param name="rowCount">Rows.</param><param name="columnCount">Columns.</param>
    protected abstract void RowScaleBackwardCore(Tensor input, Tensor scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, int rowCount, int columnCount);

    #endregion

    #region Conv2d validation helpers

    /// <summary>Checks an image batch [N, C, H, W] or [N, C·H·W] and returns N. An activation (<paramref name="activation"/>
    /// or <paramref name="like"/> given) may be 16-bit, in the type of <paramref name="like"/>; anything else is float32.</summary>
    private int ConvImages(Conv2dShape shape, Tensor tensor, string name, int channels, int height, int width, string what,
        Tensor? like = null, string? likeName = null, bool activation = false)
    {
        if (activation || like is not null)
        {
            CheckActivation(tensor, name, like, likeName);
            RequireSixteenBitPath(SixteenBitOperation.Conv2d, tensor, name);
        }
        else
        {
            Check(tensor, name);
        }
        ReadOnlySpan<int> s = tensor.Shape;
        bool ok = s.Length switch
        {
            4 => s[1] == channels && s[2] == height && s[3] == width,
            2 => s[1] == channels * height * width,
            _ => false,
        };
        if (!ok)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"{name} has shape {tensor.ShapeString} but the {what} of {shape} must be [N, {channels}, {height}, {width}] (or [N, {channels * height * width}] flattened)."), name);
        return s[0];
    }

    private void ConvBatchOf(Conv2dShape shape, Tensor output, string name, int batch, Tensor input, string inputName)
    {
        int outputBatch = ConvImages(shape, output, name, shape.OutChannels, shape.OutputHeight, shape.OutputWidth, "output", input, inputName);
        if (outputBatch != batch)
            throw new ArgumentException($"{name} has shape {output.ShapeString} ({outputBatch} images) but {inputName} has shape {input.ShapeString} ({batch} images).", name);
    }

    /// <summary>Checks a conv weight. With <paramref name="activation"/> given, the weight may also be in its type: a frozen
    /// 16-bit weight, or a float32 one (a weight derived from float32 masters, such as the adapters' merged W').</summary>
    private void ConvWeight(Conv2dShape shape, Tensor weight, string name, Tensor? activation = null, string? activationName = null)
    {
        CheckWeightType(weight, name, activation, activationName);
        ReadOnlySpan<int> s = weight.Shape;
        bool ok = s.Length switch
        {
            4 => s[0] == shape.OutChannels && s[1] == shape.GroupInChannels && s[2] == shape.KernelHeight && s[3] == shape.KernelWidth,
            2 => s[0] == shape.OutChannels && s[1] == shape.FilterDimension,
            _ => false,
        };
        if (!ok)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"{name} has shape {weight.ShapeString} but {shape} needs [{shape.OutChannels}, {shape.GroupInChannels}, {shape.KernelHeight}, {shape.KernelWidth}] (or [{shape.OutChannels}, {shape.FilterDimension}])."), name);
    }

    private void ConvVector(Conv2dShape shape, Tensor vector, string name, Tensor? activation = null, string? activationName = null)
    {
        CheckWeightType(vector, name, activation, activationName);
        if (vector.Length != shape.OutChannels)
            throw new ArgumentException($"{name} has shape {vector.ShapeString} but {shape} needs [{shape.OutChannels}] (one per output channel).", name);
    }

    private void CheckWeightType(Tensor tensor, string name, Tensor? activation, string? activationName)
    {
        if (activation is null || tensor.ElementType == ElementType.Float32)
            Check(tensor, name);
        else
            CheckActivation(tensor, name, activation, activationName);
    }

    private static void ConvSameShape(Tensor tensor, string name, Tensor other, string otherName)
    {
        if (!tensor.Shape.SequenceEqual(other.Shape))
            throw new ArgumentException($"{name} has shape {tensor.ShapeString} but {otherName} has shape {other.ShapeString}.", name);
    }

    #endregion
}
