// Wall-clock timing with a time budget per measurement (not fixed iteration counts): warm up, then repeat until the
// budget is spent (at least MinRuns, at most MaxRuns runs) and report the median (and the minimum for diagnostics).

using System.Diagnostics;

namespace Boft.Benchmarks;

/// <summary>A measured operation: median and minimum milliseconds over <see cref="Runs"/> runs.</summary>
internal readonly record struct Timing(double MedianMs, double MinMs, int Runs);

internal static class Measure
{
    public static Timing Time(Action action, double budgetMs, int minRuns = 5, int maxRuns = 400, double warmupMs = 20)
    {
        var warm = Stopwatch.StartNew();
        int warmRuns = 0;
        while (warmRuns < 2 || (warm.Elapsed.TotalMilliseconds < warmupMs && warmRuns < maxRuns))
        {
            action();
            warmRuns++;
        }
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < minRuns || (total.Elapsed.TotalMilliseconds < budgetMs && samples.Count < maxRuns))
        {
            long start = Stopwatch.GetTimestamp();
            action();
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        samples.Sort();
        int n = samples.Count;
        double median = n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
        return new Timing(median, samples[0], n);
    }
}
