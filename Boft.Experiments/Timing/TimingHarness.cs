// The one validate-then-time harness of the project, used by the main job, `compare`, `peer`, the BenchmarkDotNet suites
// and scripts/GpuCheck. Rules (docs/04_Benchmarking.md §Timing):
//   1. validate first: the caller's check against the double-precision reference runs once before anything is timed, and a
//      failure stops the measurement (a fast wrong kernel is never reported);
//   2. synchronize inside the timed region: every sample is [upload] → operation → [download] → synchronize, so an
//      asynchronous backend (CUDA) is timed to the end of its work, not to the end of the enqueue;
//   3. with or without host↔device transfers: the upload and download steps are optional and timed when given;
//   4. a time budget per measurement, not a fixed count: warm up, then repeat until the budget is spent (at least MinRuns,
//      at most MaxRuns samples); report the median (and the minimum for diagnostics);
//   5. optionally, untimed serial work before each sample (IdleBeforeSampleMs), for ops that follow a pause;
//   6. ops that are compared with each other (a ratio target) can be timed interleaved (TimeInterleaved): one sample of
//      each in turn, each after an untimed run of itself, so their medians come from the same minutes of a machine whose
//      speed drifts.

using System.Diagnostics;
using Boft.Backends;

namespace Boft.Experiments;

/// <summary>A measured operation: median and minimum milliseconds over <see cref="Runs"/> samples.</summary>
/// <param name="MedianMs">Median of the samples, milliseconds.</param>
/// <param name="MinMs">Fastest sample, milliseconds.</param>
/// <param name="Runs">Number of timed samples.</param>
public readonly record struct Timing(double MedianMs, double MinMs, int Runs);

/// <summary>How long and how often to measure.</summary>
/// <param name="BudgetMs">Time budget of the timed samples (after warm-up), milliseconds.</param>
/// <param name="MinRuns">Samples taken even when the budget is spent.</param>
/// <param name="MaxRuns">Samples never exceeded.</param>
/// <param name="WarmupMs">Warm-up time (at least two untimed runs), milliseconds.</param>
/// <param name="IdleBeforeSampleMs">Serial work before every sample, outside the timed region: the calling thread spins this
/// long, as a pipeline's own code runs between two ops (0: samples back to back). It shows what waking idle worker threads
/// costs an op.</param>
public sealed record TimingOptions(double BudgetMs = 200, int MinRuns = 5, int MaxRuns = 400, double WarmupMs = 20, double IdleBeforeSampleMs = 0)
{
    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is negative, or MinRuns is below 1 or above MaxRuns.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(BudgetMs, nameof(BudgetMs));
        ArgumentOutOfRangeException.ThrowIfNegative(WarmupMs, nameof(WarmupMs));
        ArgumentOutOfRangeException.ThrowIfNegative(IdleBeforeSampleMs, nameof(IdleBeforeSampleMs));
        ArgumentOutOfRangeException.ThrowIfLessThan(MinRuns, 1, nameof(MinRuns));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRuns, MinRuns, nameof(MaxRuns));
    }
}

/// <summary>Host↔device copies timed with each sample (the "with transfers" measurement).</summary>
/// <param name="Upload">Copies the inputs to the device before the operation.</param>
/// <param name="Download">Copies the results back after the operation.</param>
public sealed record Transfers(Action? Upload, Action? Download);

/// <summary>One operation of an interleaved measurement (<see cref="TimingHarness.TimeInterleaved"/>).</summary>
/// <param name="Operation">The work to time.</param>
/// <param name="Synchronize">Waits until the work queued by <paramref name="Operation"/> has finished.</param>
/// <param name="IdleBeforeSampleMs">Serial work on the calling thread before each timed sample of this operation
/// (<see cref="TimingOptions.IdleBeforeSampleMs"/>).</param>
public sealed record InterleavedOperation(Action Operation, Action Synchronize, double IdleBeforeSampleMs = 0);

/// <summary>Validate-then-time measurements that synchronize the device inside the timed region.</summary>
public static class TimingHarness
{
    /// <summary>Validates once, then times <paramref name="operation"/> on <paramref name="backend"/>, calling
    /// <see cref="BoftBackend.Synchronize"/> at the end of every sample (inside the timed region).</summary>
    /// <param name="backend">The backend the operation runs on.</param>
    /// <param name="operation">The work to time (it may only enqueue work: the harness waits for it).</param>
    /// <param name="options">Budget and sample counts.</param>
    /// <param name="validate">Runs once before timing; throws when the backend's result differs from the reference.</param>
    /// <param name="transfers">Optional host↔device copies timed with each sample.</param>
    /// <returns>The median and minimum time.</returns>
    public static Timing Time(BoftBackend backend, Action operation, TimingOptions options, Action? validate = null, Transfers? transfers = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        return Time(operation, backend.Synchronize, options, validate, transfers);
    }

    /// <summary>Validates once, then times <paramref name="operation"/> followed by <paramref name="synchronize"/> in every sample.</summary>
    /// <param name="operation">The work to time.</param>
    /// <param name="synchronize">Waits until all work queued by <paramref name="operation"/> has finished (e.g.
    /// <c>Accelerator.Synchronize</c>); a no-op only for a synchronous executor.</param>
    /// <param name="options">Budget and sample counts.</param>
    /// <param name="validate">Runs once before timing; throws when the result differs from the reference.</param>
    /// <param name="transfers">Optional host↔device copies timed with each sample.</param>
    /// <returns>The median and minimum time.</returns>
    public static Timing Time(Action operation, Action synchronize, TimingOptions options, Action? validate = null, Transfers? transfers = null)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(synchronize);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        validate?.Invoke();
        Action? upload = transfers?.Upload, download = transfers?.Download;
        void Idle() => Spin(options.IdleBeforeSampleMs);
        void Sample()
        {
            upload?.Invoke();
            operation();
            download?.Invoke();
            synchronize();
        }

