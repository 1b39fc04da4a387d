// Learning-rate schedules: the multiplier of the base rate at each optimizer step.

namespace Boft.Training;

/// <summary>A learning-rate schedule: <c>lr(step) = baseRate · Factor(step)</c> for 0-based optimizer steps.</summary>
public abstract class LearningRateSchedule
{
    /// <summary>The multiplier of the base learning rate at 0-based <paramref name="step"/>.</summary>
    /// <param name="step">Optimizer steps already taken.</param>
    /// <returns>A factor in [0, 1] for the built-in schedules.</returns>
    public abstract double Factor(int step);
}

/// <summary>
/// Linear warm-up then cosine decay, as <c>transformers.get_cosine_schedule_with_warmup</c> (half a cosine cycle):
/// <c>step/warmup</c> during warm-up, then <c>max(0, ½(1 + cos(π·progress)))</c> with
/// <c>progress = (step − warmup)/(total − warmup)</c>, floored at <see cref="MinimumFactor"/>.
/// </summary>
public sealed class CosineWithWarmup : LearningRateSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="warmupSteps">Warm-up steps (≥ 0).</param>
    /// <param name="totalSteps">Total steps (&gt; warm-up steps).</param>
    /// <param name="minimumFactor">Lower bound of the factor after warm-up, in [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public CosineWithWarmup(int warmupSteps, int totalSteps, double minimumFactor = 0)
    {
        if (warmupSteps < 0)
            throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, $"warmupSteps ({warmupSteps}) must not be negative.");
        if (totalSteps <= warmupSteps)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, $"totalSteps ({totalSteps}) must exceed warmupSteps ({warmupSteps}).");
        if (!(minimumFactor >= 0 && minimumFactor <= 1))
            throw new ArgumentOutOfRangeException(nameof(minimumFactor), minimumFactor, $"minimumFactor ({minimumFactor}) must be in [0, 1].");
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
        MinimumFactor = minimumFactor;
    }

    /// <summary>Warm-up steps.</summary>
    public int WarmupSteps { get; }

    /// <summary>Total steps.</summary>
    public int TotalSteps { get; }

    /// <summary>Lower bound after warm-up.</summary>
    public double MinimumFactor { get; }

    /// <inheritdoc />
    public override double Factor(int step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (step < WarmupSteps)
            return (double)step / Math.Max(1, WarmupSteps);
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return Math.Max(MinimumFactor, Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress))));
    }
}

/// <summary>A constant learning rate.</summary>
public sealed class ConstantSchedule : LearningRateSchedule
{
    /// <inheritdoc />
    public override double Factor(int step) => 1.0;
}
