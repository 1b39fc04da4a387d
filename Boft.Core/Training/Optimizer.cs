// Optimizers over Parameters, driving the backend's fused step kernels (docs/02_Ops/optimizers.md).

using Boft.Backends;

namespace Boft.Training;

/// <summary>Base class of optimizers: holds the trainable parameters and per-parameter state, all allocated once.</summary>
public abstract class Optimizer : IDisposable
{
    private readonly Parameter[] parameters;
    private bool disposed;

    /// <summary>Initializes the optimizer over the trainable parameters of <paramref name="parameters"/> (frozen ones are ignored).</summary>
    /// <param name="parameters">Parameters; all must live on the same backend.</param>
    /// <exception cref="ArgumentException">No trainable parameters, or parameters on different backends.</exception>
    protected Optimizer(IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        this.parameters = parameters.Where(p => p.RequiresGrad).ToArray();
        if (this.parameters.Length == 0)
            throw new ArgumentException("The optimizer got no trainable parameters.", nameof(parameters));
        Backend = this.parameters[0].Backend;
        foreach (Parameter p in this.parameters)
            if (!ReferenceEquals(p.Backend, Backend))
                throw new ArgumentException($"Parameter '{p.Name}' lives on backend '{p.Backend.Name}' but '{this.parameters[0].Name}' on '{Backend.Name}'.", nameof(parameters));
    }

    /// <summary>The trainable parameters.</summary>
    public IReadOnlyList<Parameter> Parameters => parameters;

    /// <summary>The backend.</summary>
    public BoftBackend Backend { get; }

    /// <summary>Number of steps taken (skipped steps are not counted).</summary>
    public int StepCount { get; private set; }

    /// <summary>What a step does when a gradient holds NaN or ±Inf: throw (default) or skip the step. Either way no parameter or
    /// optimizer state changes. The check is fused with the gradient norm that clipping needs (one read of every gradient).</summary>
    public NonFiniteGradientPolicy NonFiniteGradients { get; set; } = NonFiniteGradientPolicy.Throw;

    /// <summary>Number of steps skipped under <see cref="NonFiniteGradientPolicy.SkipStep"/>, by a <see cref="LossScaler"/> on an overflow,
    /// or by the trainer for a non-finite loss.</summary>
    public int SkippedStepCount { get; private set; }

    /// <summary>The global 2-norm of the gradients at the last <see cref="Step(double?)"/>, before clipping (NaN or ∞ for a skipped step).</summary>
    public double LastGradientNorm { get; private set; } = double.NaN;

    /// <summary>The base learning rate.</summary>
    public abstract double LearningRate { get; }

    /// <summary>Takes one step with learning rate <paramref name="learningRate"/> (default: the base rate).</summary>
    /// <param name="learningRate">This step's learning rate, e.g. from a schedule.</param>
    /// <returns>True when the step was taken; false when it was skipped because a gradient is not finite
    /// (<see cref="NonFiniteGradientPolicy.SkipStep"/>).</returns>
    /// <exception cref="NonFiniteValueException">A gradient holds NaN or ±Inf and the policy is <see cref="NonFiniteGradientPolicy.Throw"/>;
    /// the message names the parameter. No parameter was changed.</exception>
    public bool Step(double? learningRate = null) => Step(learningRate, null);

    /// <summary>Clips the gradients to the global 2-norm <paramref name="maxGradientNorm"/> (PyTorch <c>clip_grad_norm_</c>, when not
    /// null) and takes one step; the norm is computed once, and the same pass checks that every gradient is finite.</summary>
    /// <param name="learningRate">This step's learning rate (default: the base rate).</param>
    /// <param name="maxGradientNorm">The clipping norm (positive, finite), or null for no clipping.</param>
    /// <returns>True when the step was taken; false when it was skipped (see <see cref="Step(double?)"/>).</returns>
    /// <exception cref="NonFiniteValueException">A gradient holds NaN or ±Inf and the policy is <see cref="NonFiniteGradientPolicy.Throw"/>.</exception>
    public bool Step(double? learningRate, double? maxGradientNorm) => StepCore(learningRate, maxGradientNorm, null);

    /// <summary>The step of <see cref="LossScaler.Step"/>: multiplies every gradient by <paramref name="inverseScale"/> (float32), then
    /// steps, or skips (and counts) the step when a gradient is not finite, whatever <see cref="NonFiniteGradients"/> says.</summary>
    internal bool StepUnscaling(double? learningRate, double? maxGradientNorm, float inverseScale) =>
        StepCore(learningRate, maxGradientNorm, inverseScale);

