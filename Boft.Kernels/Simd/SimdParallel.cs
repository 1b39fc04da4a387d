// Threading and scratch memory of the SIMD backend.
//   * SimdParallel.For runs a loop inline when the work is too small to pay for Parallel.For (a task hand-off costs
//     ~5-20 µs on this class of machine; 2^17 multiply-adds take ~5 µs on one core), otherwise with Parallel.For.
//     Work is split into items whose boundaries depend on the shapes only, never on the thread count, so every result
//     (including reductions, which sum per-item partials in item order) is bit-identical from run to run.
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
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };
        Parallel.For(0, count, options, body);
    }

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
            offset = AlignmentOffset(buffer);
        }
        return buffer.AsSpan(offset, length);
    }

    private static unsafe int AlignmentOffset(float[] array)
    {
        nuint address = (nuint)Unsafe.AsPointer(ref array[0]);
        return (int)((64 - (address % 64)) % 64 / sizeof(float));
    }
}
