// Losses with handwritten backward, on the backend (reference math: Boft.Reference.LossReference, docs/02_Ops/losses.md).

using Boft.Backends;

namespace Boft.Training;

/// <summary>A loss over a batch: returns the value and writes ∂L/∂prediction.</summary>
public interface ILoss
{
    /// <summary>Short name for logs.</summary>
    string Name { get; }

    /// <summary>Computes the loss and, when <paramref name="gradPrediction"/> is given, its gradient (overwritten).</summary>
    /// <param name="prediction">Model output.</param>
    /// <param name="target">Target (same shape for MSE; class indices as floats, one per row, for cross-entropy).</param>
    /// <param name="gradPrediction">Optional gradient destination, same shape as <paramref name="prediction"/>.</param>
    /// <returns>The loss value.</returns>
    double Compute(Tensor prediction, Tensor target, Tensor? gradPrediction);
}

/// <summary>Mean squared error over all elements (<c>torch.nn.MSELoss()</c>).</summary>
public sealed class MeanSquaredErrorLoss : ILoss
{
    /// <inheritdoc />
    public string Name => "mse";

    /// <inheritdoc />
    public double Compute(Tensor prediction, Tensor target, Tensor? gradPrediction)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        return prediction.Backend.MseLoss(prediction, target, gradPrediction);
    }
}

/// <summary>Softmax cross-entropy averaged over rows (<c>torch.nn.CrossEntropyLoss()</c> with class-index targets).</summary>
public sealed class SoftmaxCrossEntropyLoss : ILoss
{
    /// <inheritdoc />
    public string Name => "cross-entropy";

    /// <inheritdoc />
    public double Compute(Tensor prediction, Tensor target, Tensor? gradPrediction)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        return prediction.Backend.SoftmaxCrossEntropy(prediction, target, gradPrediction);
    }
}
