// Fused butterfly rotation on the CPU: forward (x·R and x·Rᵀ) and backward side by side. docs/02_Ops/simd-backend.md.
//
// Shapes: rows [rowCount, d]; blocks [m, k, b, b] (factor-major, row-major b×b); R = F_{m−1} … F_0, F_i = P_i D_i P_iᵀ.
// Gradient semantics: RotateBackward OVERWRITES gradInput and gradBlocks (=); gradBlocks is reduced deterministically.
//
// How it is computed (never forming R or a permutation matrix):
//  * R is block-diagonal with dense groups of g = b·2^(m−1) features (boft-spec §2.5): every permutation p_i maps each
//    group onto itself. So the work splits into independent tiles of R rows × W features (W a multiple of g), and all m
//    factors are applied to a tile while it sits in L1/L2.
//  * Inside a tile the data is transposed to "rows in lanes" (SoA: feature f of the tile is R contiguous floats). A block
//    product is then a register-tiled loop of FMAs over whole row vectors with the block coefficient broadcast, for any b
//    (no lane waste for b = 2, 4, 6, 12 ...), and a permutation costs nothing: reading feature t of a block just reads the
//    row vector at a permuted index. Consecutive gathers are composed into one table per factor (boft-spec §7):
//      forward  factor i reads  q_{m−1} (first) or p_{i+1}∘q_i   from the previous output kept in block order;
//      Rᵀ / backward factor i reads q_0 (= id) or p_{i−1}∘q_i, and the final result is gathered once by p_{m−1}.
//  * Backward recomputes the forward of the tile (keeping the m factor inputs, m+2 tile buffers in all) and then walks
//    the factors 0 … m−1: ∂C[i,j] = w_iᵀ g_v as vector FMAs over the tile's rows with one horizontal sum per (t, c) per
//    tile, then g_w = g_v D_iᵀ. Per-tile partials are summed in tile order inside a fixed chunk of row tiles, and the
//    chunks are summed in chunk order: the result depends on the shapes only, not on threads or timing.

using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Boft.Backends;

namespace Boft.Kernels.Simd;

/// <summary>Per-shape constants of the tiled rotation: tile sizes and the composed gather tables (local to a tile).</summary>
internal sealed class RotationPlan
{
    /// <summary>Floats of tile buffers a task may use (256 KB: well inside a 1-2 MB L2, leaving room for blocks and output lines).</summary>
    private const int TileBudgetFloats = 64 * 1024;

    /// <summary>Target tile width in features when groups are narrow (a few cache lines per row).</summary>
    private const int TargetTileWidth = 128;

    /// <summary>At most 128 rows per tile: longer row vectors gained nothing in measurements, shorter tiles spread better.</summary>
    private const int MaxTileRows = 128;

    public RotationPlan(RotationShape shape, int lanes)
    {
        FeatureCount = shape.FeatureCount;
        FactorCount = shape.FactorCount;
        BlockCount = shape.BlockCount;
        BlockSize = shape.BlockSize;
        Lanes = lanes;
        int d = FeatureCount, m = FactorCount, b = BlockSize;
        GroupSize = b << (m - 1);
        // Forward: 2 tile buffers; backward: m + 2. Widths are multiples of g; the backward narrows its tiles (down to g)
        // before it shortens them, so the gradBlocks sums always see long row vectors.
        ForwardTileWidth = TileWidthFor(2, d);
        BackwardTileWidth = TileWidthFor(m + 2, d);
        ForwardFeatureTileCount = (d + ForwardTileWidth - 1) / ForwardTileWidth;
        BackwardFeatureTileCount = (d + BackwardTileWidth - 1) / BackwardTileWidth;
        ForwardRows = RowsFor(2, ForwardTileWidth);
        BackwardRows = RowsFor(m + 2, BackwardTileWidth);

        ButterflyPermutations perms = shape.Permutations;
        int w = Math.Max(ForwardTileWidth, BackwardTileWidth); // tables of a narrower tile are prefixes (tiles start at multiples of g)
        ForwardSource = new int[m][];
        TransposedSource = new int[m][];
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<int> q = perms.Inverse(i);
            var forward = new int[w];
            var transposed = new int[w];
            for (int t = 0; t < w; t++)
            {
                forward[t] = i == m - 1 ? q[t] : perms.Forward(i + 1)[q[t]];
                transposed[t] = i == 0 ? q[t] : perms.Forward(i - 1)[q[t]];
            }
            ForwardSource[i] = forward;
            TransposedSource[i] = transposed;
        }
        TransposedOutput = perms.Forward(m - 1)[..w].ToArray();
        TransposedOutputIsIdentity = true;
        for (int a = 0; a < w; a++)
            TransposedOutputIsIdentity &= TransposedOutput[a] == a;
    }

    public int FeatureCount { get; }

    public int FactorCount { get; }

    public int BlockCount { get; }

    public int BlockSize { get; }

    public int Lanes { get; }

    /// <summary>g = b·2^(m−1): features that never mix with other groups.</summary>
    public int GroupSize { get; }

    /// <summary>W of the forward: features per tile, a multiple of g (the last tile may be narrower, still a multiple of g).</summary>
    public int ForwardTileWidth { get; }

    /// <summary>W of the backward.</summary>
    public int BackwardTileWidth { get; }

    public int ForwardFeatureTileCount { get; }

    public int BackwardFeatureTileCount { get; }

    /// <summary>Rows per tile in the forward (2 tile buffers).</summary>
    public int ForwardRows { get; }

    /// <summary>Rows per tile in the backward (m + 2 tile buffers).</summary>
    public int BackwardRows { get; }

    /// <summary>[i][t]: where factor i of x·R reads its input feature t (tile-local; see the file header).</summary>
    public int[][] ForwardSource { get; }

    /// <summary>[i][t]: where factor i of x·Rᵀ (and of the backward) reads its input feature t.</summary>
    public int[][] TransposedSource { get; }

    /// <summary>p_{m−1}: the final gather of x·Rᵀ.</summary>
    public int[] TransposedOutput { get; }

    public bool TransposedOutputIsIdentity { get; }

    /// <summary>Rows per tile for <paramref name="rowCount"/> rows: the plan's size, but no more than the rows rounded up to whole vectors.</summary>
    public int TileRows(int planRows, int rowCount) => Math.Min(planRows, (rowCount + Lanes - 1) / Lanes * Lanes);

    private int TileWidthFor(int buffers, int d)
    {
        int target = Math.Clamp(TileBudgetFloats / (buffers * MaxTileRows), 1, TargetTileWidth);
        int width = Math.Max(1, target / GroupSize) * GroupSize;
        return Math.Min(width, d);
    }

    private int RowsFor(int buffers, int tileWidth)
    {
        int rows = TileBudgetFloats / (buffers * tileWidth) / Lanes * Lanes;
        return Math.Clamp(rows, Lanes, MaxTileRows);
    }
}

