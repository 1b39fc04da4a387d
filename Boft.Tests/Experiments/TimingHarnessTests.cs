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
    [Test]
    public void Interleaved_TakesTurns_EachTimedSampleAfterAnUntimedRunOfItself()
    {
        // Three operations, 4 timed samples each, no warm-up time (still 2 warm-up runs each): every turn runs each operation
        // twice in a row (untimed, timed), and the turn's first operation moves on by one every turn.
        var log = new List<string>();
        var operations = new[] { "a", "b", "c" }.Select(name => new InterleavedOperation(() => log.Add(name), () => { })).ToArray();
        IReadOnlyList<Timing> timings = TimingHarness.TimeInterleaved(operations, new TimingOptions(BudgetMs: 0, MinRuns: 4, MaxRuns: 4, WarmupMs: 0));
        Assert.That(timings.Select(t => t.Runs), Is.EqualTo(new[] { 4, 4, 4 }));
        Assert.That(string.Concat(log), Is.EqualTo("aabbcc" + "aabbcc" + "bbccaa" + "ccaabb" + "aabbcc"), "warm-up, then turns rotated by one");
    }

    [Test]
    public void Interleaved_BothOperationsAreSampledInTheSameTurns()
    {
        // A shared counter numbers every run of either operation, as the machine's moments: each operation's timed samples
        // must fall in the same turns (back-to-back timing would give one operation turns 0-4 and the other turns 5-9).
        int runs = 0;
        var runsOf = new Dictionary<string, List<int>> { ["x"] = [], ["y"] = [] };
        InterleavedOperation Op(string name) => new(() => runsOf[name].Add(runs++), () => { });
        TimingHarness.TimeInterleaved([Op("x"), Op("y")], new TimingOptions(BudgetMs: 0, MinRuns: 5, MaxRuns: 5, WarmupMs: 0));
        // Runs 0-3 are the warm-up; then each turn is 4 runs, and an operation's timed run is the second of its pair.
        int[] TimedTurns(string name) => runsOf[name].Skip(2).Where((_, i) => i % 2 == 1).Select(r => (r - 4) / 4).ToArray();
        Assert.That(TimedTurns("x"), Is.EqualTo(new[] { 0, 1, 2, 3, 4 }));
        Assert.That(TimedTurns("y"), Is.EqualTo(new[] { 0, 1, 2, 3, 4 }));
    }

    [Test]
    public void Interleaved_IdleRunsBeforeEachTimedSample_AndBadInputIsRejected()
    {
        const double idleMs = 20;
        var wall = System.Diagnostics.Stopwatch.StartNew();
        IReadOnlyList<Timing> timings = TimingHarness.TimeInterleaved([new InterleavedOperation(() => { }, () => { }, idleMs), new InterleavedOperation(() => { }, () => { })],
            new TimingOptions(BudgetMs: 0, MinRuns: 3, MaxRuns: 3, WarmupMs: 0));
        Assert.That(wall.Elapsed.TotalMilliseconds, Is.GreaterThanOrEqualTo(3 * idleMs), "idle before each of the first operation's 3 timed samples");
        Assert.That(timings[0].MedianMs, Is.LessThan(idleMs / 2), "the idle time is not part of a sample");
        Assert.That(() => TimingHarness.TimeInterleaved([], new TimingOptions()), Throws.ArgumentException.With.Message.Contains("operations"));
        Assert.That(() => TimingHarness.TimeInterleaved([new InterleavedOperation(() => { }, () => { })], new TimingOptions(MinRuns: 0)),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("MinRuns"));
        Assert.That(() => TimingHarness.TimeInterleaved([new InterleavedOperation(() => { }, () => { }, -1)], new TimingOptions()),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("IdleBeforeSampleMs"));
        Assert.That(() => TimingHarness.TimeInterleaved([new InterleavedOperation(() => { }, () => { })], new TimingOptions(IdleBeforeSampleMs: 1)),
            Throws.ArgumentException.With.Message.Contains("per operation"));
    }
}
