// When the SIMD kernels stream: rows that cannot stay in the last-level cache are written with non-temporal stores and,
// where a kernel walks many short row segments, read a few rows ahead with software prefetches.
//
// Why (docs/04_Benchmarking.md §Streaming): a plain store first reads the line it writes (12 bytes moved per float32
// element of an out-of-place op instead of 8), and a kernel that walks a 64-row block one 4 KiB row segment after another
// starts a new DRAM page and a cold hardware prefetcher on every segment. On the 2-core Zen 5 VM a 128 MiB float32 copy
// ran at 45 GB/s with plain stores and 54–57 with non-temporal ones, but the same copy in 64-row × 1024-feature tiles at
// 26 GB/s; prefetching each row 2 rows ahead brought the tiles back to 47–55 GB/s. Below the threshold (input and output
// that fit the L3 together) both cost: the output leaves the cache its consumer reads it from, and the prefetches only
// add instructions (the 4 MiB rows measured 0.93–0.99× with prefetches).
//
// Non-temporal stores are weakly ordered: a work item that used them ends with Fence(), so the thread that joins the
// parallel loop reads what the items wrote.

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using Boft.Backends;

namespace Boft.Kernels.Simd;

/// <summary>The streaming rule of the SIMD kernels (see the file header).</summary>
internal static class StreamingStores
{
    /// <summary>Bytes an op reads and writes, at or above which it streams: 32 MiB, the L3 of one Zen 3 / Zen 5 CCD, by
    /// default. Settable so tests run the streaming paths on small tensors (0) and benchmarks time them against the cached
    /// ones (<see cref="long.MaxValue"/>); results are bitwise the same either way.</summary>
    internal static long ThresholdBytes { get; set; } = DefaultThresholdBytes;

    /// <summary>The default of <see cref="ThresholdBytes"/>.</summary>
    public const long DefaultThresholdBytes = 32L << 20;

    /// <summary>Rows ahead a streaming row kernel prefetches (measured best of 1–4 on the 128 MiB copy).</summary>
    public const int PrefetchRows = 2;

    /// <summary>Whether an op that moves <paramref name="bytes"/> bytes through memory streams.</summary>
    public static bool Applies(long bytes) => bytes >= ThresholdBytes;

    /// <summary>Bytes of <paramref name="rowCount"/> rows of <paramref name="featureCount"/> elements in
    /// <paramref name="input"/> and in <paramref name="output"/>, each in its element type.</summary>
    public static long RowBytes(SimdTensor input, SimdTensor output, int rowCount, int featureCount) =>
        (long)rowCount * featureCount * (input.ElementType.SizeInBytes() + output.ElementType.SizeInBytes());

    /// <summary>Whether an op over these rows streams at all, so reads its rows ahead: input and output beyond the threshold
    /// together, and not one storage (the lines were just read; streaming stores would only evict them). Each kernel adds
    /// the output types it writes with non-temporal stores.</summary>
    public static bool ReadsAhead(SimdTensor input, SimdTensor output, int rowCount, int featureCount) =>
        Applies(RowBytes(input, output, rowCount, featureCount)) && !SameStorage(input, output);

    /// <summary>Whether two tensors are one storage (never when one is float32 and the other 16-bit).</summary>
    public static bool SameStorage(SimdTensor first, SimdTensor second) =>
        first.ElementType.IsSixteenBit() == second.ElementType.IsSixteenBit()
        && (first.ElementType == ElementType.Float32
            ? Unsafe.AreSame(ref first.Data, ref second.Data)
            : first.BitsArray == second.BitsArray && first.BitsOffset == second.BitsOffset);

    /// <summary>Whether rows <paramref name="stride"/> floats apart from <paramref name="destination"/> all start on a
    /// boundary of <paramref name="lanes"/> floats, as non-temporal vector stores need.</summary>
    public static unsafe bool Aligned(ref float destination, nint stride, int lanes) =>
        (nuint)Unsafe.AsPointer(ref destination) % (nuint)(lanes * sizeof(float)) == 0 && stride % lanes == 0;

    /// <summary>Orders this thread's non-temporal stores before its later stores (the loop's completion signal).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fence()
    {
        if (Sse.IsSupported)
            Sse.StoreFence();
    }

    /// <summary>Asks for the line at <paramref name="address"/> in all cache levels; no effect where there is no prefetch instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch(ref byte address)
    {
        if (Sse.IsSupported)
            Sse.Prefetch0(Unsafe.AsPointer(ref address));
    }
}
