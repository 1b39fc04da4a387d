// Where the fused rotation's time goes, pass by pass (one thread, the SIMD backend's own tile plan): the tiled forward and
// the tiled backward re-run with a timestamp around each pass of each tile (forward: transpose in, factor step i, transpose
// out; backward: transpose x in, recompute factor i, transpose g_y in, block gradient i, factor step iᵀ, gather, transpose
// g_x out), so the passes run in the cache state of the real kernel. Beside each pass: its algorithmic work and, from the kernel source,
// its instruction mix per tile (vector loads, broadcasts, stores, FMAs, shuffles). The machine has no usable PMU (a KVM
// guest: perf reports cycles and instructions as not supported), so this is the profile. docs/04_Benchmarking.md.

using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
namespace Boft.Kernels.Simd;

/// <summary>One pass of the rotation profile: its name, mean time per run, share of the total, algorithmic work and
/// instruction mix per tile.</summary>
/// <param name="Pass">The pass (transpose in, factor step i, gather, transpose out).</param>
/// <param name="Microseconds">Mean time of the pass per forward, in microseconds.</param>
/// <param name="Share">Fraction of the forward's time spent in this pass.</param>
/// <param name="Work">Algorithmic work of the pass.</param>
/// <param name="InstructionMix">Instruction mix per tile, from the kernel source.</param>
public sealed record PassTime(string Pass, double Microseconds, double Share, string Work, string InstructionMix);

