// SGD and Adam/AdamW steps with PyTorch's semantics, double precision (docs/02_Ops/optimizers.md).
// SGD (torch.optim.SGD): g += λp; with μ ≠ 0: buf = g (first step) or μ·buf + (1 − dampening)·g; g = nesterov ? g + μ·buf : buf; p −= lr·g.
// Adam (torch.optim.Adam/AdamW, no amsgrad): Adam adds λp to g, AdamW scales p by (1 − lr·λ) first;
//   m = β1 m + (1 − β1) g;  v = β2 v + (1 − β2) g²;  p −= lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε).

using Boft.Backends;

namespace Boft.Reference;

/// <summary>Reference optimizer steps over flat parameter buffers.</summary>
public static class OptimizerReference
{
    /// <summary>One SGD step, in place.</summary>
    /// <param name="gradients">g.</param>
    /// <param name="settings">Hyperparameters.</param>
    /// <param name="firstStep">Initializes the momentum buffer.</param>
    /// <param name="parameters">p, updated.</param>
    /// <param name="momentumBuffer">buf, updated (may be empty when momentum is 0).</param>
    public static void SgdStep(ReadOnlySpan<double> gradients, SgdSettings settings, bool firstStep, Span<double> parameters, Span<double> momentumBuffer)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Check.SameLength(gradients.Length, parameters.Length, nameof(gradients), nameof(parameters));
        if (settings.Momentum != 0)
            Check.SameLength(momentumBuffer.Length, parameters.Length, nameof(momentumBuffer), nameof(parameters));
        for (int i = 0; i < parameters.Length; i++)
        {
            double g = gradients[i];
            if (settings.WeightDecay != 0)
                g += settings.WeightDecay * parameters[i];
            if (settings.Momentum != 0)
            {
                double buf = firstStep ? g : settings.Momentum * momentumBuffer[i] + (1 - settings.Dampening) * g;
                momentumBuffer[i] = buf;
                g = settings.Nesterov ? g + settings.Momentum * buf : buf;
            }
            parameters[i] -= settings.LearningRate * g;
        }
    }

    /// <summary>One Adam/AdamW step, in place.</summary>
    /// <param name="gradients">g.</param>
    /// <param name="settings">Hyperparameters.</param>
    /// <param name="step">t ≥ 1.</param>
    /// <param name="learningRate">lr for this step.</param>
    /// <param name="parameters">p, updated.</param>
    /// <param name="firstMoment">m, updated.</param>
    /// <param name="secondMoment">v, updated.</param>
    public static void AdamStep(ReadOnlySpan<double> gradients, AdamSettings settings, int step, double learningRate,
        Span<double> parameters, Span<double> firstMoment, Span<double> secondMoment)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        Check.SameLength(gradients.Length, parameters.Length, nameof(gradients), nameof(parameters));
        Check.SameLength(firstMoment.Length, parameters.Length, nameof(firstMoment), nameof(parameters));
        Check.SameLength(secondMoment.Length, parameters.Length, nameof(secondMoment), nameof(parameters));
        double b1 = settings.Beta1, b2 = settings.Beta2;
        double correction1 = 1 - Math.Pow(b1, step);
        double correction2 = 1 - Math.Pow(b2, step);
        for (int i = 0; i < parameters.Length; i++)
        {
            double g = gradients[i];
            if (settings.WeightDecay != 0)
            {
                if (settings.DecoupledWeightDecay)
                    parameters[i] *= 1 - learningRate * settings.WeightDecay;
                else
                    g += settings.WeightDecay * parameters[i];
            }
            firstMoment[i] = b1 * firstMoment[i] + (1 - b1) * g;
            secondMoment[i] = b2 * secondMoment[i] + (1 - b2) * g * g;
            parameters[i] -= learningRate * (firstMoment[i] / correction1) / (Math.Sqrt(secondMoment[i] / correction2) + settings.Eps);
        }
    }
}
