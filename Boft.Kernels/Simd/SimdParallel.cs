// Threading and scratch memory of the SIMD backend.
//   * SimdParallel.For runs a loop inline when the work is too small to pay for a hand-off (2^17 multiply-adds take ~5 µs
//     on one core), otherwise on the backend's own worker pool (WorkerPool below), or on Parallel.For when the pool is
//     busy with another caller's loop. Work is split into items whose boundaries depend on the shapes only, never on the
//     thread count or on who runs them, so every result (including reductions, which sum per-item partials in item
//     order) is bit-identical from run to run.
//   * WorkerPool: ProcessorCount − 1 background threads that, after a loop, spin for a short while before they sleep, so
//     the next loop of a pipeline starts on threads that are already running (on the 2-core VM, Parallel.For after 1 ms
//     of idle took ~80 µs longer at the median and 0.6–0.9 ms longer at the 90th percentile, while the idle vCPU woke).
//   * Scratch gives each thread a reusable 64-byte-aligned pinned buffer, so kernels allocate nothing per call.

using System.Runtime.CompilerServices;

namespace Boft.Kernels.Simd;

/// <summary>Parallel loops with a minimum amount of work per task.</summary>
internal static class SimdParallel
{
    /// <summary>Below this many multiply-adds (or element operations) a loop runs on the calling thread.</summary>
    public const long InlineWorkThreshold = 1L << 17;

    /// <summary>Runs <paramref name="body"/> for 0 ≤ i &lt; <paramref name="count"/>, in parallel when <paramref name="totalWork"/> is large enough.</summary>
    /// <param name="count">Number of items.</param>
    /// <param name="totalWork">Estimated total work (multiply-adds or element operations) of all items.</param>
    /// <param name="maxDegreeOfParallelism">-1 for the default.</param>
    /// <param name="body">The loop body.</param>
    public static void For(int count, long totalWork, int maxDegreeOfParallelism, Action<int> body)
    {
        if (count <= 0)
            return;
        if (count == 1 || totalWork < InlineWorkThreshold || maxDegreeOfParallelism == 1)
        {
            for (int i = 0; i < count; i++)
                body(i);
            return;
        }
        if (UseWorkerPool && WorkerPool.Shared is { } pool && pool.TryRun(count, maxDegreeOfParallelism, body))
            return;
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };
        Parallel.For(0, count, options, body);
    }

    /// <summary>Whether loops run on <see cref="WorkerPool"/> (the default) rather than on Parallel.For; settable for tests
    /// and side-by-side timing.</summary>
    internal static bool UseWorkerPool { get; set; } = true;

    /// <summary>Most row chunks whose partial block gradients a backward keeps before their ordered sum
    /// (<see cref="Elementwise.SumChunks"/>).</summary>
    public const int MaxRowChunks = 16;

    /// <summary>Rows cut into at most <see cref="MaxRowChunks"/> chunks of at least <paramref name="minRows"/> rows, by the
    /// row count alone (so a reduction over chunks does not depend on the thread count).</summary>
    /// <returns>The rows per chunk (the last may have fewer) and the chunk count.</returns>
    public static (int ChunkRows, int Chunks) RowChunks(int rowCount, int minRows)
    {
        int chunkRows = Math.Max(minRows, (rowCount + MaxRowChunks - 1) / MaxRowChunks);
        return (chunkRows, (rowCount + chunkRows - 1) / chunkRows);
    }

    /// <summary>Splits <paramref name="length"/> elements into at most <paramref name="maxChunks"/> chunks of at least
    /// <paramref name="minChunk"/> elements, rounded to multiples of <paramref name="alignment"/>; depends only on its arguments.</summary>
    /// <returns>The chunk length and count.</returns>
    public static (int ChunkLength, int ChunkCount) Chunks(int length, int minChunk, int maxChunks, int alignment)
    {
        if (length <= 0)
            return (Math.Max(alignment, 1), 0);
        long chunk = Math.Max(minChunk, (length + (long)maxChunks - 1) / maxChunks);
        chunk = (chunk + alignment - 1) / alignment * alignment;
        int count = (int)((length + chunk - 1) / chunk);
        return ((int)chunk, count);
    }
}

/// <summary>
/// The SIMD backend's worker threads: one loop at a time, the calling thread taking part; each participant takes the items
/// of its own contiguous range, then what is left of the others' (see <see cref="Job"/>). After a loop a worker spins for
/// <see cref="SpinTicks"/> (about 2 ms) waiting for the next one, then sleeps on its own event. A loop started while
/// another runs is refused (the caller runs it on Parallel.For), and a loop inside a loop's body runs inline.
/// </summary>
internal sealed class WorkerPool
{
    /// <summary>The pool shared by every SIMD backend; null on a single-core machine.</summary>
    public static readonly WorkerPool? Shared = Environment.ProcessorCount > 1 ? new WorkerPool(Environment.ProcessorCount - 1) : null;

    /// <summary>How long an idle worker spins before it sleeps (Stopwatch ticks; 2 ms).</summary>
    internal static long SpinTicks { get; set; } = System.Diagnostics.Stopwatch.Frequency / 500;

    /// <summary>Each worker's wake-up event (set when a loop is published; a worker resets its own before it re-reads).</summary>
    private readonly ManualResetEventSlim[] wakes;
    private int busy;
    private Job? current;
    private long generation;

    [ThreadStatic]
    private static bool insideLoop;

