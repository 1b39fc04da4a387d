// The SIMD backend's parallel loops (Boft.Kernels/Simd/SimdParallel.cs): SimdParallel.For on its own worker pool, which
// hands each participant a contiguous range and lets it take what is left of the others, and falls back to Parallel.For
// when the pool is busy. A loop that loses or repeats an item, hangs when a worker does not come, swallows an exception
// or runs a nested loop on a busy pool shows up here as a count that is not 1, a timeout or a missing exception. Every
// test bounds its wait, so a hang fails instead of stalling the run. Bitwise determinism of the kernels across thread
// counts is checked by the backend fixtures (one and two threads give the same bits).

using Boft;
using Boft.Kernels.Simd;

namespace Boft.Tests.BackendOps;

[TestFixture]
[NonParallelizable] // changes the pool's spin time and switches the pool off and on
public sealed class WorkerPoolTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    /// <summary>Enough work that SimdParallel.For does not run the loop inline.</summary>
    private const long Work = SimdParallel.InlineWorkThreshold * 4;

    private static void Bounded(Action action, string what)
    {
        var task = Task.Run(action);
        Assert.That(task.Wait(Limit), Is.True, $"{what} did not finish within {Limit.TotalSeconds} s");
    }

    private static int[] RunCounting(int count, int maxDegreeOfParallelism)
    {
        var hits = new int[count];
        SimdParallel.For(count, Work, maxDegreeOfParallelism, i => Interlocked.Increment(ref hits[i]));
        return hits;
    }

    [Test]
    public void For_RunsEveryItemExactlyOnce_OnAnyThreadCount()
    {
        Bounded(() =>
        {
            foreach (int threads in new[] { -1, 2, 3, 64 })
                foreach (int count in new[] { 2, 3, 7, 16, 33, 100, 1000 })
                    for (int repeat = 0; repeat < 20; repeat++)
                    {
                        int[] hits = RunCounting(count, threads);
                        Assert.That(hits, Is.All.EqualTo(1), $"threads {threads}, {count} items");
                    }
        }, "the loops");
    }

    [Test]
    public void For_AfterWorkersFellAsleep_StillRunsEveryItem()
    {
        TimeSpan saved = SimdBackend.WorkerSpin;
        try
        {
            SimdBackend.WorkerSpin = TimeSpan.Zero; // workers sleep as soon as a loop ends: every loop has to wake them
            Bounded(() =>
            {
                for (int repeat = 0; repeat < 200; repeat++)
                {
                    Thread.Sleep(repeat % 10 == 0 ? 2 : 0);
                    Assert.That(RunCounting(64, -1), Is.All.EqualTo(1), $"loop {repeat}");
                }
            }, "the loops with sleeping workers");
        }
        finally
        {
            SimdBackend.WorkerSpin = saved;
        }
    }

    [Test]
    public void WorkerSpin_RoundTrips_AndRefusesNegativeOrLongValues()
    {
        TimeSpan saved = SimdBackend.WorkerSpin;
        try
        {
            Assert.That(saved, Is.EqualTo(TimeSpan.FromMilliseconds(2)).Within(TimeSpan.FromMicroseconds(1)), "the default");
            SimdBackend.WorkerSpin = TimeSpan.FromMilliseconds(5);
            Assert.That(SimdBackend.WorkerSpin, Is.EqualTo(TimeSpan.FromMilliseconds(5)).Within(TimeSpan.FromMicroseconds(1)));
            var negative = Assert.Throws<ArgumentOutOfRangeException>(() => SimdBackend.WorkerSpin = TimeSpan.FromMilliseconds(-1));
            Assert.That(negative!.ParamName, Is.EqualTo("value"));
            Assert.Throws<ArgumentOutOfRangeException>(() => SimdBackend.WorkerSpin = TimeSpan.FromSeconds(2));
            Assert.That(SimdBackend.WorkerSpin, Is.EqualTo(TimeSpan.FromMilliseconds(5)).Within(TimeSpan.FromMicroseconds(1)), "a refused value changed it");
        }
        finally
        {
            SimdBackend.WorkerSpin = saved;
        }
    }

    [Test]
    public void For_WorkersTakePartInTheLoop()
    {
        if (WorkerPool.Shared is null)
            Assert.Ignore("One core: there is no worker pool.");
        // Items that wait until a second thread has started one: with only the caller working, the first item would wait
        // for ever, so finishing proves a worker took part (each item gives up after the limit so a failure cannot hang).
        var threads = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        int started = 0;
        Bounded(() => SimdParallel.For(2, Work, -1, i =>
        {
            threads[Environment.CurrentManagedThreadId] = true;
            Interlocked.Increment(ref started);
            SpinWait.SpinUntil(() => Volatile.Read(ref started) == 2, Limit);
        }), "the loop");
        Assert.That(threads, Has.Count.EqualTo(2), "both items ran on one thread");
    }

    [Test]
    public void For_BodyThrows_RethrowsTheException_AndThePoolStillWorks()
    {
        Bounded(() =>
        {
            var exception = Assert.Throws<AggregateException>(() =>
                SimdParallel.For(100, Work, -1, i =>
                {
                    if (i == 37)
                        throw new InvalidOperationException("item 37");
                }));
            Assert.That(exception!.InnerExceptions.Select(e => e.Message), Does.Contain("item 37"));
            Assert.That(RunCounting(100, -1), Is.All.EqualTo(1), "the loop after the failed one");
        }, "the failing loop");
    }

    [Test]
    public void For_NestedInABody_RunsTheInnerLoopCompletely()
    {
        var hits = new int[16, 24];
        Bounded(() => SimdParallel.For(16, Work, -1, outer =>
            SimdParallel.For(24, Work, -1, inner => Interlocked.Increment(ref hits[outer, inner]))), "the nested loops");
        Assert.That(hits.Cast<int>(), Is.All.EqualTo(1));
    }

    [Test]
    public void For_FromSeveralThreadsAtOnce_RunsEveryItemOfEveryLoop()
    {
        // Loops that find the pool busy run on Parallel.For instead; none may lose an item.
        Bounded(() => Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, caller =>
        {
            for (int repeat = 0; repeat < 200; repeat++)
                Assert.That(RunCounting(50 + caller, -1), Is.All.EqualTo(1), $"caller {caller}, loop {repeat}");
        }), "the concurrent loops");
    }

    [Test]
    public void UseWorkerPool_IsTheSwitchTheLoopsRead()
    {
        bool saved = SimdBackend.UseWorkerPool;
        try
        {
            SimdBackend.UseWorkerPool = false;
            Assert.That(SimdParallel.UseWorkerPool, Is.False);
            // On Parallel.For no item runs on a pool worker (they are named "Boft SIMD worker …").
            var names = new System.Collections.Concurrent.ConcurrentBag<string?>();
            Bounded(() => SimdParallel.For(64, Work, -1, _ => names.Add(Thread.CurrentThread.Name)), "the loop on Parallel.For");
            Assert.That(names, Has.None.StartsWith("Boft SIMD worker"));
            SimdBackend.UseWorkerPool = true;
            Assert.That(SimdParallel.UseWorkerPool, Is.True);
        }
        finally
        {
            SimdBackend.UseWorkerPool = saved;
        }
    }

    [Test]
    public void Kernels_GiveTheSameBits_OnThePoolAndOnParallelFor()
    {
        using var backend = new SimdBackend(SimdBackend.BestWidth, 2);
        var shape = new BoftConfig(256, BlockSize: 8, FactorCount: 2).Resolve();
        var random = new Random(5);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        using Boft.Backends.Tensor parameters = backend.Upload(Values(shape.Cayley.ParametersLength), shape.Cayley.ParameterBlockCount, shape.Cayley.ParameterBlockLength);
        using Boft.Backends.Tensor input = backend.Upload(Values(300 * 256), 300, 256);
        using Boft.Backends.Tensor gradOutput = backend.Upload(Values(300 * 256), 300, 256);
        // Small images, many of them: the convolution runs its images-in-parallel and weight-gradient chunk loops.
        var conv = Conv2dShape.Square(8, 16, 3, 12, 12, padding: 1);
        const int images = 40;
        using Boft.Backends.Tensor convInput = backend.Upload(Values(images * conv.InputImageLength), images, conv.InputImageLength);
        using Boft.Backends.Tensor convWeight = backend.Upload(Values(conv.WeightLength), conv.OutChannels, conv.FilterDimension);
        using Boft.Backends.Tensor convGradOutput = backend.Upload(Values(images * conv.OutputImageLength), images, conv.OutputImageLength);
        var results = new List<float[]>();
        foreach (bool pool in new[] { true, false })
        {
            bool saved = SimdParallel.UseWorkerPool;
            try
            {
                SimdParallel.UseWorkerPool = pool;
                using Boft.Backends.Tensor blocks = backend.Allocate(shape.Cayley.BlockCount, 8, 8);
                using Boft.Backends.Tensor output = backend.Allocate(300, 256);
                using Boft.Backends.Tensor gradInput = backend.Allocate(300, 256);
                using Boft.Backends.Tensor gradBlocks = backend.Allocate(shape.Cayley.BlockCount, 8, 8);
                using Boft.Backends.Tensor convOutput = backend.Allocate(images, conv.OutputImageLength);
                using Boft.Backends.Tensor convGradWeight = backend.Allocate(conv.OutChannels, conv.FilterDimension);
                Bounded(() =>
                {
                    backend.CayleyForward(shape.Cayley, parameters, null, blocks);
                    backend.Rotate(shape.Rotation, input, blocks, false, output);
                    backend.RotateBackward(shape.Rotation, input, blocks, gradOutput, gradInput, gradBlocks);
                    backend.Conv2d(conv, convInput, convWeight, null, convOutput);
                    backend.Conv2dBackwardWeight(conv, convGradOutput, convInput, convGradWeight, null);
                }, "the kernels");
                results.Add([.. blocks.ToArray(), .. output.ToArray(), .. gradInput.ToArray(), .. gradBlocks.ToArray(),
                    .. convOutput.ToArray(), .. convGradWeight.ToArray()]);
            }
            finally
            {
                SimdParallel.UseWorkerPool = saved;
            }
        }
        Assert.That(results[0], Is.EqualTo(results[1]).AsCollection);
    }
}
