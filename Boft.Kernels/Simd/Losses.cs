// Losses on the CPU with their gradients: mean squared error and softmax cross-entropy. docs/02_Ops/simd-backend.md.
// Shapes: MSE any (prediction, target, gradPrediction equal); CE logits [rows, classes], labels [rows] (exact integer class
// indices stored as floats). Gradient semantics: gradPrediction / gradLogits OVERWRITTEN (=).
// Loss sums are accumulated in double over fixed slices (MSE) or per row (CE) and added in order: deterministic.
// Cross-entropy works per row in double (log-sum-exp with the max subtracted), so large logits neither overflow nor lose
// the small probabilities; labels are all validated before anything is written.

using System.Globalization;

using System.Runtime.CompilerServices;

namespace Boft.Kernels.Simd;

/// <summary>Loss kernels.</summary>
internal static class Losses
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double MeanSquaredError(SimdTensor prediction, SimdTensor target, SimdTensor? gradPrediction, int maxDegreeOfParallelism)
    {
        int length = prediction.Length;
        int slices = (length + Elementwise.SliceLength - 1) / Elementwise.SliceLength;
        var sums = new double[slices];
        double gradScale = 2.0 / length;
        Elementwise.ForSlices(length, maxDegreeOfParallelism, (start, count) =>
        {
            ReadOnlySpan<float> p = prediction.Span.Slice(start, count), t = target.Span.Slice(start, count);
            Span<float> g = gradPrediction is null ? default : gradPrediction.Span.Slice(start, count);
            double sum = 0;
            for (int i = 0; i < count; i++)
            {
                double diff = (double)p[i] - t[i]; // exact in double: no cancellation error in the loss
                sum += diff * diff;
                if (gradPrediction is not null)
                    g[i] = (float)(gradScale * diff);
            }
            sums[start / Elementwise.SliceLength] = sum;
        });
        double total = 0;
        foreach (double s in sums)
            total += s;
        return total / length;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double SoftmaxCrossEntropy(SimdTensor logits, SimdTensor labels, SimdTensor? gradLogits, int rows, int classes, int maxDegreeOfParallelism)
    {
        ReadOnlySpan<float> labelValues = labels.Span;
        for (int r = 0; r < rows; r++)
        {
            float label = labelValues[r];
            if (!(label >= 0 && label < classes && label == MathF.Floor(label)))
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"labels[{r}] = {label} is not a class index in [0, {classes}) (labels must be exact integers stored as floats)."), nameof(labels));
        }
        var losses = new double[rows];
        double inverseRows = 1.0 / rows;
        SimdParallel.For(rows, 4L * rows * classes, maxDegreeOfParallelism, r =>
        {
            ReadOnlySpan<float> z = logits.Span.Slice(r * classes, classes);
            int label = (int)labels.Span[r];
            double max = double.NegativeInfinity;
            foreach (float value in z)
                max = Math.Max(max, value);
            double sum = 0;
            foreach (float value in z)
                sum += Math.Exp(value - max);
            double logSumExp = max + Math.Log(sum);
            losses[r] = logSumExp - z[label];
            if (gradLogits is not null)
            {
                Span<float> g = gradLogits.Span.Slice(r * classes, classes);
                for (int c = 0; c < classes; c++)
                    g[c] = (float)((Math.Exp(z[c] - logSumExp) - (c == label ? 1 : 0)) * inverseRows);
            }
        });
        double total = 0;
        foreach (double loss in losses)
            total += loss;
        return total * inverseRows;
    }
}