/// <summary>A diagnostic: the per-pass profile of the SIMD rotation's tiled forward and backward (see the file header), used by
/// the benchmark's <c>kernels --profile</c>.</summary>
public static class RotationProfile
{
    /// <summary>Profiles the forward of BOFT(m, b). <paramref name="rowsOuter"/> false writes the output with the earlier
    /// loop order (feature groups outer: each inner loop stores into every row of the tile, one page per row when d ≥ 1024),
    /// for the before/after comparison; true is the kernel's order (Transposer.TransposeToRows).</summary>
    /// <param name="m">Butterfly factors.</param>
    /// <param name="b">Block size.</param>
    /// <param name="d">Feature count.</param>
    /// <param name="tokens">Rows.</param>
    /// <param name="repetitions">Timed repetitions.</param>
    /// <param name="rowsOuter">The output loop order (see summary).</param>
    /// <returns>One entry per pass.</returns>
    public static List<PassTime> Forward(int m, int b, int d, int tokens, int repetitions = 20, bool rowsOuter = true)
    {
        var shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve().Rotation;
        return Vector512.IsHardwareAccelerated
            ? Run<Simd512, Vector512<float>>(shape, tokens, repetitions, rowsOuter)
            : Run<Simd256, Vector256<float>>(shape, tokens, repetitions, rowsOuter);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static List<PassTime> Run<TS, TV>(RotationShape shape, int tokens, int repetitions, bool rowsOuter)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        var plan = new RotationPlan(shape, TS.Count);
        int d = plan.FeatureCount, m = plan.FactorCount, b = plan.BlockSize, k = plan.BlockCount, v = TS.Count;
        var random = new Random(1);
        // Pinned, as SIMD tensors are.
        float[] input = GC.AllocateArray<float>(tokens * d, pinned: true), output = GC.AllocateArray<float>(tokens * d, pinned: true), blocks = new float[m * k * b * b];
        for (int i = 0; i < input.Length; i++)
            input[i] = (float)random.NextDouble();
        for (int i = 0; i < blocks.Length; i++)
            blocks[i] = (float)(random.NextDouble() - 0.5) / b;
        int tileRows = plan.TileRows(plan.ForwardRows, tokens), tileWidth = plan.ForwardTileWidth, tileLength = tileRows * tileWidth;
        float[] scratch = GC.AllocateUninitializedArray<float>(2 * tileLength + 16, pinned: true);
        int passes = m + 2;
        long[] passTicks = MedianTicks(passes, repetitions, ticks =>
        {
            for (int firstRow = 0; firstRow < tokens; firstRow += tileRows)
                for (int firstFeature = 0; firstFeature < d; firstFeature += tileWidth)
                {
                    int rows = Math.Min(tileRows, tokens - firstRow), width = Math.Min(tileWidth, d - firstFeature);
                    ref float current = ref scratch[0];
                    ref float next = ref scratch[tileLength];
                    long t0 = Stopwatch.GetTimestamp();
                    Transposer.Transpose<TS, TV>(ref input[firstRow * d + firstFeature], d, ref current, tileRows, rows, width);
                    long t1 = Stopwatch.GetTimestamp();
                    ticks[0] += t1 - t0;
                    for (int step = 0; step < m; step++)
                    {
                        int i = m - 1 - step;
                        t0 = Stopwatch.GetTimestamp();
                        Rotation.FactorStep<TS, TV>(ref current, ref next, plan.ForwardSource[i], width, ref blocks[(i * k + firstFeature / b) * b * b], b, tileRows, transposed: false);
                        t1 = Stopwatch.GetTimestamp();
                        ticks[1 + step] += t1 - t0;
                        ref float swap = ref current;
                        current = ref next;
                        next = ref swap;
                    }
                    t0 = Stopwatch.GetTimestamp();
                    if (rowsOuter)
                        Transposer.TransposeToRows<TS, TV>(ref current, tileRows, ref output[firstRow * d + firstFeature], d, width, rows);
                    else
                        Transposer.Transpose<TS, TV>(ref current, tileRows, ref output[firstRow * d + firstFeature], d, width, rows);
                    t1 = Stopwatch.GetTimestamp();
                    ticks[passes - 1] += t1 - t0;
                }
        });
        double total = passTicks.Sum();
        double Us(long t) => t * 1e6 / Stopwatch.Frequency;
        long elements = (long)tokens * d;
        long tiles8 = elements / (v * v);
        // FactorStep (Columns4, two row vectors per step): per input feature t and 2v rows: 2 vector loads, 4 broadcasts,
        // 8 FMAs; per 4 output features and 2v rows: 8 stores. So per factor: T·d·b/v FMAs, T·d·b/(2v)·... see docs.
        long fmas = elements * b / v;
        var result = new List<PassTime>
        {
            new("transpose in (rows → SoA tiles)", Us(passTicks[0]), passTicks[0] / total, $"{elements * 4 / 1048576.0:F1} MiB read, {elements * 4 / 1048576.0:F1} MiB written",
                $"{tiles8 * v:N0} loads, {tiles8 * v:N0} stores, {tiles8 * 3 * v:N0} shuffles, 0 FMAs"),
        };
        for (int step = 0; step < m; step++)
            result.Add(new($"factor {m - 1 - step} (x·D, gather folded in)", Us(passTicks[1 + step]), passTicks[1 + step] / total, $"{2.0 * elements * b / 1e6:F1} MFLOP",
                $"{fmas:N0} FMAs, {fmas / 4:N0} vector loads, {fmas / 2:N0} broadcasts, {elements / v:N0} stores, 0 shuffles"));
        result.Add(new("transpose out (SoA tiles → rows)", Us(passTicks[passes - 1]), passTicks[passes - 1] / total, $"{elements * 4 / 1048576.0:F1} MiB read, {elements * 4 / 1048576.0:F1} MiB written",
            $"{tiles8 * v:N0} loads, {tiles8 * v:N0} stores, {tiles8 * 3 * v:N0} shuffles, 0 FMAs"));
        return result;
    }
    /// <summary>Profiles the tiled backward of BOFT(m, b) (the kernel <c>RotateBackward</c> runs): input gradient and block
    /// gradients of one tile at a time, as <c>Rotation.BackwardTile</c> does them.</summary>
    /// <param name="m">Butterfly factors.</param>
    /// <param name="b">Block size.</param>
    /// <param name="d">Feature count.</param>
    /// <param name="tokens">Rows.</param>
    /// <param name="repetitions">Timed repetitions.</param>
    /// <returns>One entry per pass, in the kernel's order.</returns>
    public static List<PassTime> Backward(int m, int b, int d, int tokens, int repetitions = 20)
    {
        var shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve().Rotation;
        return Vector512.IsHardwareAccelerated
            ? RunBackward<Simd512, Vector512<float>>(shape, tokens, repetitions)
            : RunBackward<Simd256, Vector256<float>>(shape, tokens, repetitions);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static List<PassTime> RunBackward<TS, TV>(RotationShape shape, int tokens, int repetitions)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        var plan = new RotationPlan(shape, TS.Count);
        int d = plan.FeatureCount, m = plan.FactorCount, b = plan.BlockSize, k = plan.BlockCount, v = TS.Count;
        var random = new Random(1);
        float[] input = GC.AllocateArray<float>(tokens * d, pinned: true), gradOutput = GC.AllocateArray<float>(tokens * d, pinned: true);
        float[] gradInput = GC.AllocateArray<float>(tokens * d, pinned: true), blocks = new float[m * k * b * b], partial = new float[m * k * b * b];
        for (int i = 0; i < input.Length; i++)
        {
            input[i] = (float)random.NextDouble();
            gradOutput[i] = (float)random.NextDouble() - 0.5f;
        }
        for (int i = 0; i < blocks.Length; i++)
            blocks[i] = (float)(random.NextDouble() - 0.5) / b;
        int tileRows = plan.TileRows(plan.BackwardRows, tokens), tileWidth = plan.BackwardTileWidth, tileLength = tileRows * tileWidth;
        float[] scratch = GC.AllocateUninitializedArray<float>((m + 2) * tileLength + 16, pinned: true);
        // Passes: x in, recompute factors m−1 … 1, g_y in, (block gradient i, factor iᵀ) for i = 0 … m−1, gather, g_x out.
        var names = new List<string> { "transpose x in (rows → SoA tiles)" };
        for (int i = m - 1; i >= 1; i--)
            names.Add($"recompute factor {i} (x·D)");
        names.Add("transpose g_y in (rows → SoA tiles)");
        for (int i = 0; i < m; i++)
        {
            names.Add($"block gradient {i} (Σ_rows w·g)");
            names.Add($"factor {i}ᵀ (g·Dᵀ)");
        }
        names.Add("gather (output permutation)");
        names.Add("transpose g_x out (SoA tiles → rows)");
        int passes = names.Count;
        long[] passTicks = MedianTicks(passes, repetitions, ticks =>
        {
            for (int firstRow = 0; firstRow < tokens; firstRow += tileRows)
                for (int firstFeature = 0; firstFeature < d; firstFeature += tileWidth)
                {
                    int rows = Math.Min(tileRows, tokens - firstRow), width = Math.Min(tileWidth, d - firstFeature), pass = 0;
                    ref float factorInputs = ref scratch[0];
                    ref float current = ref scratch[m * tileLength];
                    ref float next = ref scratch[(m + 1) * tileLength];
                    long t0 = Stopwatch.GetTimestamp();
                    Transposer.Transpose<TS, TV>(ref input[firstRow * d + firstFeature], d, ref Unsafe.Add(ref factorInputs, (m - 1) * tileLength), tileRows, rows, width);
                    long t1 = Stopwatch.GetTimestamp();
                    ticks[pass++] += t1 - t0;
                    for (int i = m - 1; i >= 1; i--)
                    {
                        t0 = Stopwatch.GetTimestamp();
                        Rotation.FactorStep<TS, TV>(ref Unsafe.Add(ref factorInputs, i * tileLength), ref Unsafe.Add(ref factorInputs, (i - 1) * tileLength), plan.ForwardSource[i], width,
                            ref blocks[(i * k + firstFeature / b) * b * b], b, tileRows, transposed: false);
                        t1 = Stopwatch.GetTimestamp();
                        ticks[pass++] += t1 - t0;
                    }
                    t0 = Stopwatch.GetTimestamp();
                    Transposer.Transpose<TS, TV>(ref gradOutput[firstRow * d + firstFeature], d, ref current, tileRows, rows, width);
                    t1 = Stopwatch.GetTimestamp();
                    ticks[pass++] += t1 - t0;
                    for (int i = 0; i < m; i++)
                    {
                        int blockIndex = i * k + firstFeature / b;
                        t0 = Stopwatch.GetTimestamp();
                        Rotation.BlockGradient<TS, TV>(ref Unsafe.Add(ref factorInputs, i * tileLength), plan.ForwardSource[i], ref current, plan.TransposedSource[i], width, b, tileRows,
                            ref partial[blockIndex * b * b]);
                        t1 = Stopwatch.GetTimestamp();
                        ticks[pass++] += t1 - t0;
                        Rotation.FactorStep<TS, TV>(ref current, ref next, plan.TransposedSource[i], width, ref blocks[blockIndex * b * b], b, tileRows, transposed: true);
                        t0 = Stopwatch.GetTimestamp();
                        ticks[pass++] += t0 - t1;
                        ref float swap = ref current;
                        current = ref next;
                        next = ref swap;
                    }
                    t0 = Stopwatch.GetTimestamp();
                    if (!plan.TransposedOutputIsIdentity)
                    {
                        Rotation.Gather(ref current, ref next, plan.TransposedOutput, width, tileRows);
                        ref float swap = ref current;
                        current = ref next;
                        next = ref swap;
                    }
                    t1 = Stopwatch.GetTimestamp();
                    ticks[pass++] += t1 - t0;
                    Transposer.TransposeToRows<TS, TV>(ref current, tileRows, ref gradInput[firstRow * d + firstFeature], d, width, rows);
                    t0 = Stopwatch.GetTimestamp();
                    ticks[pass] += t0 - t1;
                }
        });
        double total = Math.Max(1, passTicks.Sum());
        double Us(long t) => t * 1e6 / Stopwatch.Frequency;
        long elements = (long)tokens * d, tiles8 = elements / (v * v), fmas = elements * b / v;
        string megabytes = $"{elements * 4 / 1048576.0:F1} MiB read, {elements * 4 / 1048576.0:F1} MiB written";
        string transposeMix = $"{tiles8 * v:N0} loads, {tiles8 * v:N0} stores, {tiles8 * 3 * v:N0} shuffles, 0 FMAs";
        string factorMix = $"{fmas:N0} FMAs, {fmas / 4:N0} vector loads, {fmas / 2:N0} broadcasts, {elements / v:N0} stores, 0 shuffles";
        // The block gradient's tile: 4 × 4 (8 loads per 16 FMAs) with 32 vector registers, else 4 × 2 (6 per 8).
        bool wide = Rotation.ThirtyTwoRegisters;
        string gradientMix = $"{fmas:N0} FMAs, {(wide ? fmas / 2 : fmas * 3 / 4):N0} vector loads, {(long)tokens / tileRows * d * b / 4:N0} horizontal sums of 4 vectors ({(wide ? "4 × 4" : "4 × 2")} tile)";
        var result = new List<PassTime>(passes);
        for (int p = 0; p < passes; p++)
        {
            string name = names[p];
            (string work, string mix) = name.StartsWith("transpose", StringComparison.Ordinal) ? (megabytes, transposeMix)
                : name.StartsWith("block gradient", StringComparison.Ordinal) ? ($"{2.0 * elements * b / 1e6:F1} MFLOP", gradientMix)
                : name.StartsWith("gather", StringComparison.Ordinal) ? (plan.TransposedOutputIsIdentity ? "none (identity)" : megabytes, plan.TransposedOutputIsIdentity ? "none" : $"{elements / v:N0} loads, {elements / v:N0} stores")
                : ($"{2.0 * elements * b / 1e6:F1} MFLOP", factorMix);
            result.Add(new(name, Us(passTicks[p]), passTicks[p] / total, work, mix));
        }
        return result;
    }
    /// <summary>Runs <paramref name="measure"/> (which adds each pass's ticks of one call to its argument) 2 + repetitions
    /// times and returns each pass's median over the last <paramref name="repetitions"/> (robust to the other jobs on a
    /// shared machine; the first two warm the caches and the JIT).</summary>
    private static long[] MedianTicks(int passes, int repetitions, Action<long[]> measure)
    {
        var samples = new long[repetitions, passes];
        var ticks = new long[passes];
        for (int rep = 0; rep < repetitions + 2; rep++)
        {
            Array.Clear(ticks);
            measure(ticks);
            if (rep >= 2)
                for (int p = 0; p < passes; p++)
                    samples[rep - 2, p] = ticks[p];
        }
        for (int p = 0; p < passes; p++)
            ticks[p] = Enumerable.Range(0, repetitions).Select(r => samples[r, p]).Order().ElementAt(repetitions / 2);
        return ticks;
    }
}
