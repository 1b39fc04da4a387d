// The machine's memory bandwidth, measured: each thread streams over its own slice of a working set with a read-mostly
// kernel (a = a·k + b over float32, one load and one store per element: 8 bytes per element moved), vectorised with
// Vector512 where accelerated, else Vector256. The working set decides what is measured: a few hundred KiB per thread
// stays in L2, tens of MiB in all reaches DRAM. Best of 5 repetitions of at least ~0.1 s each.
// GB/s = bytes read + bytes written / seconds. docs/04_Benchmarking.md §Peak.
// MeasureCopy is the roof of an out-of-place op instead (y = x·k into another array, the rotation's pattern): plain stores
// first read each line they write, non-temporal ones do not but leave the cache; it reports the better of the two.

using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Boft.Benchmarks;

/// <summary>Measured streaming bandwidth for a working set, the memory roof of the benchmark's rooflines.</summary>
internal static class MemoryBandwidth
{
    /// <summary>One measurement: threads, working set in bytes, and the best GB/s over the repetitions.</summary>
    public sealed record Result(int Threads, long WorkingSetBytes, double GigabytesPerSecond);

    /// <summary>A working set that stays in each core's L2 cache (256 KiB per thread).</summary>
    public const long CacheWorkingSetPerThread = 256L * 1024;

    /// <summary>A working set well beyond any last-level cache here (256 MiB in all).</summary>
    public const long DramWorkingSet = 256L * 1024 * 1024;

    /// <summary>Measures streaming read+write bandwidth over <paramref name="workingSetBytes"/> bytes in all: the best of
    /// <paramref name="repetitions"/> repetitions that each move about <paramref name="bytesPerRepetition"/> bytes.</summary>
    public static Result Measure(int threads, long workingSetBytes, int repetitions = 5, long bytesPerRepetition = 2_000_000_000L)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(workingSetBytes, 4096L * threads);
        int perThread = checked((int)(workingSetBytes / sizeof(float) / threads));
        perThread -= perThread % 64;
        var slices = new float[threads][];
        for (int t = 0; t < threads; t++)
        {
            slices[t] = new float[perThread];
            Array.Fill(slices[t], 1f);
        }
        double best = BestGigabytesPerSecond(threads, 2L * sizeof(float) * perThread * threads, repetitions, bytesPerRepetition, t => Stream(slices[t]));
        return new Result(threads, (long)perThread * sizeof(float) * threads, best);
    }

    /// <summary>The best GB/s over <paramref name="repetitions"/> repetitions, each running <paramref name="pass"/> (one pass
    /// over thread t's slice, moving <paramref name="bytesPerPass"/> bytes over all threads) often enough to move about
    /// <paramref name="bytesPerRepetition"/> bytes, on <paramref name="threads"/> threads at once.</summary>
    private static double BestGigabytesPerSecond(int threads, long bytesPerPass, int repetitions, long bytesPerRepetition, Action<int> pass)
    {
        int passes = (int)Math.Clamp(bytesPerRepetition / bytesPerPass, 1, 100_000);
        double best = 0;
        for (int rep = 0; rep < repetitions; rep++)
        {
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                for (int p = 0; p < passes; p++) pass(t);
            });
            best = Math.Max(best, bytesPerPass * (double)passes / clock.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    /// <summary>Measures an out-of-place copy over <paramref name="workingSetBytes"/> bytes in all (half read, half written),
    /// with plain and with non-temporal stores (where the hardware has them); the better GB/s, bytes read + written.</summary>
    public static Result MeasureCopy(int threads, long workingSetBytes, int repetitions = 5, long bytesPerRepetition = 2_000_000_000L)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(workingSetBytes, 8192L * threads);
        int perThread = checked((int)(workingSetBytes / 2 / sizeof(float) / threads));
        perThread -= perThread % 64;
        var sources = new float[threads][];
        var destinations = new float[threads][];
        for (int t = 0; t < threads; t++)
        {
            sources[t] = GC.AllocateArray<float>(perThread + 16, pinned: true);
            destinations[t] = GC.AllocateArray<float>(perThread + 16, pinned: true);
            Array.Fill(sources[t], 1f);
            Array.Fill(destinations[t], 1f);
        }
        long bytesPerPass = 2L * sizeof(float) * perThread * threads;
        double best = 0;
        foreach (bool streaming in Avx.IsSupported ? new[] { false, true } : new[] { false })
            best = Math.Max(best, BestGigabytesPerSecond(threads, bytesPerPass, repetitions, bytesPerRepetition,
                t => Copy(sources[t], destinations[t], perThread, streaming)));
        return new Result(threads, 2L * perThread * sizeof(float) * threads, best);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static unsafe void Copy(float[] source, float[] destination, int length, bool streaming)
    {
        fixed (float* from = source, to = destination)
        {
            // Both arrays are pinned; start each on a 64-byte boundary.
            float* x = (float*)(((nuint)from + 63) & ~(nuint)63), y = (float*)(((nuint)to + 63) & ~(nuint)63);
            var k = Vector256.Create(0.999999f);
            for (int i = 0; i + 16 <= length; i += 16)
            {
                Vector256<float> a = Vector256.Load(x + i) * k, b = Vector256.Load(x + i + 8) * k;
                if (streaming)
                {
                    Avx.StoreAlignedNonTemporal(y + i, a);
                    Avx.StoreAlignedNonTemporal(y + i + 8, b);
                }
                else
                {
                    a.Store(y + i);
                    b.Store(y + i + 8);
                }
            }
            if (streaming)
                Sse.StoreFence();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Stream(float[] data)
    {
        var span = data.AsSpan();
        var k = new Vector<float>(0.999999f);
        var b = new Vector<float>(1e-7f);
        int width = Vector<float>.Count;
        for (int i = 0; i + width <= span.Length; i += width)
        {
            var v = new Vector<float>(span.Slice(i, width));
            (v * k + b).CopyTo(span.Slice(i, width));
        }
    }
}
