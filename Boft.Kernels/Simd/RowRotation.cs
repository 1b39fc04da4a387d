// The rotation forward in row layout (x·R, x·Rᵀ and Merge's diag(s)·W0·Rᵀ), for block sizes that are a multiple of a
// vector width, and for b = 8 on AVX-512 as pairs of blocks (FactorPairs): no transposes. docs/02_Ops/simd-backend.md
// §Row kernel.
//
// Why: the tiled kernel (Rotation.cs) transposes every row tile into "rows in lanes" and back, two passes that cost as much
// as the block products themselves, through 64 KiB tiles that live in L2. When b is a multiple of the vector width V, a
// block's b outputs are b/V whole vectors of a row, so the products can run on the rows as they lie:
//     out[r, jb + c … c+V) = Σ_t x[r, src(jb + t)] · C_j[t, c … c+V)        (one broadcast, one FMA per t and row)
// with the coefficient row C_j[t, c … c+V) loaded once for 8 rows (Factor8, 8 accumulators: 9 loads per 8 FMAs), or, where
// b is a multiple of 2V, with rows c … c+2V loaded once for 4 rows (Factor4x2: 6 loads per 8 FMAs, and 4 rows d floats apart
// in L1's sets instead of 8; docs/04_Benchmarking.md §Row kernels). The backward is in RowRotation.Backward.cs.
//
// b = 8 on 16 lanes (FactorPairs): two blocks share a vector, lanes interleaved; each row's 8 + 8 inputs are interleaved
// into a pair row, one 64-bit broadcast of which meets row t of both blocks' coefficients, and a permute puts the outputs
// in order. It runs OFT(8) (1.10-1.74x the tiled kernel), and BOFT(2,8) on rows beyond the streaming threshold
// (1.10-1.45x); elsewhere the tiled kernel's transposes, shared by more factors, were faster (0.82-0.85x for BOFT(2,8)
// at d = 1024, 0.74-0.81x at m = 3 and 4; docs/04_Benchmarking.md §Pairs of blocks).
//
// Permutations cost nothing here either: every butterfly table moves aligned runs of h = b/2 features (ButterflyPermutations:
// chunks of b/2), and so does every composition of two of them, so the b inputs of a block are two contiguous runs, read at
// two offsets per block (RowRotationPlan). Intermediate factors keep their output in block order in an L1 stage of
// 8 rows × W features, exactly as the tiled kernel composes its gathers; x·Rᵀ gathers its final result by p_{m−1} in runs.
//
// 16-bit rows are widened 8 rows × W at a time into the L1 stage; the last factor rounds bfloat16 results (RNE) in
// registers as it stores them (8 lanes, whole groups), other 16-bit results are rounded once out of a stage. float32 rows
// are read and written in place (or staged when input and output are one tensor and m = 1).
// Work items are (64-row block, feature tile); each element's sum runs in t order, so results are bitwise repeatable
// whatever the thread count.

using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Boft.Backends;

namespace Boft.Kernels.Simd;

/// <summary>Per-shape constants of the row-layout rotation (see the file header).</summary>
internal sealed class RowRotationPlan
{
    /// <summary>Floats of coefficients a feature tile may need for all m factors (16 KiB: half of L1, beside two stages).</summary>
    private const int CoefficientBudgetFloats = 4 * 1024;

    /// <summary>Widest feature tile: two 8-row stages of 512 floats are 32 KiB.</summary>
    private const int MaxTileWidth = 512;

    public RowRotationPlan(RotationShape shape)
    {
        int d = shape.FeatureCount, m = shape.FactorCount, b = shape.BlockSize;
        FeatureCount = d;
        FactorCount = m;
        BlockSize = b;
        BlockCount = shape.BlockCount;
        Half = b / 2;
        int g = b << (m - 1);
        int width = Math.Clamp(CoefficientBudgetFloats / (b * m), 1, MaxTileWidth) / g * g;
        TileWidth = Math.Min(Math.Max(width, g), d);
        FeatureTileCount = (d + TileWidth - 1) / TileWidth;

        ButterflyPermutations perms = shape.Permutations;
        int w = TileWidth, blocks = w / b;
        ForwardRuns = new int[m][];
        TransposedRuns = new int[m][];
        bool contiguous = true;
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
            ForwardRuns[i] = Runs(forward, blocks, b, ref contiguous);
            TransposedRuns[i] = Runs(transposed, blocks, b, ref contiguous);
        }
        // x·Rᵀ ends with out[a] = v[p_{m−1}[a]]: out's run starting at a·h reads v's run starting at p_{m−1}[a·h].
        ReadOnlySpan<int> last = perms.Forward(m - 1);
        TransposedOutputIsIdentity = true;
        for (int a = 0; a < w; a++)
            TransposedOutputIsIdentity &= last[a] == a;
        int runLength = Math.Max(Half, 1);
        OutputRuns = new int[w / runLength];
        for (int run = 0; run < OutputRuns.Length; run++)
        {
            int start = last[run * runLength];
            OutputRuns[run] = start;
            for (int o = 1; o < runLength; o++)
                contiguous &= last[run * runLength + o] == start + o;
        }
        Supported = contiguous;
    }

    public int FeatureCount { get; }

    public int FactorCount { get; }

    public int BlockSize { get; }

    public int BlockCount { get; }

    /// <summary>h = b/2: the two input runs of a block are [0, h) and [h, b) (for odd b, m = 1: one run, split at h).</summary>
    public int Half { get; }

    /// <summary>W: features per tile, a multiple of g = b·2^(m−1) (the last tile may be narrower, still a multiple of g).</summary>
    public int TileWidth { get; }

    public int FeatureTileCount { get; }

    /// <summary>[i][2j], [i][2j + 1]: tile-local starts of block j's two input runs for factor i of x·R.</summary>
    public int[][] ForwardRuns { get; }

    /// <summary>The same for x·Rᵀ.</summary>
    public int[][] TransposedRuns { get; }

    /// <summary>x·Rᵀ's final gather: output run a (h features from a·h) reads the block-order result from OutputRuns[a].</summary>
    public int[] OutputRuns { get; }

    public bool TransposedOutputIsIdentity { get; }

    /// <summary>False when a table does not move whole runs of h (never for PEFT's butterflies; checked, not assumed).</summary>
    public bool Supported { get; }

    private static int[] Runs(int[] table, int blocks, int b, ref bool contiguous)
    {
        int h = b / 2;
        var runs = new int[2 * blocks];
        for (int j = 0; j < blocks; j++)
        {
            int a = table[j * b], second = table[j * b + h];
            runs[2 * j] = a;
            runs[2 * j + 1] = second;
            for (int t = 0; t < h; t++)
                contiguous &= table[j * b + t] == a + t;
            for (int t = h; t < b; t++)
                contiguous &= table[j * b + t] == second + t - h;
        }
        return runs;
    }
}

