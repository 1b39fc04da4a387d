// The shared timing harness (Boft.Experiments/Timing/TimingHarness.cs): an asynchronous executor's work is inside every
// timed sample (the harness synchronizes in the timed region), validation runs before anything is timed and a failed
// validation times nothing, and host↔device transfers are part of each sample when given.

using System.Collections.Concurrent;
using Boft.Experiments;

namespace Boft.Tests.Experiments;

[TestFixture]
public sealed class TimingHarnessTests
{
    /// <summary>A real asynchronous executor: a worker thread runs queued work; Synchronize waits until the queue is drained
    /// (what Accelerator.Synchronize does for a CUDA stream). Enqueueing returns at once.</summary>
    private sealed class AsyncExecutor : IDisposable
    {
        private readonly BlockingCollection<Action> queue = [];
        private readonly Thread worker;
        private int pending;

        public AsyncExecutor()
        {
            worker = new Thread(() =>
            {
                foreach (Action work in queue.GetConsumingEnumerable())
                {
                    work();
                    Interlocked.Decrement(ref pending);
                }
            }) { IsBackground = true };
            worker.Start();
        }

        public void Enqueue(Action work)
        {
            Interlocked.Increment(ref pending);
            queue.Add(work);
        }

        public void Synchronize()
        {
            SpinWait spin = default;
            while (Volatile.Read(ref pending) > 0)
                spin.SpinOnce();
        }

        public void Dispose()
        {
            queue.CompleteAdding();
            worker.Join();
            queue.Dispose();
        }
    }

    [Test]
    public void TimingAnAsynchronousExecutor_IncludesItsQueuedWork()
    {
        // Each operation only enqueues 15 ms of work (a sleep cannot end early); a harness that stopped the clock before
        // synchronizing would report microseconds.
        const int workMs = 15;
        using var executor = new AsyncExecutor();
        Timing timing = TimingHarness.Time(() => executor.Enqueue(() => Thread.Sleep(workMs)), executor.Synchronize,
            new TimingOptions(BudgetMs: 0, MinRuns: 3, MaxRuns: 3, WarmupMs: 0));
        Assert.That(timing.Runs, Is.EqualTo(3));
        Assert.That(timing.MinMs, Is.GreaterThanOrEqualTo(workMs * 0.95), "every sample waits for the queued work");
    }

    [Test]
    public void FailedValidation_TimesNothing()
    {
        int runs = 0;
        Assert.That(() => TimingHarness.Time(() => runs++, () => { }, new TimingOptions(BudgetMs: 1),
            validate: () => throw new InvalidOperationException("differs from the reference")), Throws.InvalidOperationException.With.Message.Contains("reference"));
        Assert.That(runs, Is.Zero, "validation runs before the first timed (or warm-up) run");
    }

    [Test]
    public void Transfers_AreTimedWithEverySample()
    {
        int uploads = 0, operations = 0, downloads = 0;
        var order = new List<string>();
        Timing timing = TimingHarness.Time(() => { operations++; order.Add("op"); }, () => order.Add("sync"), new TimingOptions(BudgetMs: 0, MinRuns: 4, MaxRuns: 4, WarmupMs: 0),
            transfers: new Transfers(() => { uploads++; order.Add("up"); }, () => { downloads++; order.Add("down"); }));
        Assert.That(timing.Runs, Is.EqualTo(4));
        Assert.That((uploads, operations, downloads), Is.EqualTo((6, 6, 6)), "2 warm-up runs + 4 timed runs, each with both transfers");
        Assert.That(order.Skip(1).Take(4), Is.EqualTo(new[] { "up", "op", "down", "sync" }), "upload → operation → download → synchronize");
    }

    [Test]
    public void BadOptions_AreRejectedBeforeAnyRun()
    {
        int runs = 0;
        Assert.That(() => TimingHarness.Time(() => runs++, () => { }, new TimingOptions(MinRuns: 0)), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("MinRuns"));
        Assert.That(() => TimingHarness.Time(() => runs++, () => { }, new TimingOptions(IdleBeforeSampleMs: -1)),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("IdleBeforeSampleMs"));
        Assert.That(runs, Is.Zero);
    }

    [Test]
    public void IdleBeforeSample_RunsBeforeEverySample_OutsideTheTimedRegion()
    {
        // 20 ms of serial work before each of 2 warm-up and 3 timed samples of an empty operation: the calls take at least
        // 5 × 20 ms in all, and no sample includes its idle time (an empty operation takes microseconds).
        const double idleMs = 20;
        int operations = 0;
        var wall = System.Diagnostics.Stopwatch.StartNew();
        Timing timing = TimingHarness.Time(() => operations++, () => { }, new TimingOptions(BudgetMs: 0, MinRuns: 3, MaxRuns: 3, WarmupMs: 0, IdleBeforeSampleMs: idleMs));
        Assert.That(operations, Is.EqualTo(5));
        Assert.That(wall.Elapsed.TotalMilliseconds, Is.GreaterThanOrEqualTo(5 * idleMs), "the idle time was spent before every sample");
        Assert.That(timing.MedianMs, Is.LessThan(idleMs / 2), "the idle time is not part of a sample");
    }
}
