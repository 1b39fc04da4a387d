// A layer that converts its input to another element type (docs/09_Mixed-precision.md): where a model enters its 16-bit
// region (float32 data into bf16/fp16 activations) and where it leaves it (16-bit logits into a float32 loss, as torch's
// autocast runs softmax and cross-entropy in float32). Forward and backward are one Convert each (BoftBackend.Convert.cs):
// widening is exact, narrowing rounds once to nearest even. No parameters.

using Boft.Backends;
using Boft.Training;

namespace Boft.Layers;

/// <summary>Converts <c>[..., featureCount]</c> tensors from one element type to another; the gradient is converted back.</summary>
public sealed class Cast : ILayer
{
    /// <summary>Creates the conversion.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="featureCount">Features in and out.</param>
    /// <param name="from">The input's element type.</param>
    /// <param name="to">The output's element type.</param>
    /// <exception cref="NotSupportedException">The backend has no storage of a 16-bit type given.</exception>
    public Cast(BoftBackend backend, int featureCount, ElementType from, ElementType to)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(featureCount);
        foreach (ElementType type in (ReadOnlySpan<ElementType>)[from, to])
            if (!Enum.IsDefined(type) || (type != ElementType.Float32 && !backend.Supports(type)))
                throw new NotSupportedException($"The {backend.Name} backend has no {type} path; a Cast layer needs both of its types.");
        Backend = backend;
        InFeatureCount = featureCount;
        InputElementType = from;
        OutputElementType = to;
    }

    /// <summary>The backend.</summary>
    public BoftBackend Backend { get; }

    /// <inheritdoc />
    public ElementType InputElementType { get; }

    /// <inheritdoc />
    public ElementType OutputElementType { get; }

    /// <inheritdoc />
    public int InFeatureCount { get; }

    /// <inheritdoc />
    public int OutFeatureCount => InFeatureCount;

    /// <inheritdoc />
    public IReadOnlyList<Parameter> Parameters => [];

    /// <inheritdoc />
    public bool IsTraining { get; set; } = true;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A tensor's element type or shape does not match the layer's.</exception>
    public void Forward(Tensor input, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        RequireType(input, nameof(input), InputElementType);
        RequireType(output, nameof(output), OutputElementType);
        if (!input.Shape.SequenceEqual(output.Shape))
            throw new ArgumentException($"output has shape {output.ShapeString} but input has shape {input.ShapeString}.", nameof(output));
        Backend.Convert(input, output);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A tensor's element type does not match the layer's.</exception>
    public void Backward(Tensor gradOutput, Tensor? gradInput)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        RequireType(gradOutput, nameof(gradOutput), OutputElementType);
        if (gradInput is null)
            return;
        RequireType(gradInput, nameof(gradInput), InputElementType);
        Backend.Convert(gradOutput, gradInput);
    }

    private static void RequireType(Tensor tensor, string name, ElementType expected)
    {
        if (tensor.ElementType != expected)
            throw new ArgumentException($"{name} is {tensor.ElementType} but this Cast layer's {(name.Contains("nput", StringComparison.Ordinal) ? "input" : "output")} is {expected}.", name);
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
