// The rotation backward in row layout for b a multiple of two vectors (OFT(16/32/64…), BOFT(m, 16/32…) with AVX2): no
// transposes. docs/02_Ops/simd-backend.md §Row kernels.
//
// The forward runs factor i = m−1 … 0 on in_i (in_{m−1} = x, in_i = out_{i+1}); block j of factor i reads its inputs from
// the two runs of RowRotationPlan.ForwardRuns[i] and writes block order: out_i[r, jb + c] = Σ_t in_i[r, R_i(j, t)]·C_ij[t, c].
// Per batch of rows × feature tile (tiles are whole butterfly groups, so every run stays inside one), with g_0 = ∂L/∂y:
//     recompute in_i for i < m − 1                              (the forward's product, into stages)
//     G_ij[t, c]            = Σ_r in_i[r, R_i(j, t)] · g_i[r, jb + c]        (block gradients)
//     g_{i+1}[r, R_i(j, t)] = Σ_c g_i[r, jb + c] · C_ij[t, c]                  (g·C_iᵀ scattered back to in_i's order)
// for i = 0 … m − 1; g_m is g_x. For one factor the caller computes g_x with the row forward instead (measured faster).
// The block gradient is a register tile over (t, c) that runs down the batch's rows: per row 4 broadcasts of in_i and 2
// vector loads of g feed 8 FMAs (4 t × 2 vectors), and the accumulators stay in registers for the whole batch. x and g are
// first copied (16-bit ones widened) into padded L1/L2 stages: rows d floats apart would share L1 sets (d = 1024: all 64
// rows in the same ones), and every tile pass over a block reads its rows again (b/(2V) passes read each x column, b/4
// each g column). The products are the forward's 4 rows × 2 vectors with an output index per vector.
// Rows are cut into at most 16 chunks by the row count alone; each chunk's sums are kept and the chunks added in order, and
// within a chunk the batches add in row order, so the result does not depend on the thread count.

using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Boft.Backends;

namespace Boft.Kernels.Simd;

internal static partial class RowRotation
{
    /// <summary>Floats of a batch's m + 2 stages together (256 KiB, half of a 512 KiB L2; the rows × b floats of the block
    /// being summed stay in L1).</summary>
    private const int GradientStageFloats = 64 * 1024;

    /// <summary>Whether the row-layout backward runs this shape at <paramref name="lanes"/> lanes: b a multiple of two vectors
    /// (the forward's paired tile) and the forward's conditions. With b one vector (OFT(8) at 8 lanes) the block gradient's
    /// tile would be 8 t × 1 vector, and a version of it measured 0.85–0.98× the tiled backward (docs/04_Benchmarking.md).</summary>
    public static bool BackwardApplies(RowRotationPlan plan, int lanes) => Applies(plan, lanes) && plan.BlockSize % (2 * lanes) == 0;

