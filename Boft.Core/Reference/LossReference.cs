// Losses with handwritten backward, double precision (docs/02_Ops/losses.md).
//   MSE:  L = mean((p − t)²),  ∂L/∂p = 2 (p − t) / N
//   Softmax cross-entropy over rows: L = mean_r (logsumexp(z_r) − z_r[y_r]),  ∂L/∂z_r = (softmax(z_r) − onehot(y_r)) / rows

namespace Boft.Reference;

/// <summary>Reference mean squared error and softmax cross-entropy with their gradients.</summary>
public static class LossReference
{
    /// <summary>Mean squared error over all elements.</summary>
    /// <param name="prediction">p.</param>
    /// <param name="target">t, same length.</param>
    /// <param name="gradPrediction">Output ∂L/∂p (same length), or empty to skip.</param>
    /// <returns>The loss.</returns>
    public static double MeanSquaredError(ReadOnlySpan<double> prediction, ReadOnlySpan<double> target, Span<double> gradPrediction)
    {
        Check.SameLength(target.Length, prediction.Length, nameof(target), nameof(prediction));
        if (!gradPrediction.IsEmpty)
            Check.SameLength(gradPrediction.Length, prediction.Length, nameof(gradPrediction), nameof(prediction));
        if (prediction.IsEmpty)
            throw new ArgumentException("prediction is empty.", nameof(prediction));
        double sum = 0;
        int n = prediction.Length;
        for (int i = 0; i < n; i++)
        {
            double diff = prediction[i] - target[i];
            sum += diff * diff;
            if (!gradPrediction.IsEmpty)
                gradPrediction[i] = 2 * diff / n;
        }
        return sum / n;
    }

    /// <summary>Softmax cross-entropy averaged over rows.</summary>
    /// <param name="logits">Shape: [rowCount, classCount].</param>
    /// <param name="labels">Class index per row. Shape: [rowCount].</param>
    /// <param name="classCount">Number of classes.</param>
    /// <param name="gradLogits">Output ∂L/∂logits (same shape), or empty to skip.</param>
    /// <returns>The mean loss.</returns>
    public static double SoftmaxCrossEntropy(ReadOnlySpan<double> logits, ReadOnlySpan<int> labels, int classCount, Span<double> gradLogits)
    {
        int rows = Check.Rows(logits.Length, classCount, nameof(logits));
        Check.SameLength(labels.Length, rows, nameof(labels), "rowCount");
        if (!gradLogits.IsEmpty)
            Check.SameLength(gradLogits.Length, logits.Length, nameof(gradLogits), nameof(logits));
        if (rows == 0)
            throw new ArgumentException("logits has no rows.", nameof(logits));
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            int label = labels[r];
            if ((uint)label >= (uint)classCount)
                throw new ArgumentException($"labels[{r}] = {label} is not a class index in [0, {classCount}).", nameof(labels));
            ReadOnlySpan<double> z = logits.Slice(r * classCount, classCount);
            double max = double.NegativeInfinity;
            foreach (double v in z)
                max = Math.Max(max, v);
            double sum = 0;
            foreach (double v in z)
                sum += Math.Exp(v - max);
            double logSumExp = max + Math.Log(sum);
            total += logSumExp - z[label];
            if (!gradLogits.IsEmpty)
                for (int c = 0; c < classCount; c++)
                    gradLogits[r * classCount + c] = (Math.Exp(z[c] - logSumExp) - (c == label ? 1 : 0)) / rows;
        }
        return total / rows;
    }
}
