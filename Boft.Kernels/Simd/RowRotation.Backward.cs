// The rotation backward in row layout for one factor (OFT, BOFT(1, b)) with b a multiple of two vectors: no transposes.
// docs/02_Ops/simd-backend.md §Row kernels.
//
// For y = x·D (D block-diagonal with blocks C_j; block j reads its inputs from the two runs of RowRotationPlan.ForwardRuns):
//     G_j[t, c] = Σ_r x[r, run(j, t)] · g[r, jb + c]          (block gradients)
//     g_x       = g · Dᵀ                                       (RowRotation.Forward with transpose, run after this)
// The block gradient of a work item's rows is a register tile over (t, c) that runs down the rows: per row 4 broadcasts of
// x and 2 vector loads of g feed 8 FMAs (4 t × 2 vectors, so b is a multiple of two vectors), and the accumulators stay in
// registers for all the rows of a batch. The batch's rows × feature tile of x and g are first copied
// (16-bit ones widened) into padded L1/L2 stages: rows d floats apart would share L1 sets (d = 1024: all 64 rows in the
// same ones), and every tile pass over a block reads its rows again (b/(2V) passes read each x column, b/4 each g column).
// Rows are cut into at most 16 chunks by the row count alone; each chunk's sums are kept and the chunks added in order, and
// within a chunk the batches add in row order, so the result does not depend on the thread count.

using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Boft.Backends;

namespace Boft.Kernels.Simd;

internal static partial class RowRotation
{
    /// <summary>Row chunks at most (each keeps d·b partial sums; with 64-row chunks below 1,024 rows).</summary>
    private const int MaxRowChunks = 16;

    /// <summary>Floats of one batch stage (x or g): 64 rows of a 256-feature tile (68 KiB; both stages live in L2, and the
    /// 64 rows × b floats of the block being summed in L1).</summary>
    private const int GradientStageFloats = BlockRows * (256 + StagePadding);

    /// <summary>Whether the row-layout backward runs this shape at <paramref name="lanes"/> lanes: one factor, and b a
    /// multiple of two vectors (the forward's paired tile). With b one vector (OFT(8) at 8 lanes) the block gradient's tile
    /// would be 8 t × 1 vector, and a version of it measured 0.85–0.98× the tiled backward (docs/04_Benchmarking.md).</summary>
    public static bool BackwardApplies(RowRotationPlan plan, int lanes) => plan.FactorCount == 1 && Applies(plan, lanes) && plan.BlockSize % (2 * lanes) == 0;

