// Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_ with the 2-norm).

namespace Boft.Training;

/// <summary>Clips gradients by their global 2-norm.</summary>
public static class GradientClipping
{
    /// <summary>
    /// Scales every gradient by <c>maxNorm / (totalNorm + 1e-6)</c> when that is below 1, where
    /// <c>totalNorm = sqrt(Σ_p ‖g_p‖²)</c> (PyTorch <c>clip_grad_norm_</c>). Frozen parameters are ignored.
    /// </summary>
    /// <param name="parameters">The parameters.</param>
    /// <param name="maxNorm">The largest allowed norm (&gt; 0).</param>
    /// <returns>The total norm before clipping. When it is not finite (a gradient holds NaN or ±Inf) nothing is scaled, unlike PyTorch,
    /// which would multiply every gradient by NaN; <see cref="Optimizer.Step(double?, double?)"/> then refuses or skips the step.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxNorm"/> is not positive and finite.</exception>
    public static double ClipByGlobalNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!double.IsFinite(maxNorm) || maxNorm <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, $"maxNorm ({maxNorm}) must be positive and finite.");
        Parameter[] trainable = parameters.Where(p => p.RequiresGrad).ToArray();
        double total = NormAndCheck(trainable, out int firstNonFinite);
        if (firstNonFinite < 0)
            ScaleToNorm(trainable, total, maxNorm);
        return total;
    }

    /// <summary>The global 2-norm of the gradients (each sum of squares accumulated in double, so it is finite exactly when every
    /// gradient value is) and the index of the first parameter whose gradient is not finite, or −1.</summary>
    internal static double NormAndCheck(IReadOnlyList<Parameter> trainable, out int firstNonFinite)
    {
        firstNonFinite = -1;
        double sum = 0;
        for (int i = 0; i < trainable.Count; i++)
        {
            double s = trainable[i].Backend.SumOfSquares(trainable[i].RequiredGradient);
            if (!double.IsFinite(s) && firstNonFinite < 0)
                firstNonFinite = i;
            sum += s;
        }
        return Math.Sqrt(sum);
    }

    /// <summary>Scales every gradient by <c>maxNorm / (total + 1e-6)</c> when that is below 1.</summary>
    internal static void ScaleToNorm(IReadOnlyList<Parameter> trainable, double total, double maxNorm)
    {
        double coefficient = maxNorm / (total + 1e-6);
        if (coefficient < 1)
            foreach (Parameter p in trainable)
                p.Backend.Scale(p.RequiredGradient, (float)coefficient);
    }
}
