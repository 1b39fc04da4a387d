// The backend contract, Losses: Losses (mean squared error, softmax cross-entropy) and the sum of squares, each returning a scalar (docs/02_Ops/losses.md).
// Each public method validates its arguments (ShapeChecks) and calls its protected *Core hook, declared right below it.

namespace Boft.Backends;

public abstract partial class BoftBackend
{
    /// <summary>Mean squared error <c>mean((prediction − target)²)</c> over all elements; optionally writes
    /// <c>gradPrediction = 2 (prediction − target) / N</c> (overwritten).</summary>
    /// <param name="prediction">Any shape.</param>
    /// <param name="target">Same shape.</param>
    /// <param name="gradPrediction">Optional; same shape.</param>
    /// <returns>The loss (waits for the backend).</returns>
    public double MseLoss(Tensor prediction, Tensor target, Tensor? gradPrediction)
    {
        Check(prediction, nameof(prediction));
        Check(target, nameof(target));
        RequireSameShape(target, nameof(target), prediction, nameof(prediction));
        if (gradPrediction is not null)
        {
            Check(gradPrediction, nameof(gradPrediction));
            RequireSameShape(gradPrediction, nameof(gradPrediction), prediction, nameof(prediction));
        }
        ShapeChecks.NotEmptyPrediction(prediction.Length);
        return MseLossCore(prediction, target, gradPrediction);
    }

    /// <summary>See <see cref="MseLoss"/>.</summary>
    /// <param name="prediction">Prediction.</param><param name="target">Target.</param><param name="gradPrediction">Gradient.</param>
    /// <returns>The loss.</returns>
    protected abstract double MseLossCore(Tensor prediction, Tensor target, Tensor? gradPrediction);

    /// <summary>Softmax cross-entropy averaged over rows; optionally writes <c>gradLogits = (softmax − onehot) / rows</c> (overwritten).</summary>
    /// <param name="logits">Shape: [..., classCount].</param>
    /// <param name="labels">Class indices stored as floats (exact integers in [0, classCount)). Shape: [rows].</param>
    /// <param name="gradLogits">Optional; same shape as <paramref name="logits"/>.</param>
    /// <returns>The mean loss (waits for the backend).</returns>
    /// <exception cref="ArgumentException">A shape does not match, or a label is not a valid class index.</exception>
    public double SoftmaxCrossEntropy(Tensor logits, Tensor labels, Tensor? gradLogits)
    {
        Check(logits, nameof(logits));
        int classes = logits.LastDimension;
        int rows = RequireRows(logits, nameof(logits), classes, "");
        ShapeChecks.LogitsNotEmpty(rows, classes, ShapeChecks.ShapeOf(logits));
        Check(labels, nameof(labels));
        RequireLength(labels, nameof(labels), rows, ShapeChecks.LabelsShape(rows, logits));
        if (gradLogits is not null)
        {
            Check(gradLogits, nameof(gradLogits));
            RequireSameShape(gradLogits, nameof(gradLogits), logits, nameof(logits));
        }
        return SoftmaxCrossEntropyCore(logits, labels, gradLogits, rows, classes);
    }

    /// <summary>See <see cref="SoftmaxCrossEntropy"/>. Implementations throw <see cref="ArgumentException"/> for invalid labels.</summary>
    /// <param name="logits">Logits.</param><param name="labels">Labels.</param><param name="gradLogits">Gradient.</param>
    /// <param name="rowCount">Rows.</param><param name="classCount">Classes.</param>
    /// <returns>The loss.</returns>
    protected abstract double SoftmaxCrossEntropyCore(Tensor logits, Tensor labels, Tensor? gradLogits, int rowCount, int classCount);

    /// <summary>Returns <c>Σ x²</c> over all elements, accumulated in double (waits for the backend).</summary>
    /// <param name="tensor">Any tensor of this backend.</param>
    /// <returns>The sum of squares.</returns>
    public double SumOfSquares(Tensor tensor)
    {
        CheckActivation(tensor, nameof(tensor)); // any type: anomaly detection and clipping read activations of 16-bit layers too
        return SumOfSquaresCore(tensor);
    }

    /// <summary>See <see cref="SumOfSquares"/>.</summary>
    /// <param name="tensor">Tensor.</param>
    /// <returns>Σ x².</returns>
    protected abstract double SumOfSquaresCore(Tensor tensor);
}
