// The frozen linear map and the per-output scale and bias, double precision (docs/02_Ops/linear.md).
//   h = u W0ᵀ;  y = h ⊙ s + bias
//   ∂L/∂bias = Σ_rows G;  ∂L/∂s = Σ_rows G ⊙ h;  ∂L/∂h = G ⊙ s;  ∂L/∂u = (∂L/∂h) W0;  ∂L/∂W0 = (∂L/∂h)ᵀ u
// All outputs are overwritten (=).

namespace Boft.Reference;

/// <summary>Reference frozen linear map (<c>u·Wᵀ</c>), its two gradients, and the per-output scale and bias.</summary>
public static class LinearReference
{
    /// <summary><c>output = input · weightᵀ</c>.</summary>
    /// <param name="input">Shape: [rowCount, inFeatureCount].</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="output">Shape: [rowCount, outFeatureCount].</param>
    public static void Forward(ReadOnlySpan<double> input, ReadOnlySpan<double> weight, int inFeatureCount, Span<double> output)
    {
        int rows = Check.Rows(input.Length, inFeatureCount, nameof(input));
        int n = Check.Rows(weight.Length, inFeatureCount, nameof(weight));
        Check.SameLength(output.Length, rows * n, nameof(output), "rowCount·outFeatureCount");
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<double> x = input.Slice(r * inFeatureCount, inFeatureCount);
            for (int o = 0; o < n; o++)
            {
                ReadOnlySpan<double> w = weight.Slice(o * inFeatureCount, inFeatureCount);
                double sum = 0;
                for (int t = 0; t < inFeatureCount; t++)
                    sum += x[t] * w[t];
                output[r * n + o] = sum;
            }
        }
    }

    /// <summary><c>gradInput = gradOutput · weight</c>.</summary>
    /// <param name="gradOutput">Shape: [rowCount, outFeatureCount].</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="gradInput">Shape: [rowCount, inFeatureCount].</param>
    public static void BackwardInput(ReadOnlySpan<double> gradOutput, ReadOnlySpan<double> weight, int inFeatureCount, Span<double> gradInput)
    {
        int n = Check.Rows(weight.Length, inFeatureCount, nameof(weight));
        int rows = Check.Rows(gradOutput.Length, n, nameof(gradOutput));
        Check.SameLength(gradInput.Length, rows * inFeatureCount, nameof(gradInput), "rowCount·inFeatureCount");
        gradInput.Clear();
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < n; o++)
            {
                double g = gradOutput[r * n + o];
                for (int t = 0; t < inFeatureCount; t++)
                    gradInput[r * inFeatureCount + t] += g * weight[o * inFeatureCount + t];
            }
    }

    /// <summary><c>gradWeight = gradOutputᵀ · input</c>.</summary>
    /// <param name="gradOutput">Shape: [rowCount, outFeatureCount].</param>
    /// <param name="input">Shape: [rowCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="gradWeight">Shape: [outFeatureCount, inFeatureCount].</param>
    public static void BackwardWeight(ReadOnlySpan<double> gradOutput, ReadOnlySpan<double> input, int inFeatureCount, Span<double> gradWeight)
    {
        int rows = Check.Rows(input.Length, inFeatureCount, nameof(input));
        int n = Check.Rows(gradWeight.Length, inFeatureCount, nameof(gradWeight));
        Check.SameLength(gradOutput.Length, rows * n, nameof(gradOutput), "rowCount·outFeatureCount");
        gradWeight.Clear();
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < n; o++)
            {
                double g = gradOutput[r * n + o];
                for (int t = 0; t < inFeatureCount; t++)
                    gradWeight[o * inFeatureCount + t] += g * input[r * inFeatureCount + t];
            }
    }

    /// <summary><c>output = input ⊙ scale + bias</c> per row; an empty <paramref name="scale"/> or <paramref name="bias"/> means none.</summary>
    /// <param name="input">Shape: [rowCount, featureCount].</param>
    /// <param name="scale">Shape: [featureCount] or empty.</param>
    /// <param name="bias">Shape: [featureCount] or empty.</param>
    /// <param name="featureCount">n.</param>
    /// <param name="output">Same shape as <paramref name="input"/> (may alias it).</param>
    public static void ScaleBias(ReadOnlySpan<double> input, ReadOnlySpan<double> scale, ReadOnlySpan<double> bias, int featureCount, Span<double> output)
    {
        int rows = Check.Rows(input.Length, featureCount, nameof(input));
        CheckOptional(scale, featureCount, nameof(scale));
        CheckOptional(bias, featureCount, nameof(bias));
        Check.SameLength(output.Length, input.Length, nameof(output), nameof(input));
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < featureCount; j++)
            {
                double v = input[r * featureCount + j];
                if (!scale.IsEmpty)
                    v *= scale[j];
                if (!bias.IsEmpty)
                    v += bias[j];
                output[r * featureCount + j] = v;
            }
    }

    /// <summary>Backward of <see cref="ScaleBias"/>; empty outputs are skipped.</summary>
    /// <param name="input">The forward's input. Shape: [rowCount, featureCount].</param>
    /// <param name="scale">Shape: [featureCount] or empty (identity).</param>
    /// <param name="gradOutput">Same shape as <paramref name="input"/>.</param>
    /// <param name="featureCount">n.</param>
    /// <param name="gradInput"><c>G ⊙ s</c>, or empty.</param>
    /// <param name="gradScale"><c>Σ_rows G ⊙ input</c>, or empty.</param>
    /// <param name="gradBias"><c>Σ_rows G</c>, or empty.</param>
    public static void ScaleBiasBackward(ReadOnlySpan<double> input, ReadOnlySpan<double> scale, ReadOnlySpan<double> gradOutput, int featureCount,
        Span<double> gradInput, Span<double> gradScale, Span<double> gradBias)
    {
        int rows = Check.Rows(input.Length, featureCount, nameof(input));
        CheckOptional(scale, featureCount, nameof(scale));
        Check.SameLength(gradOutput.Length, input.Length, nameof(gradOutput), nameof(input));
        if (!gradInput.IsEmpty)
            Check.SameLength(gradInput.Length, input.Length, nameof(gradInput), nameof(input));
        CheckOptional(gradScale, featureCount, nameof(gradScale));
        CheckOptional(gradBias, featureCount, nameof(gradBias));
        gradScale.Clear();
        gradBias.Clear();
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < featureCount; j++)
            {
                double g = gradOutput[r * featureCount + j];
                if (!gradScale.IsEmpty)
                    gradScale[j] += g * input[r * featureCount + j];
                if (!gradBias.IsEmpty)
                    gradBias[j] += g;
                if (!gradInput.IsEmpty)
                    gradInput[r * featureCount + j] = scale.IsEmpty ? g : g * scale[j];
            }
    }

    private static void CheckOptional(ReadOnlySpan<double> vector, int featureCount, string name)
    {
        if (!vector.IsEmpty && vector.Length != featureCount)
            throw new ArgumentException($"{name} has {vector.Length} elements but must have {featureCount} (or none).", name);
    }
}
