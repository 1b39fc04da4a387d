// The layer contract of the training core: forward saves what backward needs; backward accumulates parameter gradients.

using Boft.Backends;
using Boft.Training;

namespace Boft.Layers;

/// <summary>
/// A layer over row-major tensors <c>[..., InFeatureCount] → [..., OutFeatureCount]</c>. <see cref="Forward"/> remembers its
/// input (do not modify it before <see cref="Backward"/>); <see cref="Backward"/> accumulates (+=) into the parameters'
/// gradients and overwrites <c>gradInput</c>.
/// </summary>
public interface ILayer : IDisposable
{
    /// <summary>Input features d.</summary>
    int InFeatureCount { get; }

    /// <summary>Output features n.</summary>
    int OutFeatureCount { get; }

    /// <summary>The element type of the input (and of its gradient) this layer takes (docs/09_Mixed-precision.md). Float32 unless the
    /// layer says otherwise.</summary>
    ElementType InputElementType => ElementType.Float32;

    /// <summary>The element type of the output (and of its gradient) this layer gives. Float32 unless the layer says otherwise.</summary>
    ElementType OutputElementType => ElementType.Float32;

    /// <summary>All parameters, trainable and frozen.</summary>
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Training mode (dropout active) or evaluation mode.</summary>
    bool IsTraining { get; set; }

    /// <summary>Computes the output for <paramref name="input"/>.</summary>
    /// <param name="input">Shape: [..., InFeatureCount].</param>
    /// <param name="output">Shape: [..., OutFeatureCount], same leading dimensions.</param>
    void Forward(Tensor input, Tensor output);

    /// <summary>Back-propagates <paramref name="gradOutput"/> through the last <see cref="Forward"/>.</summary>
    /// <param name="gradOutput">Shape: like the last output.</param>
    /// <param name="gradInput">Receives ∂L/∂input (like the last input), or null when not needed.</param>
    void Backward(Tensor gradOutput, Tensor? gradInput);
}
