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
        // Pinned and 64-byte aligned, as SIMD tensors are.
        AlignedRows input = new(tokens * d), output = new(tokens * d);
        float[] blocks = new float[m * k * b * b];
        for (int i = 0; i < tokens * d; i++)
            input[i] = (float)random.NextDouble();
        for (int i = 0; i < blocks.Length; i++)
            blocks[i] = (float)(random.NextDouble() - 0.5) / b;
        int tileRows = plan.TileRows(plan.ForwardRows, tokens), tileWidth = plan.ForwardTileWidth, tileLength = tileRows * tileWidth;
        float[] scratch = GC.AllocateUninitializedArray<float>(2 * tileLength + 16, pinned: true);
        float[] stage = GC.AllocateUninitializedArray<float>(v * (tileWidth + 16), pinned: true);
        long[] passTicks = MedianTicks(m + 2, repetitions, ticks =>
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
                        Rotation.TileToRows<TS, TV>(ref current, tileRows, ref output[firstRow * d + firstFeature], d, width, rows, stage);
                    else
                        Transposer.Transpose<TS, TV>(ref current, tileRows, ref output[firstRow * d + firstFeature], d, width, rows);
                    t1 = Stopwatch.GetTimestamp();
                    ticks[m + 1] += t1 - t0;
                }
        });
        var mix = new PassMix(tokens, d, b, v, tileRows);
        var passes = new List<(string, string, string)> { ("transpose in (rows → SoA tiles)", mix.Bytes, mix.Transpose) };
        for (int step = 0; step < m; step++)
            passes.Add(($"factor {m - 1 - step} (x·D, gather folded in)", mix.Flops, mix.Factor));
        passes.Add(("transpose out (SoA tiles → rows)", mix.Bytes, mix.Transpose));
        return Times(passes, passTicks);
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
        AlignedRows input = new(tokens * d), gradOutput = new(tokens * d), gradInput = new(tokens * d);
        float[] blocks = new float[m * k * b * b], partial = new float[m * k * b * b];
        for (int i = 0; i < tokens * d; i++)
        {
            input[i] = (float)random.NextDouble();
            gradOutput[i] = (float)random.NextDouble() - 0.5f;
        }
        for (int i = 0; i < blocks.Length; i++)
            blocks[i] = (float)(random.NextDouble() - 0.5) / b;
        int tileRows = plan.TileRows(plan.BackwardRows, tokens), tileWidth = plan.BackwardTileWidth, tileLength = tileRows * tileWidth;
        float[] scratch = GC.AllocateUninitializedArray<float>((m + 2) * tileLength + 16, pinned: true);
        float[] stage = GC.AllocateUninitializedArray<float>(v * (tileWidth + 16), pinned: true);
        // Passes: x in, recompute factors m−1 … 1, g_y in, (block gradient i, factor iᵀ) for i = 0 … m−1, gather, g_x out.
        var mix = new PassMix(tokens, d, b, v, tileRows);
        var passes = new List<(string, string, string)> { ("transpose x in (rows → SoA tiles)", mix.Bytes, mix.Transpose) };
        for (int i = m - 1; i >= 1; i--)
            passes.Add(($"recompute factor {i} (x·D)", mix.Flops, mix.Factor));
        passes.Add(("transpose g_y in (rows → SoA tiles)", mix.Bytes, mix.Transpose));
        for (int i = 0; i < m; i++)
        {
            passes.Add(($"block gradient {i} (Σ_rows w·g)", mix.Flops, mix.BlockGradient));
            passes.Add(($"factor {i}ᵀ (g·Dᵀ)", mix.Flops, mix.Factor));
        }
        passes.Add(plan.TransposedOutputIsIdentity ? ("gather (output permutation)", "none (identity)", "none")
            : ("gather (output permutation)", mix.Bytes, $"{tokens * (long)d / v:N0} loads, {tokens * (long)d / v:N0} stores"));
        passes.Add(("transpose g_x out (SoA tiles → rows)", mix.Bytes, mix.Transpose));
        long[] passTicks = MedianTicks(passes.Count, repetitions, ticks =>
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
                    Rotation.TileToRows<TS, TV>(ref current, tileRows, ref gradInput[firstRow * d + firstFeature], d, width, rows, stage);
                    t0 = Stopwatch.GetTimestamp();
                    ticks[pass] += t0 - t1;
                }
        });
        return Times(passes, passTicks);
    }

    /// <summary>The profile's entries: each pass's median time, its share of their sum, its work and instruction mix.</summary>
    private static List<PassTime> Times(List<(string Pass, string Work, string Mix)> passes, long[] ticks)
    {
        double total = Math.Max(1, ticks.Sum());
        return passes.Select((p, i) => new PassTime(p.Pass, ticks[i] * 1e6 / Stopwatch.Frequency, ticks[i] / total, p.Work, p.Mix)).ToList();
    }

    /// <summary>The work and instruction mix of each kind of pass over T × d elements, from the kernel source (v lanes):
    /// a transpose moves every element once through 8 × 8 register tiles (v loads, v stores, 3v shuffles each);
    /// FactorStep (Columns4) does, per input feature and 2v rows, 2 vector loads, 4 broadcasts and 8 FMAs, and one store per
    /// output vector; the block gradient's register tile is 4 × 4 (8 loads per 16 FMAs) with 32 vector registers, else 4 × 2
    /// (6 per 8), and one horizontal sum of 4 vectors per 4 (t, c) pairs per tile.</summary>
    private readonly struct PassMix(int tokens, int d, int b, int v, int tileRows)
    {
        private long Elements => (long)tokens * d;

        private long Fmas => Elements * b / v;

        public string Bytes => $"{Elements * 4 / 1048576.0:F1} MiB read, {Elements * 4 / 1048576.0:F1} MiB written";

        public string Flops => $"{2.0 * Elements * b / 1e6:F1} MFLOP";

        public string Transpose => $"{Elements / v:N0} loads, {Elements / v:N0} stores, {3 * Elements / v:N0} shuffles, 0 FMAs";

        public string Factor => $"{Fmas:N0} FMAs, {Fmas / 4:N0} vector loads, {Fmas / 2:N0} broadcasts, {Elements / v:N0} stores, 0 shuffles";

        public string BlockGradient => Rotation.ThirtyTwoRegisters
            ? $"{Fmas:N0} FMAs, {Fmas / 2:N0} vector loads, {(long)tokens / tileRows * d * b / 4:N0} horizontal sums of 4 vectors (4 × 4 tile)"
            : $"{Fmas:N0} FMAs, {Fmas * 3 / 4:N0} vector loads, {(long)tokens / tileRows * d * b / 4:N0} horizontal sums of 4 vectors (4 × 2 tile)";
    }

    /// <summary>A pinned float buffer whose element 0 is 64-byte aligned, as a SIMD tensor's.</summary>
    private sealed class AlignedRows
    {
        private readonly float[] array;
        private readonly int offset;

        public AlignedRows(int length)
        {
            array = GC.AllocateArray<float>(length + 16, pinned: true);
            offset = SimdTensor.AlignmentOffset(array);
        }

        public ref float this[int index] => ref array[offset + index];
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