    private bool StepCore(double? learningRate, double? maxGradientNorm, float? inverseScale)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        double lr = learningRate ?? LearningRate;
        if (!double.IsFinite(lr) || lr < 0)
            throw new ArgumentOutOfRangeException(nameof(learningRate), lr, $"Invalid learning rate: {lr}");
        if (maxGradientNorm is { } limit && (!double.IsFinite(limit) || limit <= 0))
            throw new ArgumentOutOfRangeException(nameof(maxGradientNorm), limit, $"maxGradientNorm ({limit}) must be positive and finite.");
        if (inverseScale is { } inverse)
            foreach (Parameter p in parameters)
                p.Backend.Scale(p.RequiredGradient, inverse);
        double total = GradientClipping.NormAndCheck(parameters, out int firstNonFinite);
        LastGradientNorm = total;
        if (firstNonFinite >= 0)
        {
            if (inverseScale is not null || NonFiniteGradients == NonFiniteGradientPolicy.SkipStep)
            {
                SkippedStepCount++;
                return false;
            }
            Parameter bad = parameters[firstNonFinite];
            throw new NonFiniteValueException(
                $"The gradient of parameter #{firstNonFinite} '{bad.Name}' {bad.Value.ShapeString} holds NaN or infinite values at step {StepCount + 1}; " +
                "the step was not taken and no parameter changed. Find the source with AnomalyDetection.Enable() (a NaN in the batch, an overflowing loss), " +
                "or set NonFiniteGradients = NonFiniteGradientPolicy.SkipStep to skip such steps and count them.");
        }
        if (maxGradientNorm is { } maxNorm)
            GradientClipping.ScaleToNorm(parameters, total, maxNorm);
        StepCount++;
        for (int i = 0; i < parameters.Length; i++)
            StepParameter(i, parameters[i], lr, StepCount);
        return true;
    }

    /// <summary>Counts a step the caller skipped (the trainer, for a non-finite loss under <see cref="NonFiniteGradientPolicy.SkipStep"/>).</summary>
    internal void RecordSkippedStep() => SkippedStepCount++;

    /// <summary>Zeroes every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (Parameter p in parameters)
            p.ZeroGrad();
    }

    /// <summary>Frees the optimizer state.</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        DisposeState();
        GC.SuppressFinalize(this);
    }

    /// <summary>Updates one parameter.</summary>
    /// <param name="index">Parameter index.</param>
    /// <param name="parameter">The parameter.</param>
    /// <param name="learningRate">This step's learning rate.</param>
    /// <param name="step">t, starting at 1.</param>
    protected abstract void StepParameter(int index, Parameter parameter, double learningRate, int step);

    /// <summary>Frees per-parameter state.</summary>
    protected abstract void DisposeState();
}

/// <summary>SGD with optional momentum, dampening, Nesterov and weight decay (<c>torch.optim.SGD</c> semantics).</summary>
public sealed class Sgd : Optimizer
{
    private readonly Tensor?[] momentum;

    /// <summary>Creates the optimizer; momentum buffers are allocated now when momentum ≠ 0.</summary>
    /// <param name="parameters">Parameters (frozen ones are ignored).</param>
    /// <param name="settings">Hyperparameters (validated here).</param>
    public Sgd(IEnumerable<Parameter> parameters, SgdSettings settings)
        : base(parameters)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Settings = settings;
        momentum = Parameters.Select(p => settings.Momentum != 0 ? p.Backend.Allocate(p.Value.Shape.ToArray()) : null).ToArray();
    }

    /// <summary>The hyperparameters.</summary>
    public SgdSettings Settings { get; }

    /// <inheritdoc />
    public override double LearningRate => Settings.LearningRate;

    /// <inheritdoc />
    protected override void StepParameter(int index, Parameter parameter, double learningRate, int step) =>
        Backend.SgdStep(parameter.Value, parameter.RequiredGradient, momentum[index], Settings with { LearningRate = learningRate }, step == 1);

    /// <inheritdoc />
    protected override void DisposeState()
    {
        foreach (Tensor? t in momentum)
            t?.Dispose();
    }
}

/// <summary>Adam or AdamW (<c>torch.optim.Adam</c> / <c>torch.optim.AdamW</c> semantics, no amsgrad).</summary>
public sealed class Adam : Optimizer
{
    private readonly Tensor[] firstMoment;
    private readonly Tensor[] secondMoment;

    /// <summary>Creates the optimizer; moment buffers are allocated now.</summary>
    /// <param name="parameters">Parameters (frozen ones are ignored).</param>
    /// <param name="settings">Hyperparameters (validated here); <see cref="AdamSettings.DecoupledWeightDecay"/> selects AdamW.</param>
    public Adam(IEnumerable<Parameter> parameters, AdamSettings settings)
        : base(parameters)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Settings = settings;
        firstMoment = Parameters.Select(p => p.Backend.Allocate(p.Value.Shape.ToArray())).ToArray();
        secondMoment = Parameters.Select(p => p.Backend.Allocate(p.Value.Shape.ToArray())).ToArray();
    }

    /// <summary>The hyperparameters.</summary>
    public AdamSettings Settings { get; }

    /// <inheritdoc />
    public override double LearningRate => Settings.LearningRate;

    /// <inheritdoc />
    protected override void StepParameter(int index, Parameter parameter, double learningRate, int step) =>
        Backend.AdamStep(parameter.Value, parameter.RequiredGradient, firstMoment[index], secondMoment[index], Settings, step, learningRate);

    /// <inheritdoc />
    protected override void DisposeState()
    {
        foreach (Tensor t in firstMoment.Concat(secondMoment))
            t.Dispose();
    }
}
