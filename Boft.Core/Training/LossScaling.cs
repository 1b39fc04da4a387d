// Dynamic loss scaling for float16 training (docs/10_Loss-scaling.md), with torch.amp.GradScaler's semantics
// (torch/amp/grad_scaler.py; the update rule is aten/src/ATen/native/cuda/AmpKernels.cu amp_update_scale_cuda_kernel):
//   scale      a float32 value, initially 2^16;
//   backward   the loss gradient (the seed of the backward pass) is multiplied by the scale, so small float16 gradients do
//              not flush to zero;
//   unscale    before the step every float32 gradient is multiplied by inv = (float)(1 / (double)scale) (exact for the
//              power-of-two scales the defaults produce); a gradient that holds NaN or ±Inf afterwards means an overflow;
//   step       skipped on an overflow (masters, moments and the step count unchanged), taken otherwise;
//   update     overflow: scale = (float)(scale · backoff), good-step counter = 0;
//              else counter + 1; when it reaches growthInterval: scale = (float)(scale · growth) if that is finite, counter = 0.
// One deviation, a guard: torch lets the scale underflow to 0 (then inv = Inf and every later step is skipped silently);
// here a backoff that would leave the scale below the smallest normal float32 throws, since no scale helps then.

using System.Globalization;
using Boft.Backends;

namespace Boft.Training;

/// <summary>Settings of <see cref="LossScaler"/>; the defaults are <c>torch.amp.GradScaler</c>'s.</summary>
/// <param name="InitialScale">The first scale (default 2^16 = 65536).</param>
/// <param name="GrowthFactor">The factor applied after <paramref name="GrowthInterval"/> steps in a row without overflow (default 2; &gt; 1).</param>
/// <param name="BackoffFactor">The factor applied on an overflow (default 0.5; in (0, 1)).</param>
/// <param name="GrowthInterval">Good steps in a row before the scale grows (default 2000; ≥ 1).</param>
public sealed record LossScalingOptions(double InitialScale = 65536.0, double GrowthFactor = 2.0, double BackoffFactor = 0.5, int GrowthInterval = 2000)
{
    /// <summary>The smallest positive normal float32, 2^-126: the lowest scale (and the lowest initial scale) allowed.</summary>
    public const float SmallestNormal = 1.17549435E-38f;

    /// <summary>Validates the settings with messages that quote the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        if (!double.IsFinite(InitialScale) || (float)InitialScale < SmallestNormal || !float.IsFinite((float)InitialScale))
            throw new ArgumentOutOfRangeException(nameof(InitialScale), InitialScale, $"InitialScale ({InitialScale}) must be a positive, normal float32 value.");
        if (!double.IsFinite(GrowthFactor) || GrowthFactor <= 1)
            throw new ArgumentOutOfRangeException(nameof(GrowthFactor), GrowthFactor, $"GrowthFactor ({GrowthFactor}) must be finite and greater than 1.");
        if (!(BackoffFactor > 0 && BackoffFactor < 1))
            throw new ArgumentOutOfRangeException(nameof(BackoffFactor), BackoffFactor, $"BackoffFactor ({BackoffFactor}) must lie strictly between 0 and 1.");
        if (GrowthInterval < 1)
            throw new ArgumentOutOfRangeException(nameof(GrowthInterval), GrowthInterval, $"GrowthInterval ({GrowthInterval}) must be at least 1.");
    }
}

/// <summary>
/// Dynamic loss scaling, as <c>torch.amp.GradScaler</c> does it: multiply the loss gradient by <see cref="Scale"/> before the
/// backward pass (<see cref="ScaleGradient"/>), then let <see cref="Step"/> unscale the float32 gradients, skip the step when one
/// of them is not finite (lowering the scale) and otherwise take it (raising the scale after a run of good steps). Used by
/// <see cref="Trainer"/> through <see cref="Trainer.LossScaler"/>, or in a custom loop. It is meant for float16 activations, whose
/// small gradients flush to zero unscaled; it works the same with float32 tensors.
/// </summary>
public sealed class LossScaler
{
    /// <summary>Creates a scaler.</summary>
    /// <param name="options">The settings (validated), or null for torch's defaults.</param>
    public LossScaler(LossScalingOptions? options = null)
    {
        Options = options ?? new LossScalingOptions();
        Options.Validate();
        Scale = (float)Options.InitialScale;
    }

    /// <summary>The settings.</summary>
    public LossScalingOptions Options { get; }

    /// <summary>The current scale (a float32 value, as torch keeps it).</summary>
    public float Scale { get; private set; }

    /// <summary>The multiplier that unscales a gradient: <c>(float)(1 / (double)Scale)</c>, as torch computes it.</summary>
    public float InverseScale => (float)(1.0 / Scale);

    /// <summary>Steps without overflow since the scale last changed or overflowed (torch's growth tracker).</summary>
    public int GoodStepsInARow { get; private set; }