/// <summary>The row-layout rotation forward (see the file header).</summary>
internal static partial class RowRotation
{
    /// <summary>
    /// Whether blocks of two or more vectors run on Factor4x2 (the default); false runs them on Factor8, as before
    /// 2026-12-07. Both give bitwise the same results (RowTileTests switches it); kept settable for that test and for
    /// side-by-side timing.
    /// </summary>
    internal static bool PairedVectors { get; set; } = true;

    /// <summary>Rows a micro-kernel call keeps in flight (8 accumulators).</summary>
    private const int GroupRows = 8;

    /// <summary>Rows per work item.</summary>
    private const int BlockRows = 64;

    /// <summary>Floats between the stage's rows beyond the tile width: one cache line, meant to keep the 8 stage rows out of
    /// one another's L1 sets and a stage row's stores from 4K-aliasing the next factor's loads. Measured side by side it
    /// gained nothing on the 2-core Zen 3 VM (docs/04_Benchmarking.md §CPU kernels); kept, as it costs 8 × 64 bytes.</summary>
    private const int StagePadding = 16;

    /// <summary>Whether the row kernel runs this shape at <paramref name="lanes"/> lanes: b a multiple of the lanes, or
    /// b = 8 at 16 lanes, two blocks to a vector, for m = 1, and for m = 2 when the op moves
    /// <paramref name="bytes"/> beyond the streaming threshold (<see cref="StreamingStores"/>).</summary>
    public static bool Applies(RowRotationPlan plan, int lanes, long bytes = 0) => plan.Supported && (plan.BlockSize % lanes == 0 || PairsApply(plan, lanes, bytes));

    /// <summary>b = 8 runs on 16 lanes as pairs of blocks (<see cref="FactorPairs{TStore}"/>): AVX-512, every feature tile a
    /// whole number of pairs; m = 1, or m = 2 beyond the streaming threshold (in cache the tiled kernel wins there).</summary>
    private static bool PairsApply(RowRotationPlan plan, int lanes, long bytes) =>
        lanes == 16 && plan.BlockSize == 8 && Avx512F.IsSupported && plan.FeatureCount % 16 == 0 && plan.TileWidth % 16 == 0
        && (plan.FactorCount == 1 || (plan.FactorCount == 2 && StreamingStores.Applies(bytes)));

