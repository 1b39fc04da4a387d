// The backend contract, Optimizers: Optimizer steps with PyTorch's semantics (docs/02_Ops/optimizers.md).
// Each public method validates its arguments (ShapeChecks) and calls its protected *Core hook, declared right below it.

namespace Boft.Backends;

public abstract partial class BoftBackend
{
    /// <summary>
    /// One SGD step with PyTorch's semantics (<c>torch.optim.SGD</c>): <c>g = grad + weightDecay·p</c>; with momentum μ ≠ 0,
    /// <c>buf = g</c> on the first step else <c>buf = μ·buf + (1 − dampening)·g</c>, and <c>g = nesterov ? g + μ·buf : buf</c>;
    /// then <c>p −= learningRate·g</c>.
    /// </summary>
    /// <param name="parameters">Updated in place.</param>
    /// <param name="gradients">Same length.</param>
    /// <param name="momentumBuffer">Required when momentum ≠ 0; same length; updated in place.</param>
    /// <param name="settings">Hyperparameters.</param>
    /// <param name="firstStep">True on the first step for these parameters (initializes the momentum buffer).</param>
    /// <exception cref="ArgumentException">A length does not match, or a momentum buffer is missing.</exception>
    public void SgdStep(Tensor parameters, Tensor gradients, Tensor? momentumBuffer, SgdSettings settings, bool firstStep)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Check(parameters, nameof(parameters));
        Check(gradients, nameof(gradients));
        ShapeText like = ShapeChecks.LikeShape(parameters, nameof(parameters));
        RequireLength(gradients, nameof(gradients), parameters.Length, like);
        ShapeChecks.MomentumBuffer(settings.Momentum, momentumBuffer is not null);
        if (settings.Momentum != 0)
        {
            Check(momentumBuffer!, nameof(momentumBuffer));
            RequireLength(momentumBuffer!, nameof(momentumBuffer), parameters.Length, like);
        }
        SgdStepCore(parameters, gradients, settings.Momentum != 0 ? momentumBuffer : null, settings, firstStep);
    }

    /// <summary>See <see cref="SgdStep"/>.</summary>
    /// <param name="parameters">Parameters.</param><param name="gradients">Gradients.</param><param name="momentumBuffer">Momentum buffer or null when momentum is 0.</param>
    /// <param name="settings">Settings.</param><param name="firstStep">First step.</param>
    protected abstract void SgdStepCore(Tensor parameters, Tensor gradients, Tensor? momentumBuffer, SgdSettings settings, bool firstStep);

    /// <summary>
    /// One Adam or AdamW step with PyTorch's semantics (no amsgrad): <c>m = β1·m + (1 − β1)·g</c>, <c>v = β2·v + (1 − β2)·g²</c>,
    /// <c>p −= lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)</c>. Weight decay is added to g (Adam) or applied as
    /// <c>p *= 1 − lr·λ</c> before the update (AdamW, <see cref="AdamSettings.DecoupledWeightDecay"/>).
    /// </summary>
    /// <param name="parameters">Updated in place.</param>
    /// <param name="gradients">Same length.</param>
    /// <param name="firstMoment">m; same length; updated in place (zero before step 1).</param>
    /// <param name="secondMoment">v; same length; updated in place (zero before step 1).</param>
    /// <param name="settings">Hyperparameters.</param>
    /// <param name="step">t, starting at 1.</param>
    /// <param name="learningRate">The learning rate for this step (after any schedule).</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is less than 1.</exception>
    public void AdamStep(Tensor parameters, Tensor gradients, Tensor firstMoment, Tensor secondMoment, AdamSettings settings, int step, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        ShapeChecks.LearningRate(learningRate);
        Check(parameters, nameof(parameters));
        ShapeText like = ShapeChecks.LikeShape(parameters, nameof(parameters));
        Check(gradients, nameof(gradients));
        RequireLength(gradients, nameof(gradients), parameters.Length, like);
        Check(firstMoment, nameof(firstMoment));
        RequireLength(firstMoment, nameof(firstMoment), parameters.Length, like);
        Check(secondMoment, nameof(secondMoment));
        RequireLength(secondMoment, nameof(secondMoment), parameters.Length, like);
        AdamStepCore(parameters, gradients, firstMoment, secondMoment, settings, step, learningRate);
    }

    /// <summary>See <see cref="AdamStep"/>.</summary>
    /// <param name="parameters">Parameters.</param><param name="gradients">Gradients.</param><param name="firstMoment">m.</param><param name="secondMoment">v.</param>
    /// <param name="settings">Settings.</param><param name="step">t.</param><param name="learningRate">Learning rate.</param>
    protected abstract void AdamStepCore(Tensor parameters, Tensor gradients, Tensor firstMoment, Tensor secondMoment, AdamSettings settings, int step, double learningRate);
}
