// The machine's limits every timed row is held against (docs/04_Benchmarking.md §Against the limits): the fp32 FMA peak
// (FmaPeak.cs; the larger of the all-thread measurement and threads × the 1-thread one, since on a shared machine the
// all-thread loop may not get every core and a smaller roof would flatter the kernels) and the streaming bandwidth
// (MemoryBandwidth.cs) for a working set in cache and in DRAM. A row whose compulsory bytes fit the last-level cache is
// held against the cache bandwidth, a larger one against DRAM.

using System.Globalization;
using Boft.Experiments.Analysis;

namespace Boft.Benchmarks;

internal sealed record MachineLimits(int Threads, double PeakGflops, double PeakAllThreadsGflops, double PeakOneThreadGflops, double CacheGBs, double DramGBs, long CacheBytes)
{
    /// <summary>Measures the limits; <paramref name="quick"/> takes the best of 3 shorter repetitions instead of 5 (the main job's default).</summary>
    public static MachineLimits Measure(int threads, bool quick = false)
    {
        int reps = quick ? 3 : 5;
        long bytes = quick ? 500_000_000L : 2_000_000_000L;
        FmaPeak.Result all = FmaPeak.Measure(threads, reps), one = FmaPeak.Measure(1, reps);
        MemoryBandwidth.Result cache = MemoryBandwidth.Measure(threads, MemoryBandwidth.CacheWorkingSetPerThread * threads, reps, bytes);
        MemoryBandwidth.Result dram = MemoryBandwidth.Measure(threads, MemoryBandwidth.DramWorkingSet, reps, bytes);
        return new MachineLimits(threads, Math.Max(all.Gflops512, threads * one.Gflops512), all.Gflops512, one.Gflops512, cache.GigabytesPerSecond, dram.GigabytesPerSecond, LastLevelCacheBytes());
    }

    /// <summary>Measures only the memory roofs (cache and DRAM streaming bandwidth, best of 3 short repetitions; well under a second),
    /// for jobs that report GB/s against the bandwidth but not FLOP/s against the FMA peak (<c>compare</c>).</summary>
    public static (double CacheGBs, double DramGBs, long CacheBytes) MeasureBandwidth(int threads)
    {
        MemoryBandwidth.Result cache = MemoryBandwidth.Measure(threads, MemoryBandwidth.CacheWorkingSetPerThread * threads, 3, 500_000_000L);
        MemoryBandwidth.Result dram = MemoryBandwidth.Measure(threads, MemoryBandwidth.DramWorkingSet, 3, 500_000_000L);
        return (cache.GigabytesPerSecond, dram.GigabytesPerSecond, LastLevelCacheBytes());
    }

    /// <summary>The larger of each roof of this and <paramref name="other"/> (two measurements of the same machine).</summary>
    public MachineLimits Max(MachineLimits other) => new(Threads, Math.Max(PeakGflops, other.PeakGflops), Math.Max(PeakAllThreadsGflops, other.PeakAllThreadsGflops),
        Math.Max(PeakOneThreadGflops, other.PeakOneThreadGflops), Math.Max(CacheGBs, other.CacheGBs), Math.Max(DramGBs, other.DramGBs), CacheBytes);

    /// <summary>The bandwidth for a working set of <paramref name="bytes"/>: cache when it fits the last-level cache, else DRAM.</summary>
    public double BandwidthFor(double bytes) => bytes <= CacheBytes ? CacheGBs : DramGBs;

    public string Level(double bytes) => bytes <= CacheBytes ? "cache" : "DRAM";

    public double Fraction(double flops, double bytes, double seconds) => LayerMath.FractionOfRoofline(flops, bytes, seconds, PeakGflops, BandwidthFor(bytes));

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"fp32 FMA peak {PeakGflops:F1} GFLOP/s (= max({PeakAllThreadsGflops:F1} measured on {Threads} threads, {Threads} × {PeakOneThreadGflops:F1} on 1 thread)); " +
        $"bandwidth {CacheGBs:F1} GB/s in cache ({MemoryBandwidth.CacheWorkingSetPerThread / 1024} KiB per thread), {DramGBs:F1} GB/s from DRAM ({MemoryBandwidth.DramWorkingSet >> 20} MiB); " +
        $"rows up to {CacheBytes >> 20} MiB (last-level cache) use the cache bandwidth");

    private static long LastLevelCacheBytes()
    {
        try
        {
            const string root = "/sys/devices/system/cpu/cpu0/cache";
            long best = 0;
            if (Directory.Exists(root))
                foreach (string index in Directory.GetDirectories(root, "index*"))
                {
                    string file = Path.Combine(index, "size");
                    if (!File.Exists(file))
                        continue;
                    string text = File.ReadAllText(file).Trim();
                    long value = long.Parse(text.TrimEnd('K', 'M'), CultureInfo.InvariantCulture) * (text.EndsWith('M') ? 1 << 20 : text.EndsWith('K') ? 1 << 10 : 1);
                    best = Math.Max(best, value);
                }
            return best > 0 ? best : 32L << 20;
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return 32L << 20;
        }
    }
}