    /// <summary><c>output = diag(rowScale)·(input · R)</c> or with Rᵀ; <paramref name="rowScale"/> null means no scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward<TS, TV>(RowRotationPlan plan, SimdTensor input, SimdTensor blocks, bool transpose, SimdTensor? rowScale, SimdTensor output, int rowCount,
        int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        if (rowCount == 0)
            return;
        int m = plan.FactorCount, b = plan.BlockSize;
        bool pairs = b < TS.Count;
        float[]? transposedBlocks = null;
        try
        {
            // x·Dᵀ reads coef(t, c) = C[c, t]: a transposed copy makes its rows contiguous (m·d·b floats, once per call).
            // Pairs of half-vector blocks read both blocks' row t as one vector, lanes interleaved (PairCoefficients).
            if (transpose || pairs)
            {
                ReadOnlySpan<float> coefficients = blocks.Span;
                transposedBlocks = ArrayPool<float>.Shared.Rent(coefficients.Length);
                if (pairs)
                    PairCoefficients(coefficients, transpose, transposedBlocks);
                else
                    for (int j = 0; j < coefficients.Length / (b * b); j++)
                        ScalarTranspose.Rectangle(ref Unsafe.AsRef(in coefficients[j * b * b]), b, ref transposedBlocks[j * b * b], b, b, b);
            }
            float[]? transposedCopy = transposedBlocks;
            int rowBlocks = (rowCount + BlockRows - 1) / BlockRows;
            long work = (long)rowCount * plan.FeatureCount * b * m;
            bool streaming = Streams(plan, input, output, rowCount, TS.Count), prefetch = StreamingStores.ReadsAhead(input, output, rowCount, plan.FeatureCount);
            SimdParallel.For(rowBlocks * plan.FeatureTileCount, work, maxDegreeOfParallelism, task =>
            {
                int rowBlock = task / plan.FeatureTileCount, featureTile = task % plan.FeatureTileCount;
                int firstRow = rowBlock * BlockRows, endRow = Math.Min(rowCount, firstRow + BlockRows);
                ref float coefficientData = ref transposedCopy is null ? ref blocks.Data : ref transposedCopy[0];
                for (int row = firstRow; row < endRow; row += GroupRows)
                {
                    if (prefetch)
                        PrefetchRows(input, plan.FeatureCount, row + GroupRows, Math.Min(endRow, row + 2 * GroupRows), featureTile * plan.TileWidth, plan.TileWidth);
                    Group<TS, TV>(plan, input, ref coefficientData, transpose, rowScale, output, row, Math.Min(GroupRows, endRow - row), featureTile * plan.TileWidth,
                        streaming);
                }
                if (streaming)
                    StreamingStores.Fence();
            });
        }
        finally
        {
            if (transposedBlocks is not null)
                ArrayPool<float>.Shared.Return(transposedBlocks);
        }
    }

    /// <summary>
    /// Whether the forward's last factor writes with non-temporal stores: the rows stream (<see cref="StreamingStores.ReadsAhead"/>,
    /// which alone makes each group of rows ask for the next group's input, any element type), the output is float32, and
    /// every output row and feature tile is aligned to the vector.
    /// </summary>
    internal static bool Streams(RowRotationPlan plan, SimdTensor input, SimdTensor output, int rowCount, int lanes) =>
        output.ElementType == ElementType.Float32 && StreamingStores.ReadsAhead(input, output, rowCount, plan.FeatureCount)
        && StreamingStores.Aligned(ref output.Data, plan.FeatureCount, lanes) && plan.TileWidth % lanes == 0;

    /// <summary>Asks for rows [firstRow, endRow) × features [firstFeature, firstFeature + width) of the input's rows of
    /// <paramref name="d"/> features (clipped to the row), one prefetch per cache line.</summary>
    private static void PrefetchRows(SimdTensor input, int d, int firstRow, int endRow, int firstFeature, int width)
    {
        int size = input.ElementType.SizeInBytes();
        width = Math.Min(width, d - firstFeature);
        ref byte start = ref input.ElementType == ElementType.Float32
            ? ref Unsafe.As<float, byte>(ref input.Data)
            : ref Unsafe.As<ushort, byte>(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(input.BitsArray), input.BitsOffset));
        for (int row = firstRow; row < endRow; row++)
        {
            ref byte line = ref Unsafe.Add(ref start, ((nint)row * d + firstFeature) * size);
            for (int offset = 0; offset < width * size; offset += 64)
                StreamingStores.Prefetch(ref Unsafe.Add(ref line, offset));
        }
    }

    /// <summary>All m factors on rows [firstRow, firstRow + rows) × one feature tile; <paramref name="streaming"/> writes the
    /// last factor's float32 results with non-temporal stores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Group<TS, TV>(RowRotationPlan plan, SimdTensor input, ref float coefficients, bool transpose, SimdTensor? rowScale, SimdTensor output,
        int firstRow, int rows, int firstFeature, bool streaming)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int d = plan.FeatureCount, m = plan.FactorCount, b = plan.BlockSize, k = plan.BlockCount;
        int width = Math.Min(plan.TileWidth, d - firstFeature), stageStride = plan.TileWidth + StagePadding;
        bool sixteenIn = input.ElementType.IsSixteenBit(), sixteenOut = output.ElementType.IsSixteenBit();
        bool gather = transpose && !plan.TransposedOutputIsIdentity;
        // m = 1 on one float32 tensor: block j's later output vectors would read inputs its first one overwrote.
        bool aliased = !sixteenIn && !sixteenOut && m == 1 && Unsafe.AreSame(ref input.Data, ref output.Data);
        // bfloat16 results of a whole group at 8 lanes are rounded in registers and stored straight into the output rows.
        bool roundInRegisters = output.ElementType == ElementType.BFloat16 && !gather && rows == GroupRows && TS.Count == 8 && Avx2.IsSupported;
        bool stagedOut = (sixteenOut && !roundInRegisters) || gather;
        int stageLength = GroupRows * stageStride;
        // Three stages, then the pair rows of FactorPairs (stage lengths are whole cache lines, so it starts on one too).
        Span<float> scratch = Scratch.Get(3 * stageLength + GroupRows * PairRow);
        ref float pairRows = ref scratch[3 * stageLength];
        Span<float> scale = stackalloc float[GroupRows];
        if (rowScale is not null)
            rowScale.Span.Slice(firstRow, rows).CopyTo(scale);

        // Buffers: the input (rows of the tensor, or stage 0), then factors alternate between stages 1 and 2; the last factor
        // writes the output rows directly unless they are 16-bit or gathered (then a stage, converted or gathered after).
        ref float current = ref MemoryMarshal.GetReference(scratch);
        nint currentStride = stageStride;
        if (sixteenIn)
        {
            ReadOnlySpan<ushort> bits = input.Bits;
            for (int r = 0; r < rows; r++)
                ElementConversions.Widen(bits.Slice((firstRow + r) * d + firstFeature, width), input.ElementType, scratch.Slice(r * stageStride, width));
        }
        else if (aliased)
        {
            for (int r = 0; r < rows; r++)
                input.Span.Slice((firstRow + r) * d + firstFeature, width).CopyTo(scratch.Slice(r * stageStride, width));
        }
        else
        {
            current = ref Unsafe.Add(ref input.Data, (nint)firstRow * d + firstFeature);
            currentStride = d;
        }

        int stage = 1;
        for (int step = 0; step < m; step++)
        {
            int i = transpose ? step : m - 1 - step;
            int[] runs = transpose ? plan.TransposedRuns[i] : plan.ForwardRuns[i];
            ref float factorBlocks = ref Unsafe.Add(ref coefficients, ((nint)i * k + firstFeature / b) * b * b);
            bool last = step == m - 1;
            ref float destination = ref Unsafe.Add(ref MemoryMarshal.GetReference(scratch), stage * stageLength);
            nint destinationStride = stageStride;
            if (last && !stagedOut && !roundInRegisters)
            {
                destination = ref Unsafe.Add(ref output.Data, (nint)firstRow * d + firstFeature);
                destinationStride = d;
            }
            ref float rowScales = ref MemoryMarshal.GetReference(scale);
            bool scaled = last && rowScale is not null;
            if (b < TS.Count)
            {
                if (last && streaming && !stagedOut)
                    FactorPairs<StreamingStore>(ref current, currentStride, runs, width / b, ref factorBlocks, ref destination, destinationStride, rows, scaled, ref rowScales, ref pairRows);
                else
                    FactorPairs<CachedStore>(ref current, currentStride, runs, width / b, ref factorBlocks, ref destination, destinationStride, rows, scaled, ref rowScales, ref pairRows);
            }
            else if (last && roundInRegisters)
                Factor8<TS, TV, CachedStore>(ref current, currentStride, runs, width / b, b, ref factorBlocks, ref Unsafe.NullRef<float>(), 0, scaled, ref rowScales,
                    ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(output.BitsArray), output.BitsOffset + (nint)firstRow * d + firstFeature), d);
            else if (rows == GroupRows && last && streaming && !stagedOut)
                Factor8<TS, TV, StreamingStore>(ref current, currentStride, runs, width / b, b, ref factorBlocks, ref destination, destinationStride, scaled, ref rowScales,
                    ref Unsafe.NullRef<ushort>(), 0);
            else if (rows == GroupRows)
                Factor8<TS, TV, CachedStore>(ref current, currentStride, runs, width / b, b, ref factorBlocks, ref destination, destinationStride, scaled, ref rowScales,
                    ref Unsafe.NullRef<ushort>(), 0);
            else
                for (int r = 0; r < rows; r++)
                    Factor1<TS, TV>(ref Unsafe.Add(ref current, r * currentStride), runs, width / b, b, ref factorBlocks, ref Unsafe.Add(ref destination, r * destinationStride),
                        scaled, scale[r]);
            current = ref destination;
            currentStride = destinationStride;
            stage = 3 - stage;
        }
        if (!stagedOut)
            return;

        // The result is in a stage (block order); gather it by p_{m−1} into the free stage if x·Rᵀ needs it, then store.
        Span<float> result = scratch.Slice((3 - stage) * stageLength, stageLength);
        if (gather)
        {
            Span<float> gathered = scratch.Slice(stage * stageLength, stageLength);
            int runLength = Math.Max(plan.Half, 1);
            int[] outputRuns = plan.OutputRuns;
            for (int r = 0; r < rows; r++)
            {
                Span<float> from = result.Slice(r * stageStride, width), to = gathered.Slice(r * stageStride, width);
                for (int run = 0; run < width / runLength; run++)
                    from.Slice(outputRuns[run], runLength).CopyTo(to.Slice(run * runLength, runLength));
            }
            result = gathered;
        }
        for (int r = 0; r < rows; r++)
        {
            Span<float> from = result.Slice(r * stageStride, width);
            if (sixteenOut)
                ElementConversions.Narrow(from, output.ElementType, output.Bits.Slice((firstRow + r) * d + firstFeature, width));
            else
                from.CopyTo(output.Span.Slice((firstRow + r) * d + firstFeature, width));
        }
    }

    /// <summary>
    /// The coefficients of b = 8 blocks in pair layout: blocks 2p and 2p + 1 (of the m·k blocks, k even) become one 16 × 8
    /// run where row t holds both blocks' coef(t, c) interleaved, lane 2c + e from block 2p + e. coef(t, c) is C[t, c], or
    /// C[c, t] for x·Dᵀ (each block transposed in registers first). One permute per row t; AVX-512 only, as its kernel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PairCoefficients(ReadOnlySpan<float> blocks, bool transpose, float[] pairs)
    {
        const int b = 8, blockLength = b * b;
        Span<float> transposed = stackalloc float[2 * blockLength];
        Vector512<int> interleave = Vector512.Create(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        for (int first = 0; first + 1 < blocks.Length / blockLength; first += 2)
        {
            scoped ref float source = ref Unsafe.AsRef(in blocks[first * blockLength]);
            if (transpose)
            {
                Simd256.Transpose<CachedStore>(ref source, b, ref transposed[0], b);
                Simd256.Transpose<CachedStore>(ref Unsafe.Add(ref source, blockLength), b, ref transposed[blockLength], b);
                source = ref transposed[0];
            }
            ref float destination = ref pairs[first * blockLength];
            for (int t = 0; t < b; t++)
            {
                Vector512<float> rows = Vector512.Create(Vector256.LoadUnsafe(ref Unsafe.Add(ref source, t * b)),
                    Vector256.LoadUnsafe(ref Unsafe.Add(ref source, blockLength + t * b)));
                Avx512F.PermuteVar16x32(rows, interleave).StoreUnsafe(ref Unsafe.Add(ref destination, 2 * b * t));
            }
        }
    }

    /// <summary>
    /// One factor of b = 8 on 16 lanes (AVX-512), two blocks to a vector, on up to 8 rows (8 accumulators). For
    /// blocks j and j + 1 and each row, the two blocks' inputs are interleaved into a 16-float pair row (4 loads and 4
    /// unpacks of their runs), so that one 64-bit broadcast of it, (x_j(t), x_{j+1}(t)) in every lane pair, meets row t of
    /// both blocks' coefficients (<see cref="PairCoefficients"/>): 8 FMAs give both blocks' 8 outputs, interleaved, and one
    /// permute puts them in order. Per 16 outputs of a row: 8 FMAs, 8 broadcasts, 4 + 4 stage stores and loads, and 8
    /// coefficient loads shared by the 8 rows, where the tiled kernel transposes each row tile in and out. Every element's
    /// sum runs from zero in t order like Factor8's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FactorPairs<TStore>(ref float source, nint sourceStride, int[] runs, int blocks, ref float coefficients, ref float destination,
        nint destinationStride, int rows, bool scaled, ref float rowScales, ref float stage)
        where TStore : struct, IRowStore
    {
        // Rows past the group's end re-read its first row; their results are not stored.
        ref float x0 = ref source;
        ref float x1 = ref Unsafe.Add(ref source, rows > 1 ? sourceStride : 0);
        ref float x2 = ref Unsafe.Add(ref source, rows > 2 ? 2 * sourceStride : 0);
        ref float x3 = ref Unsafe.Add(ref source, rows > 3 ? 3 * sourceStride : 0);
        ref float x4 = ref Unsafe.Add(ref source, rows > 4 ? 4 * sourceStride : 0);
        ref float x5 = ref Unsafe.Add(ref source, rows > 5 ? 5 * sourceStride : 0);
        ref float x6 = ref Unsafe.Add(ref source, rows > 6 ? 6 * sourceStride : 0);
        ref float x7 = ref Unsafe.Add(ref source, rows > 7 ? 7 * sourceStride : 0);
        ref int run = ref MemoryMarshal.GetArrayDataReference(runs);
        Vector512<int> order = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        for (int j = 0; j < blocks; j += 2)
        {
            nint f0 = Unsafe.Add(ref run, 2 * j), g0 = Unsafe.Add(ref run, 2 * j + 1), f1 = Unsafe.Add(ref run, 2 * j + 2), g1 = Unsafe.Add(ref run, 2 * j + 3);
            PairRowOf(ref x0, f0, g0, f1, g1, ref stage);
            PairRowOf(ref x1, f0, g0, f1, g1, ref Unsafe.Add(ref stage, PairRow));
            PairRowOf(ref x2, f0, g0, f1, g1, ref Unsafe.Add(ref stage, 2 * PairRow));
            PairRowOf(ref x3, f0, g0, f1, g1, ref Unsafe.Add(ref stage, 3 * PairRow));
            PairRowOf(ref x4, f0, g0, f1, g1, ref Unsafe.Add(ref stage, 4 * PairRow));
            PairRowOf(ref x5, f0, g0, f1, g1, ref Unsafe.Add(ref stage, 5 * PairRow));
            PairRowOf(ref x6, f0, g0, f1, g1, ref Unsafe.Add(ref stage, 6 * PairRow));
            PairRowOf(ref x7, f0, g0, f1, g1, ref Unsafe.Add(ref stage, 7 * PairRow));
            ref float k = ref Unsafe.Add(ref coefficients, (nint)j * 64);
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            ref float p = ref stage;
            for (nint t = 0; t < 8; t++)
            {
                Vector512<float> coefficient = Vector512.LoadUnsafe(ref Unsafe.Add(ref k, 16 * t));
                a0 = Vector512.FusedMultiplyAdd(PairBroadcast(ref p), coefficient, a0);
                a1 = Vector512.FusedMultiplyAdd(PairBroadcast(ref Unsafe.Add(ref p, PairRow)), coefficient, a1);
                a2 = Vector512.FusedMultiplyAdd(PairBroadcast(ref Unsafe.Add(ref p, 2 * PairRow)), coefficient, a2);
                a3 = Vector512.FusedMultiplyAdd(PairBroadcast(ref Unsafe.Add(ref p, 3 * PairRow)), coefficient, a3);
                a4 = Vector512.FusedMultiplyAdd(PairBroadcast(ref Unsafe.Add(ref p, 4 * PairRow)), coefficient, a4);
                a5 = Vector512.FusedMultiplyAdd(PairBroadcast(ref Unsafe.Add(ref p, 5 * PairRow)), coefficient, a5);
                a6 = Vector512.FusedMultiplyAdd(PairBroadcast(ref Unsafe.Add(ref p, 6 * PairRow)), coefficient, a6);
                a7 = Vector512.FusedMultiplyAdd(PairBroadcast(ref Unsafe.Add(ref p, 7 * PairRow)), coefficient, a7);
                p = ref Unsafe.Add(ref p, 2);
            }
            ref float o = ref Unsafe.Add(ref destination, (nint)j * 8);
            StorePair<TStore>(a0, 0, rows, scaled, ref rowScales, order, ref o, destinationStride);
            StorePair<TStore>(a1, 1, rows, scaled, ref rowScales, order, ref o, destinationStride);
            StorePair<TStore>(a2, 2, rows, scaled, ref rowScales, order, ref o, destinationStride);
            StorePair<TStore>(a3, 3, rows, scaled, ref rowScales, order, ref o, destinationStride);
            StorePair<TStore>(a4, 4, rows, scaled, ref rowScales, order, ref o, destinationStride);
            StorePair<TStore>(a5, 5, rows, scaled, ref rowScales, order, ref o, destinationStride);
            StorePair<TStore>(a6, 6, rows, scaled, ref rowScales, order, ref o, destinationStride);
            StorePair<TStore>(a7, 7, rows, scaled, ref rowScales, order, ref o, destinationStride);
        }
    }

    /// <summary>Row <paramref name="row"/>'s two blocks of interleaved sums, scaled, put in order and stored (if the row exists).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StorePair<TStore>(Vector512<float> sums, int row, int rows, bool scaled, ref float rowScales, Vector512<int> order, ref float output, nint stride)
        where TStore : struct, IRowStore
    {
        if (row >= rows)
            return;
        if (scaled)
            sums *= Vector512.Create(Unsafe.Add(ref rowScales, row));
        TStore.Store(Avx512F.PermuteVar16x32(sums, order), ref Unsafe.Add(ref output, row * stride));
    }

    /// <summary>Floats of one row's pair row: both blocks' 8 inputs, interleaved.</summary>
    private const int PairRow = 16;

    /// <summary>One row's pair row for blocks j, j + 1 with input runs (f0, g0) and (f1, g1) of 4 floats each:
    /// <c>pair[2t + e] = x_{j+e}(t)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PairRowOf(ref float x, nint f0, nint g0, nint f1, nint g1, ref float pair)
    {
        Vector128<float> a = Vector128.LoadUnsafe(ref Unsafe.Add(ref x, f0)), e = Vector128.LoadUnsafe(ref Unsafe.Add(ref x, f1));
        Sse.UnpackLow(a, e).StoreUnsafe(ref pair);
        Sse.UnpackHigh(a, e).StoreUnsafe(ref Unsafe.Add(ref pair, 4));
        a = Vector128.LoadUnsafe(ref Unsafe.Add(ref x, g0));
        e = Vector128.LoadUnsafe(ref Unsafe.Add(ref x, g1));
        Sse.UnpackLow(a, e).StoreUnsafe(ref Unsafe.Add(ref pair, 8));
        Sse.UnpackHigh(a, e).StoreUnsafe(ref Unsafe.Add(ref pair, 12));
    }

    /// <summary>The 2 floats at <paramref name="pair"/> in every lane pair (one 64-bit broadcast).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairBroadcast(ref float pair) =>
        Vector512.Create(Unsafe.ReadUnaligned<double>(ref Unsafe.As<float, byte>(ref pair))).AsSingle();

    /// <summary>
    /// One factor on 8 rows: for every block j and output vector c of the block,
    /// <c>out[r, jb + c…] = scale_r · Σ_t in[r, run(j, t)] · coef[j][t, c…]</c> with coef row-major (t, c).
    /// The 8 row starts are fixed for the whole call and the runs are indices from them, so the inner loop holds 8 base
    /// registers, one index and one coefficient pointer (checked with DOTNET_JitDisasm: no spills in it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Factor8<TS, TV, TStore>(ref float source, nint sourceStride, int[] runs, int blocks, int b, ref float coefficients, ref float destination, nint destinationStride,
        bool scaled, ref float rowScales, ref ushort bfloat16Destination, nint bfloat16Stride)
        where TS : struct, ISimd<TV>
        where TV : struct
        where TStore : struct, IRowStore
    {
        int v = TS.Count, h = b / 2;
        if (PairedVectors && b % (2 * v) == 0)
        {
            // Two output vectors per block: two 4-row halves, 4 × 2 accumulators each (see Factor4x2).
            for (int half = 0; half < GroupRows; half += 4)
                Factor4x2<TS, TV, TStore>(ref Unsafe.Add(ref source, half * sourceStride), sourceStride, runs, blocks, b, ref coefficients,
                    ref Unsafe.IsNullRef(ref destination) ? ref destination : ref Unsafe.Add(ref destination, half * destinationStride), destinationStride,
                    scaled, ref Unsafe.Add(ref rowScales, half),
                    ref Unsafe.IsNullRef(ref bfloat16Destination) ? ref bfloat16Destination : ref Unsafe.Add(ref bfloat16Destination, half * bfloat16Stride), bfloat16Stride);
            return;
        }
        ref float x0 = ref source;
        ref float x1 = ref Unsafe.Add(ref source, sourceStride);
        ref float x2 = ref Unsafe.Add(ref source, 2 * sourceStride);
        ref float x3 = ref Unsafe.Add(ref source, 3 * sourceStride);
        ref float x4 = ref Unsafe.Add(ref source, 4 * sourceStride);
        ref float x5 = ref Unsafe.Add(ref source, 5 * sourceStride);
        ref float x6 = ref Unsafe.Add(ref source, 6 * sourceStride);
        ref float x7 = ref Unsafe.Add(ref source, 7 * sourceStride);
        ref int run = ref MemoryMarshal.GetArrayDataReference(runs);
        for (int j = 0; j < blocks; j++)
        {
            ref float block = ref Unsafe.Add(ref coefficients, (nint)j * b * b);
            nint first = Unsafe.Add(ref run, 2 * j), second = Unsafe.Add(ref run, 2 * j + 1);
            ref float output = ref Unsafe.Add(ref destination, (nint)j * b);
            for (int c = 0; c < b; c += v)
            {
                TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, a4 = TS.Zero, a5 = TS.Zero, a6 = TS.Zero, a7 = TS.Zero;
                ref float coefficient = ref Unsafe.Add(ref block, c);
                for (nint t = first, end = first + h; t < end; t++)
                {
                    Tap<TS, TV>(TS.Load(ref coefficient), t, ref x0, ref x1, ref x2, ref x3, ref x4, ref x5, ref x6, ref x7, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
                    coefficient = ref Unsafe.Add(ref coefficient, b);
                }
                for (nint t = second, end = second + (b - h); t < end; t++)
                {
                    Tap<TS, TV>(TS.Load(ref coefficient), t, ref x0, ref x1, ref x2, ref x3, ref x4, ref x5, ref x6, ref x7, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
                    coefficient = ref Unsafe.Add(ref coefficient, b);
                }
                if (scaled)
                {
                    a0 = TS.Multiply(a0, TS.Create(rowScales)); a1 = TS.Multiply(a1, TS.Create(Unsafe.Add(ref rowScales, 1)));
                    a2 = TS.Multiply(a2, TS.Create(Unsafe.Add(ref rowScales, 2))); a3 = TS.Multiply(a3, TS.Create(Unsafe.Add(ref rowScales, 3)));
                    a4 = TS.Multiply(a4, TS.Create(Unsafe.Add(ref rowScales, 4))); a5 = TS.Multiply(a5, TS.Create(Unsafe.Add(ref rowScales, 5)));
                    a6 = TS.Multiply(a6, TS.Create(Unsafe.Add(ref rowScales, 6))); a7 = TS.Multiply(a7, TS.Create(Unsafe.Add(ref rowScales, 7)));
                }
                if (!Unsafe.IsNullRef(ref bfloat16Destination))
                {
                    ref ushort bits = ref Unsafe.Add(ref bfloat16Destination, (nint)j * b + c);
                    StoreBFloat16Rows4(a0, a1, a2, a3, ref bits, bfloat16Stride);
                    StoreBFloat16Rows4(a4, a5, a6, a7, ref Unsafe.Add(ref bits, 4 * bfloat16Stride), bfloat16Stride);
                    continue;
                }
                ref float o = ref Unsafe.Add(ref output, c);
                StoreRows4<TV, TStore>(a0, a1, a2, a3, ref o, destinationStride);
                StoreRows4<TV, TStore>(a4, a5, a6, a7, ref Unsafe.Add(ref o, 4 * destinationStride), destinationStride);
            }
        }
    }

    /// <summary>
    /// One factor on 4 rows for b a multiple of 2 vectors: output vectors c and c + v of a block together, so each broadcast
    /// of x feeds 2 FMAs (2 coefficient loads + 4 broadcasts per 8 FMAs, against Factor8's 1 + 8). Besides the loads, only 4
    /// rows d floats apart share L1 sets: at d = 1024 Factor8's 8 rows, 4 KiB apart, fill all 8 ways of their sets, and the
    /// coefficients and output rows evict them (docs/04_Benchmarking.md §Row kernels). Every element's sum runs in the same
    /// t order as Factor8's and Factor1's, so results do not depend on which kernel ran.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Factor4x2<TS, TV, TStore>(ref float source, nint sourceStride, int[] runs, int blocks, int b, ref float coefficients, ref float destination,
        nint destinationStride, bool scaled, ref float rowScales, ref ushort bfloat16Destination, nint bfloat16Stride)
        where TS : struct, ISimd<TV>
        where TV : struct
        where TStore : struct, IRowStore
    {
        int v = TS.Count;
        ref float x0 = ref source;
        ref float x1 = ref Unsafe.Add(ref source, sourceStride);
        ref float x2 = ref Unsafe.Add(ref source, 2 * sourceStride);
        ref float x3 = ref Unsafe.Add(ref source, 3 * sourceStride);
        ref int run = ref MemoryMarshal.GetArrayDataReference(runs);
        for (int j = 0; j < blocks; j++)
        {
            ref float block = ref Unsafe.Add(ref coefficients, (nint)j * b * b);
            nint first = Unsafe.Add(ref run, 2 * j), second = Unsafe.Add(ref run, 2 * j + 1);
            for (int c = 0; c < b; c += 2 * v)
            {
                Sums4x2<TS, TV>(ref Unsafe.Add(ref block, c), first, second, b, ref x0, ref x1, ref x2, ref x3,
                    out TV a0, out TV a1, out TV a2, out TV a3, out TV e0, out TV e1, out TV e2, out TV e3);
                if (scaled)
                {
                    TV s0 = TS.Create(rowScales), s1 = TS.Create(Unsafe.Add(ref rowScales, 1));
                    TV s2 = TS.Create(Unsafe.Add(ref rowScales, 2)), s3 = TS.Create(Unsafe.Add(ref rowScales, 3));
                    a0 = TS.Multiply(a0, s0); a1 = TS.Multiply(a1, s1); a2 = TS.Multiply(a2, s2); a3 = TS.Multiply(a3, s3);
                    e0 = TS.Multiply(e0, s0); e1 = TS.Multiply(e1, s1); e2 = TS.Multiply(e2, s2); e3 = TS.Multiply(e3, s3);
                }
                if (!Unsafe.IsNullRef(ref bfloat16Destination))
                {
                    ref ushort bits = ref Unsafe.Add(ref bfloat16Destination, (nint)j * b + c);
                    StoreBFloat16Rows4(a0, a1, a2, a3, ref bits, bfloat16Stride);
                    StoreBFloat16Rows4(e0, e1, e2, e3, ref Unsafe.Add(ref bits, v), bfloat16Stride);
                    continue;
                }
                ref float o = ref Unsafe.Add(ref destination, (nint)j * b + c);
                StoreRows4<TV, TStore>(a0, a1, a2, a3, ref o, destinationStride);
                StoreRows4<TV, TStore>(e0, e1, e2, e3, ref Unsafe.Add(ref o, v), destinationStride);
            }
        }
    }

    /// <summary>
    /// The 4 rows × 2 vectors of one block's output vectors c and c + v: <c>a_r = Σ_t x_r[run(t)] · coef[t, c…]</c>,
    /// <c>e_r</c> the same at c + v, t in order over the runs at <paramref name="first"/> (h = b/2 terms) and
    /// <paramref name="second"/>. <paramref name="coefficient"/> points at coef[0, c]; rows of coef are b floats apart.
    /// Shared by Factor4x2 and the backward's products (RowRotation.Backward.cs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Sums4x2<TS, TV>(ref float coefficient, nint first, nint second, int b, ref float x0, ref float x1, ref float x2, ref float x3,
        out TV a0, out TV a1, out TV a2, out TV a3, out TV e0, out TV e1, out TV e2, out TV e3)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count, h = b / 2;
        a0 = TS.Zero; a1 = TS.Zero; a2 = TS.Zero; a3 = TS.Zero; e0 = TS.Zero; e1 = TS.Zero; e2 = TS.Zero; e3 = TS.Zero;
        for (nint t = first, end = first + h; t < end; t++)
        {
            Tap4x2<TS, TV>(TS.Load(ref coefficient), TS.Load(ref Unsafe.Add(ref coefficient, v)), t, ref x0, ref x1, ref x2, ref x3,
                ref a0, ref a1, ref a2, ref a3, ref e0, ref e1, ref e2, ref e3);
            coefficient = ref Unsafe.Add(ref coefficient, b);
        }
        for (nint t = second, end = second + (b - h); t < end; t++)
        {
            Tap4x2<TS, TV>(TS.Load(ref coefficient), TS.Load(ref Unsafe.Add(ref coefficient, v)), t, ref x0, ref x1, ref x2, ref x3,
                ref a0, ref a1, ref a2, ref a3, ref e0, ref e1, ref e2, ref e3);
            coefficient = ref Unsafe.Add(ref coefficient, b);
        }
    }

    /// <summary><c>a_r += x_r[index] · k</c>, <c>e_r += x_r[index] · l</c> for 4 rows (one term of Factor4x2's sums).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tap4x2<TS, TV>(TV k, TV l, nint index, ref float x0, ref float x1, ref float x2, ref float x3,
        ref TV a0, ref TV a1, ref TV a2, ref TV a3, ref TV e0, ref TV e1, ref TV e2, ref TV e3)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        TV y = TS.Create(Unsafe.Add(ref x0, index));
        a0 = TS.Fma(y, k, a0); e0 = TS.Fma(y, l, e0);
        y = TS.Create(Unsafe.Add(ref x1, index));
        a1 = TS.Fma(y, k, a1); e1 = TS.Fma(y, l, e1);
        y = TS.Create(Unsafe.Add(ref x2, index));
        a2 = TS.Fma(y, k, a2); e2 = TS.Fma(y, l, e2);
        y = TS.Create(Unsafe.Add(ref x3, index));
        a3 = TS.Fma(y, k, a3); e3 = TS.Fma(y, l, e3);
    }

    /// <summary>One vector into each of 4 rows, <paramref name="stride"/> floats apart, with <typeparamref name="TStore"/>'s stores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRows4<TV, TStore>(TV r0, TV r1, TV r2, TV r3, ref float destination, nint stride)
        where TV : struct
        where TStore : struct, IRowStore
    {
        TStore.Store(r0, ref destination);
        TStore.Store(r1, ref Unsafe.Add(ref destination, stride));
        TStore.Store(r2, ref Unsafe.Add(ref destination, 2 * stride));
        TStore.Store(r3, ref Unsafe.Add(ref destination, 3 * stride));
    }

    /// <summary>The same, rounded to bfloat16 (<see cref="StoreBFloat16{TV}"/>), rows <paramref name="stride"/> values apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreBFloat16Rows4<TV>(TV r0, TV r1, TV r2, TV r3, ref ushort destination, nint stride)
        where TV : struct
    {
        StoreBFloat16(r0, ref destination);
        StoreBFloat16(r1, ref Unsafe.Add(ref destination, stride));
        StoreBFloat16(r2, ref Unsafe.Add(ref destination, 2 * stride));
        StoreBFloat16(r3, ref Unsafe.Add(ref destination, 3 * stride));
    }

    /// <summary>8 float32 lanes rounded (RNE) to bfloat16 and stored as 8 bits values; only called with 256-bit vectors (AVX2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreBFloat16<TV>(TV value, ref ushort destination)
        where TV : struct
    {
        Vector256<int> rounded = ElementConversions.RoundBFloat16(Unsafe.As<TV, Vector256<float>>(ref value)).AsInt32();
        Sse41.PackUnsignedSaturate(rounded.GetLower(), rounded.GetUpper()).StoreUnsafe(ref destination);
    }

    /// <summary><c>a_r += x_r[index] · k</c> for the 8 rows (one term of Factor8's sums).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tap<TS, TV>(TV k, nint index, ref float x0, ref float x1, ref float x2, ref float x3, ref float x4, ref float x5, ref float x6, ref float x7,
        ref TV a0, ref TV a1, ref TV a2, ref TV a3, ref TV a4, ref TV a5, ref TV a6, ref TV a7)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        a0 = TS.Fma(TS.Create(Unsafe.Add(ref x0, index)), k, a0);
        a1 = TS.Fma(TS.Create(Unsafe.Add(ref x1, index)), k, a1);
        a2 = TS.Fma(TS.Create(Unsafe.Add(ref x2, index)), k, a2);
        a3 = TS.Fma(TS.Create(Unsafe.Add(ref x3, index)), k, a3);
        a4 = TS.Fma(TS.Create(Unsafe.Add(ref x4, index)), k, a4);
        a5 = TS.Fma(TS.Create(Unsafe.Add(ref x5, index)), k, a5);
        a6 = TS.Fma(TS.Create(Unsafe.Add(ref x6, index)), k, a6);
        a7 = TS.Fma(TS.Create(Unsafe.Add(ref x7, index)), k, a7);
    }

    /// <summary>One factor on one row (the last rows of a tensor whose row count is not a multiple of 8): the backward's
    /// one-row product (<see cref="Product1"/>, the same t order as Factor8 and Factor4x2, so a row's result does not
    /// depend on its group) with block-order outputs.</summary>
    private static void Factor1<TS, TV>(ref float source, int[] runs, int blocks, int b, ref float coefficients, ref float destination, bool scaled, float scale)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        Span<int> table = stackalloc int[4 * blocks];
        RunTable(runs, null, blocks, b, table);
        Product1<TS, TV>(ref source, table, blocks, b, ref coefficients, ref destination, scaled, scale);
    }
}