/// <summary>The rotation kernels (see the file header).</summary>
internal static class Rotation
{
    /// <summary>Rows this many floats apart (4 KiB) all start in the same L1 set; see <see cref="StoreTile{TS, TV}"/>.</summary>
    private const int SetAliasingFloats = 1024;

    /// <summary>Floats past the tile width between the output stage's rows (one line).</summary>
    private const int StagePadding = 16;

    /// <summary><c>output = diag(rowScale)·(input · R)</c> or with Rᵀ; <paramref name="rowScale"/> null means no scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward<TS, TV>(RotationPlan plan, SimdTensor input, SimdTensor blocks, bool transpose, SimdTensor? rowScale, SimdTensor output, int rowCount, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        if (rowCount == 0)
            return;
        int tileRows = plan.TileRows(plan.ForwardRows, rowCount);
        int rowTiles = (rowCount + tileRows - 1) / tileRows;
        long work = (long)rowCount * plan.FeatureCount * plan.BlockSize * plan.FactorCount;
        bool streaming = Streams(rowCount, plan.FeatureCount, output, input);
        SimdParallel.For(rowTiles * plan.ForwardFeatureTileCount, work, maxDegreeOfParallelism, task =>
        {
            int rowTile = task / plan.ForwardFeatureTileCount, featureTile = task % plan.ForwardFeatureTileCount;
            ForwardTile<TS, TV>(plan, input, blocks, transpose, rowScale, output, rowCount, tileRows, rowTile * tileRows, featureTile * plan.ForwardTileWidth, streaming);
        });
    }

    /// <summary><c>gradInput = gradOutput · Rᵀ</c>, <c>gradBlocks = Σ_rows w_iᵀ g_v</c> (both overwritten).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward<TS, TV>(RotationPlan plan, SimdTensor input, SimdTensor blocks, SimdTensor gradOutput, SimdTensor gradInput, SimdTensor gradBlocks, int rowCount, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int blocksLength = gradBlocks.Length;
        if (rowCount == 0)
        {
            gradBlocks.Span.Clear();
            return;
        }
        int tileRows = plan.TileRows(plan.BackwardRows, rowCount);
        int rowTiles = (rowCount + tileRows - 1) / tileRows;
        (int tilesPerChunk, int chunkCount) = SimdParallel.RowChunks(rowTiles, 1); // chunks of row tiles, by the shape alone
        float[]? pooled = null;
        try
        {
            if (chunkCount > 1)
            {
                pooled = ArrayPool<float>.Shared.Rent(chunkCount * blocksLength);
                pooled.AsSpan(0, chunkCount * blocksLength).Clear();
            }
            else
            {
                gradBlocks.Span.Clear();
            }
            float[]? partials = pooled;
            long work = 3L * rowCount * plan.FeatureCount * plan.BlockSize * plan.FactorCount;
            bool streaming = Streams(rowCount, plan.FeatureCount, gradInput, input, gradOutput);
            SimdParallel.For(chunkCount * plan.BackwardFeatureTileCount, work, maxDegreeOfParallelism, task =>
            {
                int chunk = task / plan.BackwardFeatureTileCount, featureTile = task % plan.BackwardFeatureTileCount;
                ref float partial = ref partials is null ? ref gradBlocks.Data : ref partials[chunk * blocksLength];
                int firstTile = chunk * tilesPerChunk, endTile = Math.Min(rowTiles, firstTile + tilesPerChunk);
                for (int rowTile = firstTile; rowTile < endTile; rowTile++)
                    BackwardTile<TS, TV>(plan, input, blocks, gradOutput, gradInput, ref partial, rowCount, tileRows, rowTile * tileRows, featureTile * plan.BackwardTileWidth,
                        streaming);
            });
            if (partials is not null)
                Elementwise.SumChunks<TS, TV>(partials, chunkCount, blocksLength, gradBlocks.Array, gradBlocks.Offset, maxDegreeOfParallelism);
        }
        finally
        {
            if (pooled is not null)
                ArrayPool<float>.Shared.Return(pooled);
        }
    }

    /// <summary>Whether the tiles are written back with non-temporal stores (<see cref="StreamingStores"/>): a float32
    /// <paramref name="output"/> in storage of its own, beyond the threshold with <paramref name="input"/> (and, for the
    /// backward, <paramref name="otherInput"/>).</summary>
    internal static bool Streams(int rowCount, int d, SimdTensor output, SimdTensor input, SimdTensor? otherInput = null) =>
        output.ElementType == ElementType.Float32
        && (otherInput is null
            ? StreamingStores.ReadsAhead(input, output, rowCount, d)
            : !StreamingStores.SameStorage(input, output) && !StreamingStores.SameStorage(otherInput, output)
              && StreamingStores.Applies(StreamingStores.RowBytes(input, output, rowCount, d) + (long)rowCount * d * otherInput.ElementType.SizeInBytes()));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardTile<TS, TV>(RotationPlan plan, SimdTensor input, SimdTensor blocks, bool transpose, SimdTensor? rowScale, SimdTensor output,
        int rowCount, int tileRows, int firstRow, int firstFeature, bool streaming)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int d = plan.FeatureCount, m = plan.FactorCount, b = plan.BlockSize, k = plan.BlockCount;
        int rows = Math.Min(tileRows, rowCount - firstRow);
        int width = Math.Min(plan.ForwardTileWidth, d - firstFeature);
        int tileLength = tileRows * plan.ForwardTileWidth;
        // A 16-bit tile is converted through a stage of one vector's worth of rows (LoadTile / StoreTile), and a float32 tile
        // goes out through it where rows are 4 KiB apart (StoreTile).
        Span<float> scratch = Scratch.Get(2 * tileLength + TS.Count * (plan.ForwardTileWidth + StagePadding));
        ref float current = ref scratch[0];
        ref float next = ref scratch[tileLength];
        ref float blocksData = ref blocks.Data;

        Span<float> stage = scratch[(2 * tileLength)..];
        LoadTile<TS, TV>(input, d, firstRow, firstFeature, ref current, tileRows, rows, width, stage);
        for (int step = 0; step < m; step++)
        {
            int i = transpose ? step : m - 1 - step;
            int[] table = transpose ? plan.TransposedSource[i] : plan.ForwardSource[i];
            ref float factorBlocks = ref Unsafe.Add(ref blocksData, ((nint)i * k + firstFeature / b) * b * b);
            FactorStep<TS, TV>(ref current, ref next, table, width, ref factorBlocks, b, tileRows, transpose);
            ref float swap = ref current;
            current = ref next;
            next = ref swap;
        }
        if (transpose && !plan.TransposedOutputIsIdentity)
        {
            Gather(ref current, ref next, plan.TransposedOutput, width, tileRows);
            ref float swap = ref current;
            current = ref next;
            next = ref swap;
        }
        StoreTile<TS, TV>(ref current, tileRows, rowScale, output, d, firstRow, firstFeature, rows, width, stage, streaming);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardTile<TS, TV>(RotationPlan plan, SimdTensor input, SimdTensor blocks, SimdTensor gradOutput, SimdTensor gradInput,
        ref float partial, int rowCount, int tileRows, int firstRow, int firstFeature, bool streaming)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int d = plan.FeatureCount, m = plan.FactorCount, b = plan.BlockSize, k = plan.BlockCount;
        int rows = Math.Min(tileRows, rowCount - firstRow);
        int width = Math.Min(plan.BackwardTileWidth, d - firstFeature);
        int tileLength = tileRows * plan.BackwardTileWidth;
        // Layout: factorInputs[i] at i·tileLength (i = 0 … m−1; factor m−1 reads x), then two gradient buffers.
        Span<float> scratch = Scratch.Get((m + 2) * tileLength + TS.Count * (plan.BackwardTileWidth + StagePadding));
        ref float factorInputs = ref scratch[0];
        ref float current = ref scratch[m * tileLength];
        ref float next = ref scratch[(m + 1) * tileLength];
        Span<float> stage = scratch[((m + 2) * tileLength)..];
        ref float blocksData = ref blocks.Data;

        LoadTile<TS, TV>(input, d, firstRow, firstFeature, ref Unsafe.Add(ref factorInputs, (m - 1) * tileLength), tileRows, rows, width, stage);
        for (int i = m - 1; i >= 1; i--)
        {
            ref float factorBlocks = ref Unsafe.Add(ref blocksData, ((nint)i * k + firstFeature / b) * b * b);
            FactorStep<TS, TV>(ref Unsafe.Add(ref factorInputs, i * tileLength), ref Unsafe.Add(ref factorInputs, (i - 1) * tileLength),
                plan.ForwardSource[i], width, ref factorBlocks, b, tileRows, transposed: false);
        }

        LoadTile<TS, TV>(gradOutput, d, firstRow, firstFeature, ref current, tileRows, rows, width, stage);
        for (int i = 0; i < m; i++)
        {
            nint blockIndex = (nint)i * k + firstFeature / b;
            ref float factorBlocks = ref Unsafe.Add(ref blocksData, blockIndex * b * b);
            BlockGradient<TS, TV>(ref Unsafe.Add(ref factorInputs, i * tileLength), plan.ForwardSource[i], ref current, plan.TransposedSource[i],
                width, b, tileRows, ref Unsafe.Add(ref partial, blockIndex * b * b));
            FactorStep<TS, TV>(ref current, ref next, plan.TransposedSource[i], width, ref factorBlocks, b, tileRows, transposed: true);
            ref float swap = ref current;
            current = ref next;
            next = ref swap;
        }
        if (!plan.TransposedOutputIsIdentity)
        {
            Gather(ref current, ref next, plan.TransposedOutput, width, tileRows);
            ref float swap = ref current;
            current = ref next;
            next = ref swap;
        }
        StoreTile<TS, TV>(ref current, tileRows, null, gradInput, d, firstRow, firstFeature, rows, width, stage, streaming);
    }

    /// <summary>
    /// Rows [firstRow, firstRow + rows) × features [firstFeature, firstFeature + width) of <paramref name="source"/> into the
    /// SoA tile. A 16-bit tensor is converted on the tile, never as a pass over the whole tensor: one vector's worth of rows
    /// (Count rows, at most 16 × 128 floats = 8 KiB, L1-resident) at a time is widened (exact) into <paramref name="stage"/>
    /// and transposed from there into its lanes of the tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LoadTile<TS, TV>(SimdTensor source, int d, int firstRow, int firstFeature, ref float tile, int tileRows, int rows, int width, Span<float> stage)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        if (!source.ElementType.IsSixteenBit())
        {
            TransposeIn<TS, TV>(ref Unsafe.Add(ref source.Data, (nint)firstRow * d + firstFeature), d, ref tile, tileRows, rows, width);
            return;
        }
        ReadOnlySpan<ushort> bits = source.Bits;
        ElementType type = source.ElementType;
        int v = TS.Count;
        for (int r0 = 0; r0 < rows; r0 += v)
        {
            int group = Math.Min(v, rows - r0);
            for (int r = 0; r < group; r++)
                ElementConversions.Widen(bits.Slice((firstRow + r0 + r) * d + firstFeature, width), type, stage.Slice(r * width, width));
            Transposer.Transpose<TS, TV>(ref MemoryMarshal.GetReference(stage), width, ref Unsafe.Add(ref tile, r0), tileRows, group, width);
        }
        if (rows < tileRows)
            for (int f = 0; f < width; f++)
                MemoryMarshal.CreateSpan(ref Unsafe.Add(ref tile, (nint)f * tileRows + rows), tileRows - rows).Clear();
    }

    /// <summary>
    /// The SoA tile back into rows of <paramref name="destination"/>, each row scaled by <paramref name="rowScale"/> when given.
    /// A 16-bit destination is written one vector's worth of rows at a time through <paramref name="stage"/> (L1-resident):
    /// transposed and scaled in float32, then rounded once (RNE) into the destination rows. <paramref name="streaming"/>
    /// (float32 only) writes the rows with non-temporal stores, so they are scaled in the tile first, not read back.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StoreTile<TS, TV>(ref float tile, int tileRows, SimdTensor? rowScale, SimdTensor destination, int d, int firstRow, int firstFeature, int rows, int width,
        Span<float> stage, bool streaming)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        if (!destination.ElementType.IsSixteenBit())
        {
            ref float outputRow = ref Unsafe.Add(ref destination.Data, (nint)firstRow * d + firstFeature);
            if (streaming)
            {
                ScaleLanes<TS, TV>(rowScale, ref tile, tileRows, firstRow, rows, width);
                Transposer.TransposeToRows<TS, TV>(ref tile, tileRows, ref outputRow, d, width, rows, streaming: true);
                return;
            }
            TileToRows<TS, TV>(ref tile, tileRows, ref outputRow, d, width, rows, stage);
            ScaleRows<TS, TV>(rowScale, ref outputRow, d, firstRow, rows, width);
            return;
        }
        Span<ushort> bits = destination.Bits;
        ElementType type = destination.ElementType;
        int v = TS.Count;
        ref float staged = ref MemoryMarshal.GetReference(stage);
        for (int r0 = 0; r0 < rows; r0 += v)
        {
            int group = Math.Min(v, rows - r0);
            Transposer.TransposeToRows<TS, TV>(ref Unsafe.Add(ref tile, r0), tileRows, ref staged, width, width, group);
            ScaleRows<TS, TV>(rowScale, ref staged, width, firstRow + r0, group, width);
            for (int r = 0; r < group; r++)
                ElementConversions.Narrow(stage.Slice(r * width, width), type, bits.Slice((firstRow + r0 + r) * d + firstFeature, width));
        }
    }

    /// <summary>Scales row r (r &lt; <paramref name="rows"/>, <paramref name="stride"/> apart) by rowScale[firstRow + r], if a scale is given.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaleRows<TS, TV>(SimdTensor? rowScale, ref float rowsStart, int stride, int firstRow, int rows, int width)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        if (rowScale is null)
            return;
        ReadOnlySpan<float> scale = rowScale.Span;
        for (int r = 0; r < rows; r++)
            Elementwise.ScaleInPlace<TS, TV>(ref Unsafe.Add(ref rowsStart, (nint)r * stride), width, scale[firstRow + r]);
    }

    /// <summary>
    /// A float32 SoA tile into <paramref name="rows"/> rows of <paramref name="d"/> floats from <paramref name="outputRow"/>
    /// (the kernel's and the profile's transpose out). Where rows are 4 KiB apart, a transpose's 16 stores all fall in one
    /// 12-way L1 set: the tile goes through a padded L1 stage instead, Count rows at a time, copied out row by row
    /// (1.04-1.10x for BOFT(2,8) and BOFT(4,8), forward and backward, d = 1024 and 2048; staging the input the same way
    /// measured 0.93x and is not done). <paramref name="stage"/> holds Count × (width + 16) floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileToRows<TS, TV>(ref float tile, int tileRows, ref float outputRow, int d, int width, int rows, Span<float> stage)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        if (d % SetAliasingFloats != 0)
        {
            Transposer.TransposeToRows<TS, TV>(ref tile, tileRows, ref outputRow, d, width, rows);
            return;
        }
        int stride = width + StagePadding;
        ref float staged = ref MemoryMarshal.GetReference(stage);
        for (int r0 = 0; r0 < rows; r0 += TS.Count)
        {
            int group = Math.Min(TS.Count, rows - r0);
            Transposer.TransposeToRows<TS, TV>(ref Unsafe.Add(ref tile, r0), tileRows, ref staged, stride, width, group);
            for (int r = 0; r < group; r++)
                MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref staged, r * stride), width)
                    .CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref outputRow, (nint)(r0 + r) * d), width));
        }
    }

    /// <summary>Scales lane r of every feature of the SoA tile by rowScale[firstRow + r], if a scale is given: the same
    /// product per element as <see cref="ScaleRows{TS, TV}"/> after the transpose.</summary>
    private static void ScaleLanes<TS, TV>(SimdTensor? rowScale, ref float tile, int tileRows, int firstRow, int rows, int width)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        if (rowScale is null)
            return;
        // Not Scratch: the tile itself lives in this thread's scratch buffer. Tiles have at most 128 rows.
        Span<float> scale = stackalloc float[tileRows];
        rowScale.Span.Slice(firstRow, rows).CopyTo(scale);
        scale[rows..].Clear();
        ref float scales = ref MemoryMarshal.GetReference(scale);
        for (int r = 0; r < tileRows; r += TS.Count)
        {
            TV s = TS.Load(ref Unsafe.Add(ref scales, r));
            for (int f = 0; f < width; f++)
            {
                ref float lanes = ref Unsafe.Add(ref tile, (nint)f * tileRows + r);
                TS.Store(TS.Multiply(TS.Load(ref lanes), s), ref lanes);
            }
        }
    }

    /// <summary>Rows → SoA tile (feature-major, <paramref name="tileRows"/> floats per feature); lanes past <paramref name="rows"/> are zeroed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeIn<TS, TV>(ref float source, int sourceStride, ref float tile, int tileRows, int rows, int width)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        Transposer.Transpose<TS, TV>(ref source, sourceStride, ref tile, tileRows, rows, width);
        if (rows < tileRows)
            for (int f = 0; f < width; f++)
                MemoryMarshal.CreateSpan(ref Unsafe.Add(ref tile, (nint)f * tileRows + rows), tileRows - rows).Clear();
    }

    /// <summary><c>destination[f] = source[table[f]]</c> for whole row vectors of the tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Gather(ref float source, ref float destination, int[] table, int width, int tileRows)
    {
        for (int f = 0; f < width; f++)
            MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref source, (nint)table[f] * tileRows), tileRows)
                .CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref destination, (nint)f * tileRows), tileRows));
    }

    /// <summary>
    /// One factor on a SoA tile: for each block j, <c>out[jb + c] = Σ_t in[table[jb + t]] · coef(t, c)</c> with coef(t, c) = C[t, c]
    /// (x·D) or C[c, t] (x·Dᵀ); output in block order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void FactorStep<TS, TV>(ref float source, ref float destination, int[] table, int width, ref float factorBlocks, int b, int tileRows, bool transposed)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        nint rowStride = transposed ? 1 : b, columnStride = transposed ? b : 1;
        ref int tableData = ref MemoryMarshal.GetArrayDataReference(table);
        int blocks = width / b;
        for (int j = 0; j < blocks; j++)
        {
            ref float coefficients = ref Unsafe.Add(ref factorBlocks, (nint)j * b * b);
            ref int sources = ref Unsafe.Add(ref tableData, j * b);
            ref float output = ref Unsafe.Add(ref destination, (nint)j * b * tileRows);
            int c = 0;
            for (; c + 4 <= b; c += 4)
                Columns4<TS, TV>(ref source, ref sources, ref Unsafe.Add(ref coefficients, c * columnStride), rowStride, columnStride, b, tileRows, ref Unsafe.Add(ref output, (nint)c * tileRows));
            for (; c + 2 <= b; c += 2)
                Columns2<TS, TV>(ref source, ref sources, ref Unsafe.Add(ref coefficients, c * columnStride), rowStride, columnStride, b, tileRows, ref Unsafe.Add(ref output, (nint)c * tileRows));
            for (; c < b; c++)
                Columns1<TS, TV>(ref source, ref sources, ref Unsafe.Add(ref coefficients, c * columnStride), rowStride, b, tileRows, ref Unsafe.Add(ref output, (nint)c * tileRows));
        }
    }

    /// <summary>Four output features of one block over all rows of the tile, two row vectors at a time (8 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Columns4<TS, TV>(ref float source, ref int sources, ref float coefficients, nint rowStride, nint columnStride, int b, int tileRows, ref float output)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        int r = 0;
        if (WideColumns && ThirtyTwoRegisters)
            for (; r + 4 * v <= tileRows; r += 4 * v)
                Columns4x4<TS, TV>(ref Unsafe.Add(ref source, r), ref sources, ref coefficients, rowStride, columnStride, b, tileRows, ref Unsafe.Add(ref output, r));
        for (; r + 2 * v <= tileRows; r += 2 * v)
        {
            TV a00 = TS.Zero, a01 = TS.Zero, a10 = TS.Zero, a11 = TS.Zero, a20 = TS.Zero, a21 = TS.Zero, a30 = TS.Zero, a31 = TS.Zero;
            ref float coefficient = ref coefficients;
            for (int t = 0; t < b; t++)
            {
                ref float x = ref Unsafe.Add(ref source, (nint)Unsafe.Add(ref sources, t) * tileRows + r);
                TV x0 = TS.Load(ref x), x1 = TS.Load(ref Unsafe.Add(ref x, v));
                TV c0 = TS.Create(coefficient), c1 = TS.Create(Unsafe.Add(ref coefficient, columnStride));
                TV c2 = TS.Create(Unsafe.Add(ref coefficient, 2 * columnStride)), c3 = TS.Create(Unsafe.Add(ref coefficient, 3 * columnStride));
                a00 = TS.Fma(x0, c0, a00); a01 = TS.Fma(x1, c0, a01);
                a10 = TS.Fma(x0, c1, a10); a11 = TS.Fma(x1, c1, a11);
                a20 = TS.Fma(x0, c2, a20); a21 = TS.Fma(x1, c2, a21);
                a30 = TS.Fma(x0, c3, a30); a31 = TS.Fma(x1, c3, a31);
                coefficient = ref Unsafe.Add(ref coefficient, rowStride);
            }
            ref float o = ref Unsafe.Add(ref output, r);
            TS.Store(a00, ref o); TS.Store(a01, ref Unsafe.Add(ref o, v));
            o = ref Unsafe.Add(ref o, tileRows);
            TS.Store(a10, ref o); TS.Store(a11, ref Unsafe.Add(ref o, v));
            o = ref Unsafe.Add(ref o, tileRows);
            TS.Store(a20, ref o); TS.Store(a21, ref Unsafe.Add(ref o, v));
            o = ref Unsafe.Add(ref o, tileRows);
            TS.Store(a30, ref o); TS.Store(a31, ref Unsafe.Add(ref o, v));
        }
        for (; r < tileRows; r += v)
        {
            TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero;
            ref float coefficient = ref coefficients;
            for (int t = 0; t < b; t++)
            {
                TV x0 = TS.Load(ref Unsafe.Add(ref source, (nint)Unsafe.Add(ref sources, t) * tileRows + r));
                a0 = TS.Fma(x0, TS.Create(coefficient), a0);
                a1 = TS.Fma(x0, TS.Create(Unsafe.Add(ref coefficient, columnStride)), a1);
                a2 = TS.Fma(x0, TS.Create(Unsafe.Add(ref coefficient, 2 * columnStride)), a2);
                a3 = TS.Fma(x0, TS.Create(Unsafe.Add(ref coefficient, 3 * columnStride)), a3);
                coefficient = ref Unsafe.Add(ref coefficient, rowStride);
            }
            ref float o = ref Unsafe.Add(ref output, r);
            TS.Store(a0, ref o);
            TS.Store(a1, ref Unsafe.Add(ref o, tileRows));
            TS.Store(a2, ref Unsafe.Add(ref o, 2 * tileRows));
            TS.Store(a3, ref Unsafe.Add(ref o, 3 * tileRows));
        }
    }

    /// <summary>Whether Columns4 runs four row vectors at a time where there are 32 vector registers (the default); off
    /// only for tests and side-by-side timing (both tiles give the same bits).</summary>
    internal static bool WideColumns { get; set; } = true;

    /// <summary>Four output features of one block over four row vectors (16 accumulators, for 32 vector registers): per t,
    /// 4 loads and 4 broadcasts feed 16 FMAs (the 4 × 2 tile: 2 and 4 per 8). Same t order per element: the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Columns4x4<TS, TV>(ref float source, ref int sources, ref float coefficients, nint rowStride, nint columnStride, int b, int tileRows, ref float output)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        TV a00 = TS.Zero, a01 = TS.Zero, a02 = TS.Zero, a03 = TS.Zero, a10 = TS.Zero, a11 = TS.Zero, a12 = TS.Zero, a13 = TS.Zero;
        TV a20 = TS.Zero, a21 = TS.Zero, a22 = TS.Zero, a23 = TS.Zero, a30 = TS.Zero, a31 = TS.Zero, a32 = TS.Zero, a33 = TS.Zero;
        ref float coefficient = ref coefficients;
        for (int t = 0; t < b; t++)
        {
            ref float x = ref Unsafe.Add(ref source, (nint)Unsafe.Add(ref sources, t) * tileRows);
            TV x0 = TS.Load(ref x), x1 = TS.Load(ref Unsafe.Add(ref x, v)), x2 = TS.Load(ref Unsafe.Add(ref x, 2 * v)), x3 = TS.Load(ref Unsafe.Add(ref x, 3 * v));
            TV c = TS.Create(coefficient);
            a00 = TS.Fma(x0, c, a00); a01 = TS.Fma(x1, c, a01); a02 = TS.Fma(x2, c, a02); a03 = TS.Fma(x3, c, a03);
            c = TS.Create(Unsafe.Add(ref coefficient, columnStride));
            a10 = TS.Fma(x0, c, a10); a11 = TS.Fma(x1, c, a11); a12 = TS.Fma(x2, c, a12); a13 = TS.Fma(x3, c, a13);
            c = TS.Create(Unsafe.Add(ref coefficient, 2 * columnStride));
            a20 = TS.Fma(x0, c, a20); a21 = TS.Fma(x1, c, a21); a22 = TS.Fma(x2, c, a22); a23 = TS.Fma(x3, c, a23);
            c = TS.Create(Unsafe.Add(ref coefficient, 3 * columnStride));
            a30 = TS.Fma(x0, c, a30); a31 = TS.Fma(x1, c, a31); a32 = TS.Fma(x2, c, a32); a33 = TS.Fma(x3, c, a33);
            coefficient = ref Unsafe.Add(ref coefficient, rowStride);
        }
        ref float o = ref output;
        TS.Store(a00, ref o); TS.Store(a01, ref Unsafe.Add(ref o, v)); TS.Store(a02, ref Unsafe.Add(ref o, 2 * v)); TS.Store(a03, ref Unsafe.Add(ref o, 3 * v));
        o = ref Unsafe.Add(ref o, tileRows);
        TS.Store(a10, ref o); TS.Store(a11, ref Unsafe.Add(ref o, v)); TS.Store(a12, ref Unsafe.Add(ref o, 2 * v)); TS.Store(a13, ref Unsafe.Add(ref o, 3 * v));
        o = ref Unsafe.Add(ref o, tileRows);
        TS.Store(a20, ref o); TS.Store(a21, ref Unsafe.Add(ref o, v)); TS.Store(a22, ref Unsafe.Add(ref o, 2 * v)); TS.Store(a23, ref Unsafe.Add(ref o, 3 * v));
        o = ref Unsafe.Add(ref o, tileRows);
        TS.Store(a30, ref o); TS.Store(a31, ref Unsafe.Add(ref o, v)); TS.Store(a32, ref Unsafe.Add(ref o, 2 * v)); TS.Store(a33, ref Unsafe.Add(ref o, 3 * v));
    }

    /// <summary>Two output features of one block, two row vectors at a time (block sizes 2, 6, 10, ...).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Columns2<TS, TV>(ref float source, ref int sources, ref float coefficients, nint rowStride, nint columnStride, int b, int tileRows, ref float output)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        int r = 0;
        for (; r + 2 * v <= tileRows; r += 2 * v)
        {
            TV a00 = TS.Zero, a01 = TS.Zero, a10 = TS.Zero, a11 = TS.Zero;
            ref float coefficient = ref coefficients;
            for (int t = 0; t < b; t++)
            {
                ref float x = ref Unsafe.Add(ref source, (nint)Unsafe.Add(ref sources, t) * tileRows + r);
                TV x0 = TS.Load(ref x), x1 = TS.Load(ref Unsafe.Add(ref x, v));
                TV c0 = TS.Create(coefficient), c1 = TS.Create(Unsafe.Add(ref coefficient, columnStride));
                a00 = TS.Fma(x0, c0, a00); a01 = TS.Fma(x1, c0, a01);
                a10 = TS.Fma(x0, c1, a10); a11 = TS.Fma(x1, c1, a11);
                coefficient = ref Unsafe.Add(ref coefficient, rowStride);
            }
            ref float o = ref Unsafe.Add(ref output, r);
            TS.Store(a00, ref o); TS.Store(a01, ref Unsafe.Add(ref o, v));
            o = ref Unsafe.Add(ref o, tileRows);
            TS.Store(a10, ref o); TS.Store(a11, ref Unsafe.Add(ref o, v));
        }
        for (; r < tileRows; r += v)
        {
            TV a0 = TS.Zero, a1 = TS.Zero;
            ref float coefficient = ref coefficients;
            for (int t = 0; t < b; t++)
            {
                TV x0 = TS.Load(ref Unsafe.Add(ref source, (nint)Unsafe.Add(ref sources, t) * tileRows + r));
                a0 = TS.Fma(x0, TS.Create(coefficient), a0);
                a1 = TS.Fma(x0, TS.Create(Unsafe.Add(ref coefficient, columnStride)), a1);
                coefficient = ref Unsafe.Add(ref coefficient, rowStride);
            }
            TS.Store(a0, ref Unsafe.Add(ref output, r));
            TS.Store(a1, ref Unsafe.Add(ref output, r + tileRows));
        }
    }

    /// <summary>One output feature of one block over all rows of the tile (block sizes not divisible by 4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Columns1<TS, TV>(ref float source, ref int sources, ref float coefficients, nint rowStride, int b, int tileRows, ref float output)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        for (int r = 0; r < tileRows; r += v)
        {
            TV a0 = TS.Zero;
            ref float coefficient = ref coefficients;
            for (int t = 0; t < b; t++)
            {
                a0 = TS.Fma(TS.Load(ref Unsafe.Add(ref source, (nint)Unsafe.Add(ref sources, t) * tileRows + r)), TS.Create(coefficient), a0);
                coefficient = ref Unsafe.Add(ref coefficient, rowStride);
            }
            TS.Store(a0, ref Unsafe.Add(ref output, r));
        }
    }

    /// <summary>
    /// <c>partial[j][t, c] += Σ_rows w[wTable[jb + t]] · g[gTable[jb + c]]</c> for the blocks of one factor of the tile:
    /// vector FMAs over the tile's rows, one horizontal sum per (t, c).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void BlockGradient<TS, TV>(ref float w, int[] wTable, ref float g, int[] gTable, int width, int b, int tileRows, ref float partial)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        int blocks = width / b;
        ref int wt = ref MemoryMarshal.GetArrayDataReference(wTable);
        ref int gt = ref MemoryMarshal.GetArrayDataReference(gTable);
        for (int j = 0; j < blocks; j++)
        {
            ref float blockPartial = ref Unsafe.Add(ref partial, (nint)j * b * b);
            int t = 0;
            for (; t + 4 <= b; t += 4)
            {
                ref float w0 = ref Unsafe.Add(ref w, (nint)Unsafe.Add(ref wt, j * b + t) * tileRows);
                ref float w1 = ref Unsafe.Add(ref w, (nint)Unsafe.Add(ref wt, j * b + t + 1) * tileRows);
                ref float w2 = ref Unsafe.Add(ref w, (nint)Unsafe.Add(ref wt, j * b + t + 2) * tileRows);
                ref float w3 = ref Unsafe.Add(ref w, (nint)Unsafe.Add(ref wt, j * b + t + 3) * tileRows);
                int c = 0;
                // The 4 × 4 tile needs 16 accumulators and 8 operands: 32 vector registers (AVX-512's EVEX encoding). With 16
                // (AVX2, SSE) it spilled 8 accumulators to the stack in the inner loop, so there the tile is 4 × 2: 8
                // accumulators + 6 operands.
                if (!ThirtyTwoRegisters)
                    for (; c + 2 <= b; c += 2)
                        Tile4x2<TS, TV>(ref w0, ref w1, ref w2, ref w3, ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + c) * tileRows),
                            ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + c + 1) * tileRows), tileRows, ref Unsafe.Add(ref blockPartial, t * b + c), b);
                for (; c + 4 <= b; c += 4)
                {
                    ref float g0 = ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + c) * tileRows);
                    ref float g1 = ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + c + 1) * tileRows);
                    ref float g2 = ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + c + 2) * tileRows);
                    ref float g3 = ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + c + 3) * tileRows);
                    TV s00 = TS.Zero, s01 = TS.Zero, s02 = TS.Zero, s03 = TS.Zero, s10 = TS.Zero, s11 = TS.Zero, s12 = TS.Zero, s13 = TS.Zero;
                    TV s20 = TS.Zero, s21 = TS.Zero, s22 = TS.Zero, s23 = TS.Zero, s30 = TS.Zero, s31 = TS.Zero, s32 = TS.Zero, s33 = TS.Zero;
                    for (int r = 0; r < tileRows; r += v)
                    {
                        TV x0 = TS.Load(ref Unsafe.Add(ref w0, r)), x1 = TS.Load(ref Unsafe.Add(ref w1, r));
                        TV x2 = TS.Load(ref Unsafe.Add(ref w2, r)), x3 = TS.Load(ref Unsafe.Add(ref w3, r));
                        TV y0 = TS.Load(ref Unsafe.Add(ref g0, r)), y1 = TS.Load(ref Unsafe.Add(ref g1, r));
                        TV y2 = TS.Load(ref Unsafe.Add(ref g2, r)), y3 = TS.Load(ref Unsafe.Add(ref g3, r));
                        s00 = TS.Fma(x0, y0, s00); s01 = TS.Fma(x0, y1, s01); s02 = TS.Fma(x0, y2, s02); s03 = TS.Fma(x0, y3, s03);
                        s10 = TS.Fma(x1, y0, s10); s11 = TS.Fma(x1, y1, s11); s12 = TS.Fma(x1, y2, s12); s13 = TS.Fma(x1, y3, s13);
                        s20 = TS.Fma(x2, y0, s20); s21 = TS.Fma(x2, y1, s21); s22 = TS.Fma(x2, y2, s22); s23 = TS.Fma(x2, y3, s23);
                        s30 = TS.Fma(x3, y0, s30); s31 = TS.Fma(x3, y1, s31); s32 = TS.Fma(x3, y2, s32); s33 = TS.Fma(x3, y3, s33);
                    }
                    ref float p = ref Unsafe.Add(ref blockPartial, t * b + c);
                    AddTo(ref p, TS.Sum4(s00, s01, s02, s03));
                    AddTo(ref Unsafe.Add(ref p, b), TS.Sum4(s10, s11, s12, s13));
                    AddTo(ref Unsafe.Add(ref p, 2 * b), TS.Sum4(s20, s21, s22, s23));
                    AddTo(ref Unsafe.Add(ref p, 3 * b), TS.Sum4(s30, s31, s32, s33));
                }
                for (; c < b; c++)
                {
                    ref float g0 = ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + c) * tileRows);
                    TV s0 = TS.Zero, s1 = TS.Zero, s2 = TS.Zero, s3 = TS.Zero;
                    for (int r = 0; r < tileRows; r += v)
                    {
                        TV y0 = TS.Load(ref Unsafe.Add(ref g0, r));
                        s0 = TS.Fma(TS.Load(ref Unsafe.Add(ref w0, r)), y0, s0);
                        s1 = TS.Fma(TS.Load(ref Unsafe.Add(ref w1, r)), y0, s1);
                        s2 = TS.Fma(TS.Load(ref Unsafe.Add(ref w2, r)), y0, s2);
                        s3 = TS.Fma(TS.Load(ref Unsafe.Add(ref w3, r)), y0, s3);
                    }
                    ref float p = ref Unsafe.Add(ref blockPartial, t * b + c);
                    Vector128<float> sums = TS.Sum4(s0, s1, s2, s3);
                    p += sums.GetElement(0);
                    Unsafe.Add(ref p, b) += sums.GetElement(1);
                    Unsafe.Add(ref p, 2 * b) += sums.GetElement(2);
                    Unsafe.Add(ref p, 3 * b) += sums.GetElement(3);
                }
            }
            for (; t + 2 <= b; t += 2)
            {
                ref float w0 = ref Unsafe.Add(ref w, (nint)Unsafe.Add(ref wt, j * b + t) * tileRows);
                ref float w1 = ref Unsafe.Add(ref w, (nint)Unsafe.Add(ref wt, j * b + t + 1) * tileRows);
                for (int c = 0; c + 2 <= b; c += 2)
                {
                    ref float g0 = ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + c) * tileRows);
                    ref float g1 = ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + c + 1) * tileRows);
                    TV s00 = TS.Zero, s01 = TS.Zero, s10 = TS.Zero, s11 = TS.Zero;
                    for (int r = 0; r < tileRows; r += v)
                    {
                        TV x0 = TS.Load(ref Unsafe.Add(ref w0, r)), x1 = TS.Load(ref Unsafe.Add(ref w1, r));
                        TV y0 = TS.Load(ref Unsafe.Add(ref g0, r)), y1 = TS.Load(ref Unsafe.Add(ref g1, r));
                        s00 = TS.Fma(x0, y0, s00); s01 = TS.Fma(x0, y1, s01);
                        s10 = TS.Fma(x1, y0, s10); s11 = TS.Fma(x1, y1, s11);
                    }
                    ref float p = ref Unsafe.Add(ref blockPartial, t * b + c);
                    Vector128<float> sums = TS.Sum4(s00, s01, s10, s11);
                    p += sums.GetElement(0);
                    Unsafe.Add(ref p, 1) += sums.GetElement(1);
                    Unsafe.Add(ref p, b) += sums.GetElement(2);
                    Unsafe.Add(ref p, b + 1) += sums.GetElement(3);
                }
                if (b % 2 != 0)
                    for (int tt = t; tt < t + 2; tt++)
                        Unsafe.Add(ref blockPartial, tt * b + b - 1) += Dot<TS, TV>(ref Unsafe.Add(ref w, (nint)Unsafe.Add(ref wt, j * b + tt) * tileRows),
                            ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + b - 1) * tileRows), tileRows);
            }
            for (; t < b; t++)
            {
                ref float w0 = ref Unsafe.Add(ref w, (nint)Unsafe.Add(ref wt, j * b + t) * tileRows);
                for (int c = 0; c < b; c++)
                {
                    ref float g0 = ref Unsafe.Add(ref g, (nint)Unsafe.Add(ref gt, j * b + c) * tileRows);
                    TV s0 = TS.Zero;
                    for (int r = 0; r < tileRows; r += v)
                        s0 = TS.Fma(TS.Load(ref Unsafe.Add(ref w0, r)), TS.Load(ref Unsafe.Add(ref g0, r)), s0);
                    Unsafe.Add(ref blockPartial, t * b + c) += TS.Sum(s0);
                }
            }
        }
    }

    /// <summary>Whether the block gradient (and Cayley.LanesMultiply) use 4 × 4 register tiles: true where the JIT has 32
    /// vector registers (AVX-512's EVEX encoding, for every vector width), false where it has 16 (then 4 × 2). Tests switch
    /// it to run the other tile on this machine (BlockGradientTileTests, CayleyTileTests).</summary>
    internal static bool ThirtyTwoRegisters { get; set; } = System.Runtime.Intrinsics.X86.Avx512F.IsSupported;

    /// <summary>The block gradient's 4 × 2 register tile: <c>partial[t + i, c + l] += Σ_r w_i[r]·g_l[r]</c> for i &lt; 4, l &lt; 2
    /// (<paramref name="partial"/> at (t, c), rows <paramref name="b"/> apart).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x2<TS, TV>(ref float w0, ref float w1, ref float w2, ref float w3, ref float g0, ref float g1, int tileRows, ref float partial, int b)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        TV s00 = TS.Zero, s01 = TS.Zero, s10 = TS.Zero, s11 = TS.Zero, s20 = TS.Zero, s21 = TS.Zero, s30 = TS.Zero, s31 = TS.Zero;
        for (int r = 0; r < tileRows; r += v)
        {
            TV y0 = TS.Load(ref Unsafe.Add(ref g0, r)), y1 = TS.Load(ref Unsafe.Add(ref g1, r));
            TV x0 = TS.Load(ref Unsafe.Add(ref w0, r)), x1 = TS.Load(ref Unsafe.Add(ref w1, r));
            s00 = TS.Fma(x0, y0, s00); s01 = TS.Fma(x0, y1, s01);
            s10 = TS.Fma(x1, y0, s10); s11 = TS.Fma(x1, y1, s11);
            TV x2 = TS.Load(ref Unsafe.Add(ref w2, r)), x3 = TS.Load(ref Unsafe.Add(ref w3, r));
            s20 = TS.Fma(x2, y0, s20); s21 = TS.Fma(x2, y1, s21);
            s30 = TS.Fma(x3, y0, s30); s31 = TS.Fma(x3, y1, s31);
        }
        Vector128<float> upper = TS.Sum4(s00, s01, s10, s11), lower = TS.Sum4(s20, s21, s30, s31);
        partial += upper.GetElement(0);
        Unsafe.Add(ref partial, 1) += upper.GetElement(1);
        Unsafe.Add(ref partial, b) += upper.GetElement(2);
        Unsafe.Add(ref partial, b + 1) += upper.GetElement(3);
        Unsafe.Add(ref partial, 2 * b) += lower.GetElement(0);
        Unsafe.Add(ref partial, 2 * b + 1) += lower.GetElement(1);
        Unsafe.Add(ref partial, 3 * b) += lower.GetElement(2);
        Unsafe.Add(ref partial, 3 * b + 1) += lower.GetElement(3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo(ref float destination, Vector128<float> values) =>
        (Vector128.LoadUnsafe(ref destination) + values).StoreUnsafe(ref destination);

    /// <summary>Σ_r x[r]·y[r] over <paramref name="length"/> floats (a multiple of the vector width).</summary>
    private static float Dot<TS, TV>(ref float x, ref float y, int length)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        TV sum = TS.Zero;
        for (int r = 0; r < length; r += TS.Count)
            sum = TS.Fma(TS.Load(ref Unsafe.Add(ref x, r)), TS.Load(ref Unsafe.Add(ref y, r)), sum);
        return TS.Sum(sum);
    }
}