    /// <summary>
    /// <c>gradBlocks = ∂L/∂C</c> for <c>y = x·D</c> (one factor), from <paramref name="input"/> x and
    /// <paramref name="gradOutput"/> g (float32 or 16-bit); gradBlocks is overwritten. See the file header.
    /// </summary>
    public static void BlockGradients<TS, TV>(RowRotationPlan plan, SimdTensor input, SimdTensor gradOutput, SimdTensor gradBlocks, int rowCount, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int d = plan.FeatureCount, b = plan.BlockSize, length = d * b;
        Span<float> destination = gradBlocks.Span[..length];
        if (rowCount == 0)
        {
            destination.Clear();
            return;
        }
        int chunkRows = Math.Max(BlockRows, (rowCount + MaxRowChunks - 1) / MaxRowChunks), chunks = (rowCount + chunkRows - 1) / chunkRows;
        int stageStride = plan.TileWidth + StagePadding;
        int maxBatchRows = Math.Clamp(GradientStageFloats / stageStride, GroupRows, BlockRows);
        int batches = (chunkRows + maxBatchRows - 1) / maxBatchRows, batchRows = (chunkRows + batches - 1) / batches;
        float[] partials = ArrayPool<float>.Shared.Rent(chunks * length);
        try
        {
            SimdParallel.For(chunks * plan.FeatureTileCount, (long)rowCount * d * b, maxDegreeOfParallelism, task =>
            {
                int chunk = task / plan.FeatureTileCount, featureTile = task % plan.FeatureTileCount;
                int firstFeature = featureTile * plan.TileWidth, width = Math.Min(plan.TileWidth, d - firstFeature);
                int firstRow = chunk * chunkRows, endRow = Math.Min(rowCount, firstRow + chunkRows);
                Span<float> stages = Scratch.Get(2 * batchRows * stageStride);
                ref float sums = ref partials[chunk * length + firstFeature * b];
                for (int row = firstRow; row < endRow; row += batchRows)
                {
                    int rows = Math.Min(batchRows, endRow - row);
                    Stage(input, d, row, rows, firstFeature, width, stages[..(rows * stageStride)], stageStride);
                    Stage(gradOutput, d, row, rows, firstFeature, width, stages.Slice(batchRows * stageStride, rows * stageStride), stageStride);
                    ref float x = ref MemoryMarshal.GetReference(stages);
                    ref float g = ref stages[batchRows * stageStride];
                    BatchGradients<TS, TV>(plan.ForwardRuns[0], width / b, b, ref x, ref g, stageStride, rows, ref sums, add: row != firstRow);
                }
            });
            // Chunks in order: the result does not depend on which thread ran which chunk.
            partials.AsSpan(0, length).CopyTo(destination);
            for (int chunk = 1; chunk < chunks; chunk++)
                System.Numerics.Tensors.TensorPrimitives.Add(destination, partials.AsSpan(chunk * length, length), destination);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
    }

    /// <summary>Rows [firstRow, firstRow + rows) × features [firstFeature, firstFeature + width) of a tensor of rows of
    /// <paramref name="d"/> features into a stage of <paramref name="stride"/> floats per row, widened from 16 bits where needed.</summary>
    private static void Stage(SimdTensor tensor, int d, int firstRow, int rows, int firstFeature, int width, Span<float> stage, int stride)
    {
        if (tensor.ElementType.IsSixteenBit())
        {
            ReadOnlySpan<ushort> bits = tensor.Bits;
            for (int r = 0; r < rows; r++)
                ElementConversions.Widen(bits.Slice((firstRow + r) * d + firstFeature, width), tensor.ElementType, stage.Slice(r * stride, width));
        }
        else
        {
            ReadOnlySpan<float> values = tensor.Span;
            for (int r = 0; r < rows; r++)
                values.Slice((firstRow + r) * d + firstFeature, width).CopyTo(stage.Slice(r * stride, width));
        }
    }

    /// <summary>
    /// The block gradients of one batch of staged rows, for the <paramref name="blocks"/> blocks of a feature tile:
    /// <c>sums[j][t, c] (+)= Σ_r x[r, run(j, t)] · g[r, jb + c]</c>, row-major b × b per block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BatchGradients<TS, TV>(int[] runs, int blocks, int b, ref float x, ref float g, nint stride, int rows, ref float sums, bool add)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count, h = b / 2;
        Span<int> columns = stackalloc int[b];
        for (int j = 0; j < blocks; j++)
        {
            int first = runs[2 * j], second = runs[2 * j + 1];
            for (int t = 0; t < b; t++)
                columns[t] = t < h ? first + t : second + t - h;
            ref float block = ref Unsafe.Add(ref sums, (nint)j * b * b);
            ref float gBlock = ref Unsafe.Add(ref g, (nint)j * b);
            for (int t = 0; t < b; t += 4)
                for (int c = 0; c < b; c += 2 * v)
                    Tile4x2<TS, TV>(ref x, ref Unsafe.Add(ref gBlock, c), stride, rows, columns[t], columns[t + 1], columns[t + 2], columns[t + 3],
                        ref Unsafe.Add(ref block, (nint)t * b + c), b, add);
        }
    }

    /// <summary>Sums rows t0…t0+3 × vectors c, c + v of a block gradient over the batch's rows (8 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x2<TS, TV>(ref float x, ref float g, nint stride, int rows, nint x0, nint x1, nint x2, nint x3, ref float sums, int b, bool add)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, e0 = TS.Zero, e1 = TS.Zero, e2 = TS.Zero, e3 = TS.Zero;
        for (int r = 0; r < rows; r++)
        {
            TV k = TS.Load(ref g), l = TS.Load(ref Unsafe.Add(ref g, v));
            TV y = TS.Create(Unsafe.Add(ref x, x0));
            a0 = TS.Fma(y, k, a0); e0 = TS.Fma(y, l, e0);
            y = TS.Create(Unsafe.Add(ref x, x1));
            a1 = TS.Fma(y, k, a1); e1 = TS.Fma(y, l, e1);
            y = TS.Create(Unsafe.Add(ref x, x2));
            a2 = TS.Fma(y, k, a2); e2 = TS.Fma(y, l, e2);
            y = TS.Create(Unsafe.Add(ref x, x3));
            a3 = TS.Fma(y, k, a3); e3 = TS.Fma(y, l, e3);
            x = ref Unsafe.Add(ref x, stride);
            g = ref Unsafe.Add(ref g, stride);
        }
        Put<TS, TV>(a0, ref sums, add); Put<TS, TV>(e0, ref Unsafe.Add(ref sums, v), add);
        Put<TS, TV>(a1, ref Unsafe.Add(ref sums, b), add); Put<TS, TV>(e1, ref Unsafe.Add(ref sums, b + v), add);
        Put<TS, TV>(a2, ref Unsafe.Add(ref sums, 2 * b), add); Put<TS, TV>(e2, ref Unsafe.Add(ref sums, 2 * b + v), add);
        Put<TS, TV>(a3, ref Unsafe.Add(ref sums, 3 * b), add); Put<TS, TV>(e3, ref Unsafe.Add(ref sums, 3 * b + v), add);
    }

    /// <summary>Stores a batch's sums, or adds them to the earlier batches' (in row order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put<TS, TV>(TV value, ref float sums, bool add)
        where TS : struct, ISimd<TV>
        where TV : struct =>
        TS.Store(add ? TS.Add(TS.Load(ref sums), value) : value, ref sums);
}
