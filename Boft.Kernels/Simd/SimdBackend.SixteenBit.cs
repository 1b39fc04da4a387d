// The SIMD backend's 16-bit path (docs/09_Mixed-precision.md): bfloat16 and float16 activations and frozen weights.
// ScaleBias and the two GEMM ops run their float32 kernels on chunks of rows: each chunk of a 16-bit activation is widened
// (exact) into a float32 scratch buffer of at most 2 Mi floats (8 MiB, L3-resident), the float32 kernel runs on the chunk,
// and each 16-bit result is rounded once (RNE) as it is written back. Every sum accumulates in float32; no value is
// rounded twice. Parameter gradients (gradScale, gradBias) accumulate across chunks in float32, as they do across calls.
// The rotation does not come here: its tiles widen and round as they load and store (Rotation.LoadTile / StoreTile). The
// frozen 16-bit weight of Linear is never widened whole: the GEMM widens it panel by panel as it packs (Linear.cs).

using Boft.Backends;

namespace Boft.Kernels.Simd;

public sealed partial class SimdBackend
{
    /// <summary>
    /// Floats of scratch per operand and chunk: 8 MiB, so two or three operands stay inside a 32 MiB L3. Measured at d = 4096,
    /// 2,048 tokens (docs/09_Mixed-precision.md §Speed): 128-row chunks (2 MiB) ran the bf16 rotation 4–5× slower than float32,
    /// 512-row chunks (8 MiB) 1.6–2×, because the float32 kernels lose most of their speed on short calls.
    /// </summary>
    private const int ChunkFloats = 2 * 1024 * 1024;

    /// <inheritdoc />
    public override bool Supports(ElementType elementType) => true;

    /// <inheritdoc />
    public override bool HasSixteenBitPath(SixteenBitOperation operation) => true;

    /// <inheritdoc />
    protected override Tensor AllocateCore(int[] shape, ElementType elementType) => new SimdTensor(this, shape, elementType);

    /// <summary>Floats of a small scratch buffer (256 KiB): token-by-token calls rent these, not a full chunk.</summary>
    private const int SmallScratchFloats = 64 * 1024;

    private readonly System.Collections.Concurrent.ConcurrentBag<SimdTensor> scratchPool = [], smallScratchPool = [];

    private static int ChunkRows(int columns) => Math.Max(1, ChunkFloats / Math.Max(1, columns));

    /// <summary>Runs <paramref name="body"/>(firstRow, rows) over chunks of <paramref name="rowCount"/> rows.</summary>
    private static void ForChunks(int rowCount, int columns, Action<int, int> body)
    {
        int chunk = ChunkRows(columns);
        for (int row0 = 0; row0 < rowCount; row0 += chunk)
            body(row0, Math.Min(chunk, rowCount - row0));
    }

    /// <summary>A float32 scratch tensor of at least <paramref name="length"/> elements: a pooled small (256 KiB) or chunk-sized
    /// (8 MiB) buffer, reused across calls so the path allocates nothing in steady state, or for a larger need a new one.
    /// Kernels index it by row count.</summary>
    private SimdTensor RentScratch(long length)
    {
        if (length > ChunkFloats)
            return new SimdTensor(this, [checked((int)length)]);
        if (length <= SmallScratchFloats)
            return smallScratchPool.TryTake(out SimdTensor? small) ? small : new SimdTensor(this, [SmallScratchFloats]);
        return scratchPool.TryTake(out SimdTensor? pooled) ? pooled : new SimdTensor(this, [ChunkFloats]);
    }

    /// <summary>Returns a rented buffer: each pool keeps at most 8 (64 MiB and 2 MiB at most per backend).</summary>
    private void ReturnScratch(SimdTensor scratch)
    {
        var pool = scratch.Length == ChunkFloats ? scratchPool : scratch.Length == SmallScratchFloats ? smallScratchPool : null;
        if (pool is not null && pool.Count < 8)
            pool.Add(scratch);
        else
            scratch.Dispose();
    }

    /// <summary>Widens rows [row0, row0 + rows) of a 16-bit tensor into the start of <paramref name="scratch"/>.</summary>
    private static void WidenRows(SimdTensor source, int row0, int rows, int columns, SimdTensor scratch) =>
        ElementConversions.Widen(source.Bits.Slice(row0 * columns, rows * columns), source.ElementType, scratch.Span);

    /// <summary>Rounds the start of a float32 chunk into rows [row0, row0 + rows) of a 16-bit tensor.</summary>
    private static void StoreRounded(SimdTensor chunk, SimdTensor destination, int row0, int rows, int columns) =>
        ElementConversions.Narrow(chunk.Span[..(rows * columns)], destination.ElementType, destination.Bits.Slice(row0 * columns, rows * columns));