    /// <summary>
    /// The backward of <c>y = x·R</c>: <paramref name="gradBlocks"/> (overwritten) and <paramref name="gradInput"/> (may alias
    /// <paramref name="gradOutput"/>) from x, the blocks and g = ∂L/∂y, float32 or 16-bit rows. See the file header.
    /// A null <paramref name="gradInput"/> skips the last g·C_{m−1}ᵀ: for one factor the caller runs g·Cᵀ by the row forward
    /// afterwards, which measured 1.0–1.2× faster than this pass doing it from its staged g (docs/02_Ops/simd-backend.md).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward<TS, TV>(RowRotationPlan plan, SimdTensor input, SimdTensor blocks, SimdTensor gradOutput, SimdTensor? gradInput, SimdTensor gradBlocks,
        int rowCount, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int d = plan.FeatureCount, b = plan.BlockSize, m = plan.FactorCount, k = plan.BlockCount, length = m * d * b;
        if (rowCount == 0)
        {
            gradBlocks.Span[..length].Clear();
            return;
        }
        (int chunkRows, int chunks) = SimdParallel.RowChunks(rowCount, BlockRows);
        int stageStride = plan.TileWidth + StagePadding, stageCount = m + 2; // x, out_{m−1} … out_1, g and the next g
        int maxBatchRows = Math.Clamp(GradientStageFloats / (stageCount * stageStride), GroupRows, BlockRows);
        int batches = (chunkRows + maxBatchRows - 1) / maxBatchRows, batchRows = (chunkRows + batches - 1) / batches;
        int stageLength = batchRows * stageStride;
        float[] partials = ArrayPool<float>.Shared.Rent(chunks * length);
        // g·Cᵀ reads coef(c, t) = C[t, c]: a transposed copy makes its rows contiguous (once per call, for the factors whose
        // g·C_iᵀ this pass computes: all but the last when gradInput is null).
        int transposedFactors = gradInput is null ? m - 1 : m;
        float[] transposed = ArrayPool<float>.Shared.Rent(Math.Max(transposedFactors * d * b, 1));
        try
        {
            ReadOnlySpan<float> coefficients = blocks.Span[..length];
            for (int j = 0; j < transposedFactors * k; j++)
                ScalarTranspose.Rectangle(ref Unsafe.AsRef(in coefficients[j * b * b]), b, ref transposed[j * b * b], b, b, b);
            SimdParallel.For(chunks * plan.FeatureTileCount, 3L * rowCount * d * b * m, maxDegreeOfParallelism, task =>
            {
                int chunk = task / plan.FeatureTileCount, featureTile = task % plan.FeatureTileCount;
                int firstFeature = featureTile * plan.TileWidth, width = Math.Min(plan.TileWidth, d - firstFeature), tileBlocks = width / b;
                int firstRow = chunk * chunkRows, endRow = Math.Min(rowCount, firstRow + chunkRows);
                Span<float> stages = Scratch.Get(stageCount * stageLength);
                ref float stage0 = ref MemoryMarshal.GetReference(stages);
                ref float g = ref Unsafe.Add(ref stage0, (nint)m * stageLength);
                ref float gNext = ref Unsafe.Add(ref stage0, (nint)(m + 1) * stageLength);
                for (int row = firstRow; row < endRow; row += batchRows)
                {
                    int rows = Math.Min(batchRows, endRow - row);
                    Stage(input, d, row, rows, firstFeature, width, stages[..(rows * stageStride)], stageStride);
                    Stage(gradOutput, d, row, rows, firstFeature, width, stages.Slice(m * stageLength, rows * stageStride), stageStride);
                    // Recompute the inputs of factors m − 2 … 0: in_i = out_{i+1}, stage m − i − 1 (in_{m−1} = x is stage 0).
                    for (int i = m - 1; i >= 1; i--)
                    {
                        ref float source = ref Unsafe.Add(ref stage0, (nint)(m - 1 - i) * stageLength);
                        ref float output = ref Unsafe.Add(ref stage0, (nint)(m - i) * stageLength);
                        ref float factorBlocks = ref Unsafe.Add(ref blocks.Data, (i * k + firstFeature / b) * b * b);
                        Product<TS, TV>(ref source, stageStride, plan.ForwardRuns[i], null, tileBlocks, b, ref factorBlocks, ref output, rows);
                    }
                    // Factor 0 (applied last) first: its block gradients, then g ← g·C_iᵀ scattered back to in_i's order.
                    ref float gIn = ref g, gOut = ref gNext;
                    for (int i = 0; i < m; i++)
                    {
                        ref float factorInput = ref Unsafe.Add(ref stage0, (nint)(m - 1 - i) * stageLength);
                        ref float sums = ref partials[chunk * length + (i * k + firstFeature / b) * b * b];
                        BatchGradients<TS, TV>(plan.ForwardRuns[i], tileBlocks, b, ref factorInput, ref gIn, stageStride, rows, ref sums, add: row != firstRow);
                        if (i == m - 1 && gradInput is null)
                            break;
                        ref float factorTransposed = ref transposed[(i * k + firstFeature / b) * b * b];
                        Product<TS, TV>(ref gIn, stageStride, null, plan.ForwardRuns[i], tileBlocks, b, ref factorTransposed, ref gOut, rows);
                        ref float swap = ref gIn;
                        gIn = ref gOut;
                        gOut = ref swap;
                    }
                    if (gradInput is not null)
                        Unstage(ref gIn, stageStride, gradInput, d, row, rows, firstFeature, width);
                }
            });
            Elementwise.SumChunks<TS, TV>(partials, chunks, length, gradBlocks.Array, gradBlocks.Offset, maxDegreeOfParallelism);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
            ArrayPool<float>.Shared.Return(transposed);
        }
    }

    /// <summary>
    /// <c>out[r, O(j, c)] = Σ_t in[r, I(j, t)] · coef_j[t, c]</c> for the batch's rows: I the input runs (null: block order,
    /// jb + t) and O the output runs (null: block order). The forward's 4 × 2 tile (same t order as Factor4x2) and a
    /// one-row tail.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Product<TS, TV>(ref float source, nint stride, int[]? inputRuns, int[]? outputRuns, int blocks, int b, ref float coefficients, ref float destination, int rows)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        Span<int> runs = stackalloc int[4 * blocks];
        RunTable(inputRuns, outputRuns, blocks, b, runs);
        int r = 0;
        for (; r + 4 <= rows; r += 4)
            Product4<TS, TV>(ref Unsafe.Add(ref source, r * stride), stride, runs, blocks, b, ref coefficients, ref Unsafe.Add(ref destination, r * stride));
        for (; r < rows; r++)
            Product1<TS, TV>(ref Unsafe.Add(ref source, r * stride), runs, blocks, b, ref coefficients, ref Unsafe.Add(ref destination, r * stride), false, 1f);
    }

    /// <summary>Product on 4 rows: output vectors c and c + v of a block together (8 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Product4<TS, TV>(ref float source, nint stride, ReadOnlySpan<int> runs, int blocks, int b, ref float coefficients, ref float destination)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count, h = b / 2;
        ref float x0 = ref source;
        ref float x1 = ref Unsafe.Add(ref source, stride);
        ref float x2 = ref Unsafe.Add(ref source, 2 * stride);
        ref float x3 = ref Unsafe.Add(ref source, 3 * stride);
        for (int j = 0; j < blocks; j++)
        {
            ref float block = ref Unsafe.Add(ref coefficients, (nint)j * b * b);
            nint first = runs[4 * j], second = runs[4 * j + 1];
            for (int c = 0; c < b; c += 2 * v)
            {
                Sums4x2<TS, TV>(ref Unsafe.Add(ref block, c), first, second, b, ref x0, ref x1, ref x2, ref x3,
                    out TV a0, out TV a1, out TV a2, out TV a3, out TV e0, out TV e1, out TV e2, out TV e3);
                StoreRows4<TV, CachedStore>(a0, a1, a2, a3, ref Unsafe.Add(ref destination, OutputIndex(runs, j, c, h)), stride);
                StoreRows4<TV, CachedStore>(e0, e1, e2, e3, ref Unsafe.Add(ref destination, OutputIndex(runs, j, c + v, h)), stride);
            }
        }
    }

    /// <summary>Per block j: its input runs I(j) at [4j], [4j + 1] and output runs O(j) at [4j + 2], [4j + 3] (null runs:
    /// block order, jb and jb + h).</summary>
    private static void RunTable(int[]? inputRuns, int[]? outputRuns, int blocks, int b, Span<int> table)
    {
        int h = b / 2;
        for (int j = 0; j < blocks; j++)
        {
            table[4 * j] = inputRuns is null ? j * b : inputRuns[2 * j];
            table[4 * j + 1] = inputRuns is null ? j * b + h : inputRuns[2 * j + 1];
            table[4 * j + 2] = outputRuns is null ? j * b : outputRuns[2 * j];
            table[4 * j + 3] = outputRuns is null ? j * b + h : outputRuns[2 * j + 1];
        }
    }

    /// <summary>Product on one row (the tail of a batch or of a forward's rows), one accumulator per output vector in t
    /// order, times <paramref name="scale"/> where <paramref name="scaled"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Product1<TS, TV>(ref float source, ReadOnlySpan<int> runs, int blocks, int b, ref float coefficients, ref float destination,
        bool scaled, float scale)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count, h = b / 2;
        for (int j = 0; j < blocks; j++)
        {
            ref float block = ref Unsafe.Add(ref coefficients, (nint)j * b * b);
            ref float first = ref Unsafe.Add(ref source, runs[4 * j]);
            ref float second = ref Unsafe.Add(ref source, runs[4 * j + 1]);
            for (int c = 0; c < b; c += v)
            {
                TV a0 = TS.Zero;
                ref float coefficient = ref Unsafe.Add(ref block, c);
                int t = 0;
                for (; t < h; t++)
                    a0 = TS.Fma(TS.Create(Unsafe.Add(ref first, t)), TS.Load(ref Unsafe.Add(ref coefficient, (nint)t * b)), a0);
                for (; t < b; t++)
                    a0 = TS.Fma(TS.Create(Unsafe.Add(ref second, t - h)), TS.Load(ref Unsafe.Add(ref coefficient, (nint)t * b)), a0);
                if (scaled)
                    a0 = TS.Multiply(a0, TS.Create(scale));
                TS.Store(a0, ref Unsafe.Add(ref destination, OutputIndex(runs, j, c, h)));
            }
        }
    }

    /// <summary>Where output vector c of block j goes: its run (c &lt; h or not) plus the offset in it (h is a multiple of v).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint OutputIndex(ReadOnlySpan<int> runs, int j, int c, int h) => c < h ? runs[4 * j + 2] + c : runs[4 * j + 3] + c - h;

    /// <summary>A stage of rows back into a tensor's rows × feature tile (rounded once to 16 bits where the tensor is).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Unstage(ref float stage, int stride, SimdTensor tensor, int d, int firstRow, int rows, int firstFeature, int width)
    {
        ReadOnlySpan<float> staged = MemoryMarshal.CreateReadOnlySpan(ref stage, (rows - 1) * stride + width);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> from = staged.Slice(r * stride, width);
            if (tensor.ElementType.IsSixteenBit())
                ElementConversions.Narrow(from, tensor.ElementType, tensor.Bits.Slice((firstRow + r) * d + firstFeature, width));
            else
                from.CopyTo(tensor.Span.Slice((firstRow + r) * d + firstFeature, width));
        }
    }

    /// <summary>Rows [firstRow, firstRow + rows) × features [firstFeature, firstFeature + width) of a tensor of rows of
    /// <paramref name="d"/> features into a stage of <paramref name="stride"/> floats per row, widened from 16 bits where needed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        // The forward tile's step (Tap4x2) with the roles turned: the 4 "rows" are 4 columns of x, the index walks the rows.
        ref float c0 = ref Unsafe.Add(ref x, x0), c1 = ref Unsafe.Add(ref x, x1), c2 = ref Unsafe.Add(ref x, x2), c3 = ref Unsafe.Add(ref x, x3);
        nint at = 0;
        for (int r = 0; r < rows; r++, at += stride)
            Tap4x2<TS, TV>(TS.Load(ref Unsafe.Add(ref g, at)), TS.Load(ref Unsafe.Add(ref g, at + v)), at, ref c0, ref c1, ref c2, ref c3,
                ref a0, ref a1, ref a2, ref a3, ref e0, ref e1, ref e2, ref e3);
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
