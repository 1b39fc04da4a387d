// The machine's fp32 FMA peak, measured: each thread runs a register-resident loop of independent FMA chains, enough to
// hide FMA latency (4 cycles) on two FMA pipes (≥ 8 chains) and few enough to stay in registers: 16 chains of Vector512
// (AVX-512 has 32 vector registers), 12 of Vector256 (AVX2 has 16: 12 accumulators + the two constants; 16 accumulators
// spilled two chains to the stack and read half the peak, 50 instead of 99 GFLOP/s on one Zen 4 core). Best of 5
// repetitions of ~0.1 s. GFLOP/s = threads · iterations · chains · lanes · 2 / seconds. docs/04_Benchmarking.md §Peak.

using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Boft.Benchmarks;

internal static class FmaPeak
{
    public sealed record Result(int Threads, double Gflops512, double Gflops256);

    public static Result Measure(int threads, int repetitions = 5)
    {
        double best512 = 0, best256 = 0;
        for (int rep = 0; rep < repetitions; rep++)
        {
            best512 = Math.Max(best512, Vector512.IsHardwareAccelerated ? Run(threads, Loop512, 16, Chains512) : Run(threads, Loop256, 8, Chains256));
            best256 = Math.Max(best256, Run(threads, Loop256, 8, Chains256));
        }
        return new Result(threads, best512, best256);
    }

    private const int Chains512 = 16, Chains256 = 12;

    private static double Run(int threads, Func<long, float> loop, int lanes, int chains)
    {
        const long iterations = 20_000_000;
        var clock = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => Sink += loop(iterations));
        return threads * iterations * (double)chains * lanes * 2 / clock.Elapsed.TotalSeconds / 1e9;
    }

    private static float Sink;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Loop512(long iterations)
    {
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        Vector512<float> a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
        Vector512<float> m = Vector512.Create(0.999999f), c = Vector512.Create(1e-7f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
            a12 = Vector512.FusedMultiplyAdd(a12, m, c); a13 = Vector512.FusedMultiplyAdd(a13, m, c);
            a14 = Vector512.FusedMultiplyAdd(a14, m, c); a15 = Vector512.FusedMultiplyAdd(a15, m, c);
        }
        return Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15)));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Loop256(long iterations)
    {
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        Vector256<float> a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        Vector256<float> m = Vector256.Create(0.999999f), c = Vector256.Create(1e-7f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }
}
