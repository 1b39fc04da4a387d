// The SIMD backend's 16-bit path (docs/09_Mixed-precision.md): bfloat16 and float16 activations and frozen weights. The
// float32 kernels run unchanged on chunks of rows: each chunk of a 16-bit operand is widened (exact) into a float32
// scratch buffer of at most 64 Ki floats (256 KiB, cache-resident), the float32 kernel runs on the chunk, and each 16-bit
// result is rounded once (RNE) as it is written back. Every sum accumulates in float32; no value is rounded twice.
// Parameter gradients accumulate across chunks in float32 (gradBlocks: the first chunk writes, later ones add).
// Known gap: the frozen 16-bit weight of Linear is widened whole per call (the GEMM's packing should widen instead).

using Boft.Backends;

namespace Boft.Kernels.Simd;

public sealed partial class SimdBackend
{
    /// <summary>Floats of scratch per operand and chunk.</summary>
    private const int ChunkFloats = 64 * 1024;

    /// <inheritdoc />
    public override bool Supports(ElementType elementType) => true;

    /// <inheritdoc />
    protected override Tensor AllocateCore(int[] shape, ElementType elementType) => new SimdTensor(this, shape, elementType);

    private static int ChunkRows(int columns) => Math.Max(1, ChunkFloats / Math.Max(1, columns));

    /// <summary>Runs <paramref name="body"/>(firstRow, rows) over chunks of <paramref name="rowCount"/> rows.</summary>
    private static void ForChunks(int rowCount, int columns, Action<int, int> body)
    {
        int chunk = ChunkRows(columns);
        for (int row0 = 0; row0 < rowCount; row0 += chunk)
            body(row0, Math.Min(chunk, rowCount - row0));
    }

    /// <summary>A float32 scratch tensor [rows, columns] holding rows [row0, row0 + rows) of a 16-bit tensor, widened.</summary>
    private SimdTensor Widened(SimdTensor source, int row0, int rows, int columns)
    {
        var scratch = new SimdTensor(this, [rows, columns]);
        ElementConversions.Widen(source.Bits.Slice(row0 * columns, rows * columns), source.ElementType, scratch.Span);
        return scratch;
    }

    /// <summary>Rounds a float32 chunk into rows [row0, row0 + rows) of a 16-bit tensor.</summary>
    private static void StoreRounded(SimdTensor chunk, SimdTensor destination, int row0, int rows, int columns) =>
        ElementConversions.Narrow(chunk.Span[..(rows * columns)], destination.ElementType, destination.Bits.Slice(row0 * columns, rows * columns));

    private void RotateSixteenBit(RotationShape shape, SimdTensor input, SimdTensor blocks, bool transpose, SimdTensor output, int rowCount)
    {
        int d = shape.FeatureCount;
        ForChunks(rowCount, d, (row0, rows) =>
        {
            using SimdTensor x = Widened(input, row0, rows, d);
            using var y = new SimdTensor(this, [rows, d]);
            RotateCore(shape, x, blocks, transpose, y, rows);
            StoreRounded(y, output, row0, rows, d);
        });
    }

    private void RotateBackwardSixteenBit(RotationShape shape, SimdTensor input, SimdTensor blocks, SimdTensor gradOutput, SimdTensor gradInput, SimdTensor gradBlocks, int rowCount)
    {
        int d = shape.FeatureCount;
        using var partial = new SimdTensor(this, [gradBlocks.Length]);
        ForChunks(rowCount, d, (row0, rows) =>
        {
            using SimdTensor x = Widened(input, row0, rows, d);
            using SimdTensor gy = Widened(gradOutput, row0, rows, d);
            using var gx = new SimdTensor(this, [rows, d]);
            bool first = row0 == 0;
            RotateBackwardCore(shape, x, blocks, gy, gx, first ? gradBlocks : partial, rows);
            if (!first)
            {
                Span<float> total = gradBlocks.Span;
                ReadOnlySpan<float> part = partial.Span;
                for (int i = 0; i < total.Length; i++)
                    total[i] += part[i];
            }
            StoreRounded(gx, gradInput, row0, rows, d);
        });
    }

    private void ScaleBiasSixteenBit(SimdTensor input, SimdTensor? scale, SimdTensor? bias, SimdTensor output, int rowCount, int featureCount)
    {
        using SimdTensor? wideBias = bias is null ? null : Widened(bias, 0, 1, featureCount);
        ForChunks(rowCount, featureCount, (row0, rows) =>
        {
            using SimdTensor x = Widened(input, row0, rows, featureCount);
            using var y = new SimdTensor(this, [rows, featureCount]);
            ScaleBiasCore(x, scale, wideBias, y, rows, featureCount);
            StoreRounded(y, output, row0, rows, featureCount);
        });
    }

    private void ScaleBiasBackwardSixteenBit(SimdTensor input, SimdTensor? scale, SimdTensor gradOutput, SimdTensor? gradInput, SimdTensor? gradScale, SimdTensor? gradBias,
        int rowCount, int featureCount)
    {
        ForChunks(rowCount, featureCount, (row0, rows) =>
        {
            using SimdTensor x = Widened(input, row0, rows, featureCount);
            using SimdTensor gy = Widened(gradOutput, row0, rows, featureCount);
            using SimdTensor? gx = gradInput is null ? null : new SimdTensor(this, [rows, featureCount]);
            ScaleBiasBackwardCore(x, scale, gy, gx, gradScale, gradBias, rows, featureCount);
            if (gx is not null)
                StoreRounded(gx, gradInput!, row0, rows, featureCount);
        });
    }

    private void LinearSixteenBit(SimdTensor input, SimdTensor weight, SimdTensor output, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        using SimdTensor w = Widened(weight, 0, outFeatureCount, inFeatureCount);
        ForChunks(rowCount, Math.Max(inFeatureCount, outFeatureCount), (row0, rows) =>
        {
            using SimdTensor x = Widened(input, row0, rows, inFeatureCount);
            using var y = new SimdTensor(this, [rows, outFeatureCount]);
            LinearCore(x, w, y, rows, inFeatureCount, outFeatureCount);
            StoreRounded(y, output, row0, rows, outFeatureCount);
        });
    }

    private void LinearBackwardInputSixteenBit(SimdTensor gradOutput, SimdTensor weight, SimdTensor gradInput, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        using SimdTensor w = Widened(weight, 0, outFeatureCount, inFeatureCount);
        ForChunks(rowCount, Math.Max(inFeatureCount, outFeatureCount), (row0, rows) =>
        {
            using SimdTensor gy = Widened(gradOutput, row0, rows, outFeatureCount);
            using var gx = new SimdTensor(this, [rows, inFeatureCount]);
            LinearBackwardInputCore(gy, w, gx, rows, inFeatureCount, outFeatureCount);
            StoreRounded(gx, gradInput, row0, rows, inFeatureCount);
        });
    }
}