    /// <summary>Runs <paramref name="body"/> with <paramref name="count"/> rented scratch buffers of <paramref name="length"/> floats.</summary>
    private void WithScratch(int count, long length, Action<SimdTensor[]> body)
    {
        var buffers = new SimdTensor[count];
        try
        {
            for (int i = 0; i < count; i++)
                buffers[i] = RentScratch(length);
            body(buffers);
        }
        finally
        {
            foreach (SimdTensor? buffer in buffers)
                if (buffer is not null)
                    ReturnScratch(buffer);
        }
    }

    private void ScaleBiasSixteenBit(SimdTensor input, SimdTensor? scale, SimdTensor? bias, SimdTensor output, int rowCount, int featureCount)
    {
        // A frozen bias in the activation type is widened once; a trainable one already is a float32 master.
        using SimdTensor? wideBias = WidenedCopy(bias);
        WithScratch(2, (long)Math.Min(rowCount, ChunkRows(featureCount)) * featureCount, s => ForChunks(rowCount, featureCount, (row0, rows) =>
        {
            WidenRows(input, row0, rows, featureCount, s[0]);
            ScaleBiasCore(s[0], scale, wideBias ?? bias, s[1], rows, featureCount);
            StoreRounded(s[1], output, row0, rows, featureCount);
        }));
    }

    private void ScaleBiasBackwardSixteenBit(SimdTensor input, SimdTensor? scale, SimdTensor gradOutput, SimdTensor? gradInput, SimdTensor? gradScale, SimdTensor? gradBias,
        int rowCount, int featureCount)
    {
        WithScratch(3, (long)Math.Min(rowCount, ChunkRows(featureCount)) * featureCount, s => ForChunks(rowCount, featureCount, (row0, rows) =>
        {
            WidenRows(input, row0, rows, featureCount, s[0]);
            WidenRows(gradOutput, row0, rows, featureCount, s[1]);
            ScaleBiasBackwardCore(s[0], scale, s[1], gradInput is null ? null : s[2], gradScale, gradBias, rows, featureCount);
            if (gradInput is not null)
                StoreRounded(s[2], gradInput, row0, rows, featureCount);
        }));
    }

    private void LinearSixteenBit(SimdTensor input, SimdTensor weight, SimdTensor output, int rowCount, int inFeatureCount, int outFeatureCount) =>
        GemmSixteenBit(input, inFeatureCount, weight, output, outFeatureCount, rowCount,
            (x, w, y, rows) => LinearCore(x, w, y, rows, inFeatureCount, outFeatureCount));

    private void LinearBackwardInputSixteenBit(SimdTensor gradOutput, SimdTensor weight, SimdTensor gradInput, int rowCount, int inFeatureCount, int outFeatureCount) =>
        GemmSixteenBit(gradOutput, outFeatureCount, weight, gradInput, inFeatureCount, rowCount,
            (gy, w, gx, rows) => LinearBackwardInputCore(gy, w, gx, rows, inFeatureCount, outFeatureCount));

    /// <summary>
    /// A 16-bit GEMM op: per chunk the rows of <paramref name="source"/> widened, the float32 GEMM
    /// (<paramref name="core"/>(rows, W, result, rowCount)) with the 16-bit W0 widened panel by panel inside its packing
    /// (Linear.PackSixteenBitPanel; the few-row paths widen one column or row slice at a time), the result rounded.
    /// </summary>
    private void GemmSixteenBit(SimdTensor source, int sourceColumns, SimdTensor weight, SimdTensor destination, int destinationColumns, int rowCount,
        Action<SimdTensor, SimdTensor, SimdTensor, int> core)
    {
        int columns = Math.Max(sourceColumns, destinationColumns);
        WithScratch(2, (long)Math.Min(rowCount, ChunkRows(columns)) * columns, s => ForChunks(rowCount, columns, (row0, rows) =>
        {
            WidenRows(source, row0, rows, sourceColumns, s[0]);
            core(s[0], weight, s[1], rows);
            StoreRounded(s[1], destination, row0, rows, destinationColumns);
        }));
    }

    private double SumOfSquaresSixteenBit(SimdTensor tensor)
    {
        // Chunks in element order, each summed in double: deterministic, like the float32 path's slice sums.
        double sum = 0;
        int length = tensor.Length;
        WithScratch(1, Math.Min(length, ChunkFloats), s =>
        {
            for (int start = 0; start < length; start += ChunkFloats)
            {
                int count = Math.Min(ChunkFloats, length - start);
                ElementConversions.Widen(tensor.Bits.Slice(start, count), tensor.ElementType, s[0].Span);
                sum += Elementwise.SumOfSquaresSlice(s[0].Span[..count]);
            }
        });
        return sum;
    }
}