        synchronize(); // nothing queued before this call is timed
        WarmUp(() =>
        {
            Idle();
            Sample();
        }, options);
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < options.MinRuns || (total.Elapsed.TotalMilliseconds < options.BudgetMs && samples.Count < options.MaxRuns))
        {
            Idle();
            long start = Stopwatch.GetTimestamp();
            Sample();
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        return Summarize(samples);
    }

    /// <summary>
    /// Times several operations side by side: in every turn each operation runs once untimed (so its caches and threads are
    /// as warm as in back-to-back samples), then once timed, the operations taking turns in an order that rotates by one every
    /// turn (none is always first). Their medians, and so the ratios between them, come from the same moments, whatever the
    /// machine's speed does meanwhile. Nothing is validated here: validate each operation before (see
    /// <see cref="Time(Action, Action, TimingOptions, Action?, Transfers?)"/>).
    /// </summary>
    /// <param name="operations">The operations, at least one.</param>
    /// <param name="options">Per operation: <see cref="TimingOptions.BudgetMs"/> of timed samples (the turns run until all
    /// budgets together are spent), at least <see cref="TimingOptions.MinRuns"/> and at most
    /// <see cref="TimingOptions.MaxRuns"/> samples, and <see cref="TimingOptions.WarmupMs"/> of warm-up before the first turn.
    /// <see cref="TimingOptions.IdleBeforeSampleMs"/> must be 0: it is set per operation instead.</param>
    /// <returns>One timing per operation, in the order given.</returns>
    /// <exception cref="ArgumentException"><paramref name="operations"/> is empty or holds a null, or the options set an idle time.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (<see cref="TimingOptions.Validate"/>), or an
    /// operation's idle time is negative.</exception>
    public static IReadOnlyList<Timing> TimeInterleaved(IReadOnlyList<InterleavedOperation> operations, TimingOptions options)
    {
        ArgumentNullException.ThrowIfNull(operations);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.IdleBeforeSampleMs != 0)
            throw new ArgumentException($"IdleBeforeSampleMs is set per operation here (InterleavedOperation), not in the options (got {options.IdleBeforeSampleMs} ms).", nameof(options));
        if (operations.Count == 0)
            throw new ArgumentException("At least one operation is needed.", nameof(operations));
        for (int i = 0; i < operations.Count; i++)
        {
            if (operations[i] is null)
                throw new ArgumentException($"Operation {i} is null.", nameof(operations));
            if (!(operations[i].IdleBeforeSampleMs >= 0))
                throw new ArgumentOutOfRangeException(nameof(operations), operations[i].IdleBeforeSampleMs, $"Operation {i}'s IdleBeforeSampleMs must be zero or more.");
        }
        int count = operations.Count;
        foreach (InterleavedOperation op in operations)
        {
            op.Synchronize();
            WarmUp(() =>
            {
                op.Operation();
                op.Synchronize();
            }, options);
        }
        var samples = new List<double>[count];
        for (int i = 0; i < count; i++)
            samples[i] = [];
        double budgetMs = options.BudgetMs * count;
        var total = Stopwatch.StartNew();
        for (int turn = 0; samples[0].Count < options.MinRuns || (total.Elapsed.TotalMilliseconds < budgetMs && samples[0].Count < options.MaxRuns); turn++)
        {
            for (int k = 0; k < count; k++)
            {
                int i = (turn + k) % count;
                InterleavedOperation op = operations[i];
                op.Operation();
                op.Synchronize();
                Spin(op.IdleBeforeSampleMs);
                long start = Stopwatch.GetTimestamp();
                op.Operation();
                op.Synchronize();
                samples[i].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }
        return samples.Select(Summarize).ToArray();
    }

    /// <summary>Untimed runs of <paramref name="sample"/>: at least two, then until <see cref="TimingOptions.WarmupMs"/> has
    /// passed (at most <see cref="TimingOptions.MaxRuns"/>).</summary>
    private static void WarmUp(Action sample, TimingOptions options)
    {
        var warm = Stopwatch.StartNew();
        int warmRuns = 0;
        while (warmRuns < 2 || (warm.Elapsed.TotalMilliseconds < options.WarmupMs && warmRuns < options.MaxRuns))
        {
            sample();
            warmRuns++;
        }
    }

    /// <summary>Busy serial work on the calling thread for <paramref name="milliseconds"/> (none for 0).</summary>
    private static void Spin(double milliseconds)
    {
        long ticks = (long)(milliseconds * Stopwatch.Frequency / 1000);
        if (ticks <= 0)
            return;
        long start = Stopwatch.GetTimestamp();
        while (Stopwatch.GetTimestamp() - start < ticks)
            Thread.SpinWait(20);
    }

    private static Timing Summarize(List<double> samples)
    {
        samples.Sort();
        int n = samples.Count;
        double median = n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
        return new Timing(median, samples[0], n);
    }
}