    /// <summary>Steps this scaler skipped because an unscaled gradient held NaN or ±Inf.</summary>
    public int SkippedStepCount { get; private set; }

    /// <summary>Steps this scaler took.</summary>
    public int TakenStepCount { get; private set; }

    /// <summary>Multiplies the loss gradient (the seed of the backward pass, e.g. the output gradient a loss wrote) by <see cref="Scale"/>.</summary>
    /// <param name="lossGradient">The gradient of the loss with respect to the model output; scaled in place.</param>
    public void ScaleGradient(Tensor lossGradient)
    {
        ArgumentNullException.ThrowIfNull(lossGradient);
        lossGradient.Backend.Scale(lossGradient, Scale);
    }

    /// <summary>
    /// Unscales the optimizer's gradients in float32, then takes the step, or skips it when an unscaled gradient holds NaN or ±Inf
    /// (no parameter, moment or step count changes; the skip is counted here and in <see cref="Optimizer.SkippedStepCount"/>), and
    /// updates the scale. An overflow always skips, whatever <see cref="Optimizer.NonFiniteGradients"/> says: under loss scaling an
    /// occasional overflow is expected, and the scaler's answer to it is a smaller scale.
    /// </summary>
    /// <param name="optimizer">The optimizer whose gradients were produced from a loss gradient scaled by <see cref="ScaleGradient"/>.</param>
    /// <param name="learningRate">This step's learning rate (default: the optimizer's base rate).</param>
    /// <param name="maxGradientNorm">Clip the unscaled gradients to this global 2-norm, or null.</param>
    /// <returns>True when the step was taken, false when it was skipped.</returns>
    /// <exception cref="NonFiniteValueException">An overflow at a scale that cannot be lowered further (below the smallest normal float32):
    /// the gradients are not finite at any scale. No parameter was changed.</exception>
    public bool Step(Optimizer optimizer, double? learningRate = null, double? maxGradientNorm = null)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        bool taken = optimizer.StepUnscaling(learningRate, maxGradientNorm, InverseScale);
        Update(foundNonFinite: !taken);
        return taken;
    }

    /// <summary>Updates the scale after a step (torch's <c>GradScaler.update</c>); <see cref="Step"/> calls it. Call it directly only in a
    /// loop that unscales and checks gradients itself.</summary>
    /// <param name="foundNonFinite">Whether the step found a non-finite gradient (and was skipped).</param>
    /// <exception cref="NonFiniteValueException">The backed-off scale would fall below the smallest normal float32.</exception>
    public void Update(bool foundNonFinite)
    {
        if (foundNonFinite)
        {
            SkippedStepCount++;
            float lowered = (float)(Scale * Options.BackoffFactor);
            GoodStepsInARow = 0;
            if (!(lowered >= LossScalingOptions.SmallestNormal))
                throw new NonFiniteValueException(string.Create(CultureInfo.InvariantCulture,
                    $"Loss scaling: the gradients hold NaN or infinite values even at scale {Scale:G9} after {SkippedStepCount} skipped steps; lowering it further would reach zero. The model or the data produce non-finite values (AnomalyDetection.Enable() names the first op). No parameter was changed."));
            Scale = lowered;
            return;
        }
        TakenStepCount++;
        int successful = GoodStepsInARow + 1;
        if (successful == Options.GrowthInterval)
        {
            float grown = (float)(Scale * Options.GrowthFactor);
            if (float.IsFinite(grown))
                Scale = grown;
            GoodStepsInARow = 0;
        }
        else
        {
            GoodStepsInARow = successful;
        }
    }

    /// <summary>The resumable state (torch's <c>GradScaler.state_dict()</c>): scale, factors, interval and good steps in a row.</summary>
    public LossScalerState State => new(Scale, Options.GrowthFactor, Options.BackoffFactor, Options.GrowthInterval, GoodStepsInARow);

    /// <summary>
    /// A scaler that continues from <paramref name="state"/> (torch's <c>load_state_dict</c>): its scale, factors, interval and
    /// good steps in a row. <see cref="Options"/>' <see cref="LossScalingOptions.InitialScale"/> is the restored scale; the
    /// skipped and taken step counts, which torch does not keep either, start at zero.
    /// </summary>
    /// <param name="state">The state, e.g. from <see cref="LossScalerState.Load"/>.</param>
    /// <returns>The scaler.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value of the state is out of range.</exception>
    public static LossScaler FromState(LossScalerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        state.Validate();
        return new LossScaler(new LossScalingOptions(state.Scale, state.GrowthFactor, state.BackoffFactor, state.GrowthInterval))
        {
            GoodStepsInARow = state.GrowthTracker,
        };
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"loss scale {Scale:G9} ({GoodStepsInARow}/{Options.GrowthInterval} good steps, {SkippedStepCount} skipped)");
}