    private WorkerPool(int count)
    {
        wakes = new ManualResetEventSlim[count];
        for (int i = 0; i < count; i++)
        {
            var wake = new ManualResetEventSlim(false, spinCount: 1);
            wakes[i] = wake;
            var thread = new Thread(() => Run(wake)) { IsBackground = true, Name = $"Boft SIMD worker {i + 1}" };
            thread.Start();
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> for 0 ≤ i &lt; <paramref name="count"/> on at most <paramref name="maxDegreeOfParallelism"/>
    /// threads (−1: all), the caller included, and returns true; or returns false at once, having run nothing, when the pool is
    /// running another loop. An exception thrown by the body stops the handing out of items; the first one is rethrown
    /// (in an AggregateException, as Parallel.For does) once every item already started has finished.
    /// </summary>
    public bool TryRun(int count, int maxDegreeOfParallelism, Action<int> body)
    {
        if (insideLoop)
        {
            // A loop inside a loop's body: the outer loop already keeps the threads busy.
            for (int i = 0; i < count; i++)
                body(i);
            return true;
        }
        if (Interlocked.CompareExchange(ref busy, 1, 0) != 0)
            return false;
        var job = new Job(count, body, maxDegreeOfParallelism < 0 ? wakes.Length : Math.Min(wakes.Length, maxDegreeOfParallelism - 1));
        try
        {
            Volatile.Write(ref current, job);
            Interlocked.Increment(ref generation);
            for (int w = 0; w < job.Seats; w++)
                wakes[w].Set();
            insideLoop = true;
            try
            {
                job.Work(0);
            }
            finally
            {
                insideLoop = false;
            }
            var spinner = new SpinWait();
            while (Volatile.Read(ref job.Finished) < job.Count)
                spinner.SpinOnce(sleep1Threshold: -1);
        }
        finally
        {
            Volatile.Write(ref current, null);
            Volatile.Write(ref busy, 0);
        }
        if (job.Failure is not null)
            throw new AggregateException(job.Failure);
        return true;
    }

    private void Run(ManualResetEventSlim wake)
    {
        long seen = 0;
        while (true)
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            var spinner = new SpinWait();
            while (Volatile.Read(ref generation) == seen)
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() - started > SpinTicks)
                {
                    // Sleep. Reset before re-reading the generation: a loop published after the reset also sets the event.
                    wake.Wait();
                    wake.Reset();
                    started = System.Diagnostics.Stopwatch.GetTimestamp();
                    continue;
                }
                spinner.SpinOnce(sleep1Threshold: -1);
            }
            seen = Volatile.Read(ref generation);
            Job? job = Volatile.Read(ref current);
            int participant = job?.Join() ?? 0;
            if (participant == 0)
                continue;
            insideLoop = true;
            try
            {
                job!.Work(participant);
            }
            finally
            {
                insideLoop = false;
            }
        }
    }

    /// <summary>
    /// One loop. Each participant (the caller is 0, workers 1 … seats in the order they join) owns a contiguous range of
    /// the items and takes them in order, then takes what is left of the other ranges: threads work far apart in the
    /// data, as with Parallel.For's range partitioning (handing out neighbouring items one at a time put both threads on
    /// the same rows and measured up to 2× slower), and no item waits for a thread that never came.
    /// </summary>
    private sealed class Job
    {
        private const int Padding = 16; // one 64-byte line per range counter
        private readonly Action<int> body;
        private readonly int[] ends;
        private readonly int[] next;
        private int joined;
        public readonly int Count;
        public readonly int Seats;
        public int Finished;
        public Exception? Failure;

        public Job(int count, Action<int> body, int seats)
        {
            this.body = body;
            Count = count;
            Seats = Math.Max(0, Math.Min(seats, count - 1));
            int ranges = Seats + 1;
            ends = new int[ranges];
            next = new int[ranges * Padding];
            for (int r = 0; r < ranges; r++)
            {
                next[r * Padding] = (int)((long)count * r / ranges);
                ends[r] = (int)((long)count * (r + 1) / ranges);
            }
        }

        /// <summary>A worker's participant number (1 … Seats), or 0 when the loop has all the threads it may use.</summary>
        public int Join()
        {
            int id = Interlocked.Increment(ref joined);
            return id <= Seats ? id : 0;
        }

        /// <summary>Takes items, its own range first, until none are left; after a failure the rest are only counted.</summary>
        public void Work(int participant)
        {
            int ranges = ends.Length;
            for (int k = 0; k < ranges; k++)
            {
                int range = (participant + k) % ranges, end = ends[range];
                int i;
                while ((i = Interlocked.Increment(ref next[range * Padding]) - 1) < end)
                {
                    try
                    {
                        if (Volatile.Read(ref Failure) is null)
                            body(i);
                    }
                    catch (Exception exception)
                    {
                        Interlocked.CompareExchange(ref Failure, exception, null);
                    }
                    finally
                    {
                        Interlocked.Increment(ref Finished);
                    }
                }
            }
        }
    }
}

/// <summary>A growable, 64-byte-aligned, pinned float buffer per thread (never shrinks; reused by every kernel on that thread).</summary>
internal static class Scratch
{
    [ThreadStatic]
    private static float[]? buffer;

    [ThreadStatic]
    private static int offset;

    /// <summary>A buffer of at least <paramref name="length"/> floats whose first element is 64-byte aligned. Its content is
    /// undefined. Valid until the next call on the same thread, so a kernel takes all it needs in one call.</summary>
    public static Span<float> Get(int length)
    {
        if (buffer is null || buffer.Length - 16 < length)
        {
            buffer = GC.AllocateUninitializedArray<float>(Math.Max(length, 1024) + 16, pinned: true);
            offset = SimdTensor.AlignmentOffset(buffer);
        }
        return buffer.AsSpan(offset, length);
    }
}
