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
    /// <returns>The total norm before clipping.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxNorm"/> is not positive and finite.</exception>
    public static double ClipByGlobalNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!double.IsFinite(maxNorm) || maxNorm <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, $"maxNorm ({maxNorm}) must be positive and finite.");
        Parameter[] trainable = parameters.Where(p => p.RequiresGrad).ToArray();
        double sum = 0;
        foreach (Parameter p in trainable)
            sum += p.Backend.SumOfSquares(p.RequiredGradient);
        double total = Math.Sqrt(sum);
        double coefficient = maxNorm / (total + 1e-6);
        if (coefficient < 1)
            foreach (Parameter p in trainable)
                p.Backend.Scale(p.RequiredGradient, (float)coefficient);
        return total;
    }
}
