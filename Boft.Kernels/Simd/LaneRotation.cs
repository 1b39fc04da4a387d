// The rotation forward for OFT's smallest blocks (m = 1, b = 2 or 4) in row layout on 256-bit vectors: x·R, x·Rᵀ and
// Merge's diag(s)·W0·Rᵀ. docs/02_Ops/simd-backend.md §Row kernels.
//
// Why: at b = 2 or 4 a rotation does 4 or 8 FLOPs per element, far below the machine's balance (≈ 20 FLOPs per float32
// element on the 2-core VM), so only the bytes count; the tiled kernel's transposes and the row kernel (RowRotation.cs,
// b a multiple of 8 lanes) do not fit. Here a 256-bit vector holds 8/b whole blocks of a row, and
//     out = Σ_s rotate_s(x) · K_s,     s < b,
// where rotate_s moves element (c + s) mod b of each block to its lane c (an in-lane vpermilps: blocks never straddle a
// 128-bit lane; s = 0 is x itself) and K_s holds, lane by lane, the coefficient that element meets: C[(c + s) mod b, c],
// or C[c, (c + s) mod b] for Rᵀ, laid out once per call. One load, b − 1 shuffles, b multiplies/FMAs and one store per 8
// elements (broadcasting each element t across its block instead took b shuffles: 1.05–1.35× slower in 15 of 16 pairs
// measured side by side, docs/02_Ops/simd-backend.md §Row kernels); the
// row is streamed once, in and out. bfloat16 rows are widened and rounded (RNE) in registers, 16 elements at a time;
// float16 rows are widened in registers too (exactly, by bits: ElementConversions.WidenFloat16) and rounded out of an L1
// stage of one row slice (.NET exposes no F16C conversion; TensorPrimitives' rounding measured faster than a vector one).
// Each output vector depends on its own input vector only, so input and output may be one tensor. Work items are
// (64-row block, feature tile); results are bitwise repeatable whatever the thread count.

using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Boft.Backends;

namespace Boft.Kernels.Simd;

/// <summary>The small-block row-layout rotation forward (see the file header).</summary>
internal static class LaneRotation
{
    /// <summary>Rows per work item.</summary>
    private const int BlockRows = 64;

    /// <summary>Features per work item: a multiple of 16, and 16 KiB of lane coefficients at b = 4.</summary>
    private const int TileWidth = 1024;

    /// <summary>Whether the forward streams (<see cref="StreamingStores.ReadsAhead"/>) and writes with non-temporal stores:
    /// float32 and bfloat16 outputs. float16 results go through a stage and are stored plainly, their rows still read ahead.</summary>
    internal static bool Streams(SimdTensor input, SimdTensor output, int rowCount, int d) =>
        output.ElementType != ElementType.Float16 && StreamingStores.ReadsAhead(input, output, rowCount, d);

    /// <summary>Whether this kernel runs the shape here: m = 1, b ∈ {2, 4}, d a multiple of 16, AVX2 and FMA present.</summary>
    public static bool Applies(RotationShape shape) =>
        Avx2.IsSupported && Fma.IsSupported && shape.FactorCount == 1 && shape.BlockSize is 2 or 4 && shape.FeatureCount % 16 == 0;

    /// <summary><c>output = diag(rowScale)·(input · R)</c> or with Rᵀ; <paramref name="rowScale"/> null means no scale.</summary>
    public static void Forward(RotationShape shape, SimdTensor input, SimdTensor blocks, bool transpose, SimdTensor? rowScale, SimdTensor output, int rowCount,
        int maxDegreeOfParallelism)
    {
        if (rowCount == 0)
            return;
        int d = shape.FeatureCount, b = shape.BlockSize;
        float[] lanes = ArrayPool<float>.Shared.Rent(d * b);
        try
        {
            ReadOnlySpan<float> c = blocks.Span;
            for (int f = 0; f < d; f++)
                for (int s = 0; s < b; s++)
                {
                    (int lane, int rowMajor, int columnMajor) = LaneIndex(f, s, b);
                    lanes[lane] = transpose ? c[rowMajor] : c[columnMajor];
                }
            int featureTiles = (d + TileWidth - 1) / TileWidth, rowBlocks = (rowCount + BlockRows - 1) / BlockRows;
            bool prefetch = StreamingStores.ReadsAhead(input, output, rowCount, d), streaming = Streams(input, output, rowCount, d);
            SimdParallel.For(rowBlocks * featureTiles, (long)rowCount * d * b, maxDegreeOfParallelism, task =>
            {
                int rowBlock = task / featureTiles, featureTile = task % featureTiles;
                int firstFeature = featureTile * TileWidth, width = Math.Min(TileWidth, d - firstFeature);
                int firstRow = rowBlock * BlockRows, endRow = Math.Min(rowCount, firstRow + BlockRows);
                ref float k = ref lanes[firstFeature * b];
                Tile(input, ref k, b, rowScale, output, d, firstRow, endRow, firstFeature, width, streaming, prefetch);
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(lanes);
        }
    }

    /// <summary>
    /// Where feature f (column c = f mod b of block j = f / b) meets rotation s: its lane in the lane layout of the coefficients
    /// and accumulators (vector f / 8 holds b vectors, one per s, at ((f / 8)·b + s)·8 + f mod 8), and the block element
    /// rotation s pairs it with, t = (c + s) mod b, as row-major indices of the blocks: (c, t) and (t, c). Shifts, not
    /// divisions (b is 2 or 4): the layout is made on every call, and at one token it is most of the work.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int Lane, int RowMajor, int ColumnMajor) LaneIndex(int f, int s, int b)
    {
        int shift = b == 2 ? 1 : 2, column = f & (b - 1), t = (column + s) & (b - 1), blockStart = (f >> shift) << (2 * shift);
        return (((f >> 3) << (shift + 3)) + (f & 7) + (s << 3), blockStart + (column << shift) + t, blockStart + (t << shift) + column);
    }

    /// <summary>
    /// The block gradients of the rotation, <c>gradBlocks[j][p, q] = Σ_rows x[jb + p]·g[jb + q]</c> (overwritten), in row
    /// layout with the forward's lane rotations: lane c of accumulator s sums x[c]·rotate_s(g)[c] = x[jb + c]·g[jb + (c + s)
    /// mod b], that is G_j[c, (c + s) mod b]. One load of x and g, b − 1 shuffles and b FMAs per 8 elements, the
    /// accumulators (tile width × b floats) in L1; no transposes. Rows are cut into at most 16 chunks by the row count alone,
    /// each chunk's partial sums kept, and the chunks added in order: the result does not depend on the thread count.
    /// The input gradient g·Cᵀ is the forward's x·Rᵀ (<see cref="Forward"/>), run after this: gradInput may alias gradOutput.
    /// </summary>
    public static void BlockGradients(RotationShape shape, SimdTensor input, SimdTensor gradOutput, SimdTensor gradBlocks, int rowCount, int maxDegreeOfParallelism)
    {
        int d = shape.FeatureCount, b = shape.BlockSize, length = d * b;
        Span<float> destination = gradBlocks.Span[..length];
        if (rowCount == 0)
        {
            destination.Clear();
            return;
        }
        (int chunkRows, int chunks) = SimdParallel.RowChunks(rowCount, BlockRows);
        int featureTiles = (d + TileWidth - 1) / TileWidth;
        float[] partials = ArrayPool<float>.Shared.Rent(chunks * length);
        try
        {
            // x and g beyond the L3: each row asks for the rows PrefetchRows ahead (StreamingStores).
            bool streaming = StreamingStores.Applies(StreamingStores.RowBytes(input, gradOutput, rowCount, d));
            SimdParallel.For(chunks * featureTiles, (long)rowCount * d * b, maxDegreeOfParallelism, task =>
            {
                int chunk = task / featureTiles, featureTile = task % featureTiles;
                int firstFeature = featureTile * TileWidth, width = Math.Min(TileWidth, d - firstFeature);
                int firstRow = chunk * chunkRows, endRow = Math.Min(rowCount, firstRow + chunkRows);
                Span<float> sums = partials.AsSpan(chunk * length + firstFeature * b, width * b);
                sums.Clear();
                // The rows' "output" is g: read, not written.
                var rows = new TileRows(input, gradOutput, null, d, firstRow, endRow, firstFeature, width);
                ref float accumulators = ref MemoryMarshal.GetReference(sums);
                switch (input.ElementType)
                {
                    case ElementType.Float32: GradientRows<Float32In>(ref rows, b, ref accumulators, streaming); break;
                    case ElementType.BFloat16: GradientRows<BFloat16In>(ref rows, b, ref accumulators, streaming); break;
                    default: GradientRows<Float16In>(ref rows, b, ref accumulators, streaming); break;
                }
            });
            // Chunks in order into chunk 0, then from the lane layout into the b × b blocks.
            Elementwise.SumChunks<Simd256, Vector256<float>>(partials, chunks, length, partials, 0, maxDegreeOfParallelism);
            ReadOnlySpan<float> total = partials.AsSpan(0, length);
            for (int f = 0; f < d; f++)
                for (int s = 0; s < b; s++)
                {
                    (int lane, int rowMajor, _) = LaneIndex(f, s, b);
                    destination[rowMajor] = total[lane];
                }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
    }

    private static void GradientRows<TIn>(ref TileRows rows, int b, ref float sums, bool streaming)
        where TIn : struct, IRowInput
    {
        if (b == 2)
            GradientRows<TIn, Pair>(ref rows, ref sums, streaming);
        else
            GradientRows<TIn, Quad>(ref rows, ref sums, streaming);
    }

    /// <summary>Adds one work item's rows to its accumulators (the lane layout of <see cref="BlockGradients"/>): x from
    /// <c>rows.InputStart</c>, g (the same element type) from <c>rows.OutputStart</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GradientRows<TIn, TBlock>(ref TileRows rows, ref float sums, bool streaming)
        where TIn : struct, IRowInput
        where TBlock : struct, IBlockProduct
    {
        int width = rows.Width, d = rows.FeatureCount;
        nint ahead = StreamingStores.PrefetchRows * (nint)d * TIn.Size;
        for (int row = rows.FirstRow; row < rows.EndRow; row++)
        {
            nint offset = ((nint)row * d + rows.FirstFeature) * TIn.Size;
            ref byte x = ref Unsafe.Add(ref rows.InputStart, offset);
            ref byte g = ref Unsafe.Add(ref rows.OutputStart, offset);
            bool prefetch = streaming && row + StreamingStores.PrefetchRows < rows.EndRow;
            for (nint f = 0; f < width; f += 16)
            {
                if (prefetch)
                {
                    StreamingStores.Prefetch(ref Unsafe.Add(ref x, ahead + f * TIn.Size));
                    StreamingStores.Prefetch(ref Unsafe.Add(ref g, ahead + f * TIn.Size));
                }
                TIn.Load(ref x, f, out Vector256<float> x0, out Vector256<float> x1);
                TIn.Load(ref g, f, out Vector256<float> g0, out Vector256<float> g1);
                ref float a = ref Unsafe.Add(ref sums, f * TBlock.Size);
                TBlock.Accumulate(x0, g0, ref a);
                TBlock.Accumulate(x1, g1, ref Unsafe.Add(ref a, 8 * TBlock.Size));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddProduct(Vector256<float> x, Vector256<float> g, ref float sum) =>
        Fma.MultiplyAdd(x, g, Vector256.LoadUnsafe(ref sum)).StoreUnsafe(ref sum);

    /// <summary>
    /// Rows [firstRow, endRow) × features [firstFeature, firstFeature + width) of one work item. The element types, the
    /// block size, the row scale and the store kind are chosen here once and reach the row loop as type parameters, so the
    /// loop the JIT compiles for each combination has no branch but its own (a single loop that tested them per vector
    /// kept 5 locals on the stack and ran about 60 instructions per 16 elements).
    /// </summary>
    private static void Tile(SimdTensor input, ref float k, int b, SimdTensor? rowScale, SimdTensor output, int d, int firstRow, int endRow, int firstFeature, int width,
        bool streaming, bool prefetch)
    {
        var rows = new TileRows(input, output, rowScale, d, firstRow, endRow, firstFeature, width);
        switch (input.ElementType)
        {
            case ElementType.Float32: WithOutput<Float32In>(ref rows, ref k, b, streaming, prefetch); break;
            case ElementType.BFloat16: WithOutput<BFloat16In>(ref rows, ref k, b, streaming, prefetch); break;
            default: WithOutput<Float16In>(ref rows, ref k, b, streaming, prefetch); break;
        }
    }

    private static void WithOutput<TIn>(ref TileRows rows, ref float k, int b, bool streaming, bool prefetch)
        where TIn : struct, IRowInput
    {
        switch (rows.Output.ElementType)
        {
            case ElementType.Float32 when streaming: WithBlock<TIn, Float32StreamingOut>(ref rows, ref k, b, prefetch); break;
            case ElementType.Float32: WithBlock<TIn, Float32Out>(ref rows, ref k, b, prefetch); break;
            case ElementType.BFloat16 when streaming: WithBlock<TIn, BFloat16StreamingOut>(ref rows, ref k, b, prefetch); break;
            case ElementType.BFloat16: WithBlock<TIn, BFloat16Out>(ref rows, ref k, b, prefetch); break;
            default: WithBlock<TIn, StageOut>(ref rows, ref k, b, prefetch); break;
        }
    }

    private static void WithBlock<TIn, TOut>(ref TileRows rows, ref float k, int b, bool prefetch)
        where TIn : struct, IRowInput
        where TOut : struct, IRowOutput
    {
        bool scaled = rows.RowScale is not null;
        if (b == 2)
        {
            if (scaled) Rows<TIn, TOut, Pair, Scaled>(ref rows, ref k, prefetch); else Rows<TIn, TOut, Pair, Unscaled>(ref rows, ref k, prefetch);
        }
        else
        {
            if (scaled) Rows<TIn, TOut, Quad, Scaled>(ref rows, ref k, prefetch); else Rows<TIn, TOut, Quad, Unscaled>(ref rows, ref k, prefetch);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows<TIn, TOut, TBlock, TScale>(ref TileRows rows, ref float k, bool prefetchRows)
        where TIn : struct, IRowInput
        where TOut : struct, IRowOutput
        where TBlock : struct, IBlockProduct
        where TScale : struct, IFlag
    {
        int width = rows.Width, d = rows.FeatureCount;
        bool staged = typeof(TOut) == typeof(StageOut);
        Span<float> stage = staged ? Scratch.Get(width) : default;
        ref byte input = ref rows.InputStart;
        ref byte output = ref staged ? ref Unsafe.As<float, byte>(ref MemoryMarshal.GetReference(stage)) : ref rows.OutputStart;
        ReadOnlySpan<float> scales = TScale.Value ? rows.RowScale!.Span : default;
        for (int row = rows.FirstRow; row < rows.EndRow; row++)
        {
            nint offset = (nint)row * d + rows.FirstFeature;
            Vector256<float> scale = TScale.Value ? Vector256.Create(scales[row]) : default;
            ref byte x = ref Unsafe.Add(ref input, offset * TIn.Size);
            ref byte y = ref staged ? ref output : ref Unsafe.Add(ref output, offset * TOut.Size);
            // Beyond the L3: the row PrefetchRows ahead is asked for while this one is computed (one prefetch per 16 elements).
            bool prefetch = prefetchRows && row + StreamingStores.PrefetchRows < rows.EndRow;
            ref byte ahead = ref Unsafe.Add(ref x, StreamingStores.PrefetchRows * (nint)d * TIn.Size);
            for (nint f = 0; f < width; f += 16)
            {
                if (prefetch)
                    StreamingStores.Prefetch(ref Unsafe.Add(ref ahead, f * TIn.Size));
                TIn.Load(ref x, f, out Vector256<float> x0, out Vector256<float> x1);
                ref float k0 = ref Unsafe.Add(ref k, f * TBlock.Size);
                Vector256<float> y0 = TBlock.Apply(x0, ref k0), y1 = TBlock.Apply(x1, ref Unsafe.Add(ref k0, 8 * TBlock.Size));
                if (TScale.Value)
                {
                    y0 *= scale;
                    y1 *= scale;
                }
                TOut.Store(ref y, f, y0, y1);
            }
            if (staged)
                ElementConversions.Narrow(stage, rows.Output.ElementType, rows.Output.Bits.Slice((int)offset, width));
        }
        if (TOut.Streaming)
            StreamingStores.Fence();
    }

    /// <summary>The rows of one work item and where its tensors start (each tensor reference taken once: the accessors check
    /// for disposal and are not inlined).</summary>
    private ref struct TileRows
    {
        public TileRows(SimdTensor input, SimdTensor output, SimdTensor? rowScale, int d, int firstRow, int endRow, int firstFeature, int width)
        {
            Output = output;
            RowScale = rowScale;
            FeatureCount = d;
            FirstRow = firstRow;
            EndRow = endRow;
            FirstFeature = firstFeature;
            Width = width;
            InputStart = ref Start(input);
            OutputStart = ref Start(output);
        }

        private static ref byte Start(SimdTensor tensor) => ref tensor.ElementType == ElementType.Float32
            ? ref Unsafe.As<float, byte>(ref tensor.Data)
            : ref Unsafe.As<ushort, byte>(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(tensor.BitsArray), tensor.BitsOffset));

        public ref byte InputStart;
        public ref byte OutputStart;
        public SimdTensor Output;
        public SimdTensor? RowScale;
        public int FeatureCount, FirstRow, EndRow, FirstFeature, Width;
    }

    /// <summary>16 elements of a row in, widened to float32.</summary>
    private interface IRowInput
    {
        static abstract int Size { get; }

        static abstract void Load(ref byte row, nint f, out Vector256<float> x0, out Vector256<float> x1);
    }

    /// <summary>16 float32 results out (rounded once where the type is 16-bit).</summary>
    private interface IRowOutput
    {
        static abstract int Size { get; }

        /// <summary>Non-temporal stores, with the input read ahead (<see cref="StreamingStores"/>).</summary>
        static virtual bool Streaming => false;

        static abstract void Store(ref byte row, nint f, Vector256<float> y0, Vector256<float> y1);
    }

    private readonly struct Float32In : IRowInput
    {
        public static int Size => sizeof(float);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load(ref byte row, nint f, out Vector256<float> x0, out Vector256<float> x1)
        {
            ref float source = ref Unsafe.Add(ref Unsafe.As<byte, float>(ref row), f);
            x0 = Vector256.LoadUnsafe(ref source);
            x1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 8));
        }
    }

    private readonly struct BFloat16In : IRowInput
    {
        public static int Size => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load(ref byte row, nint f, out Vector256<float> x0, out Vector256<float> x1)
        {
            ref ushort bits = ref Unsafe.Add(ref Unsafe.As<byte, ushort>(ref row), f);
            x0 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref bits)), 16).AsSingle();
            x1 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref Unsafe.Add(ref bits, 8))), 16).AsSingle();
        }
    }

    private readonly struct Float16In : IRowInput
    {
        public static int Size => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load(ref byte row, nint f, out Vector256<float> x0, out Vector256<float> x1)
        {
            (Vector256<uint> lower, Vector256<uint> upper) = Vector256.Widen(Vector256.LoadUnsafe(ref Unsafe.Add(ref Unsafe.As<byte, ushort>(ref row), f)));
            x0 = ElementConversions.WidenFloat16(lower);
            x1 = ElementConversions.WidenFloat16(upper);
        }
    }

    private readonly struct Float32Out : IRowOutput
    {
        public static int Size => sizeof(float);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(ref byte row, nint f, Vector256<float> y0, Vector256<float> y1)
        {
            ref float destination = ref Unsafe.Add(ref Unsafe.As<byte, float>(ref row), f);
            y0.StoreUnsafe(ref destination);
            y1.StoreUnsafe(ref Unsafe.Add(ref destination, 8));
        }
    }

    private readonly struct Float32StreamingOut : IRowOutput
    {
        public static int Size => sizeof(float);

        public static bool Streaming => true;

        /// <summary>Aligned: the tensor's first element is 64-byte aligned, d and f are multiples of 16, and the array is pinned.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe void Store(ref byte row, nint f, Vector256<float> y0, Vector256<float> y1)
        {
            float* destination = (float*)Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.As<byte, float>(ref row), f));
            Avx.StoreAlignedNonTemporal(destination, y0);
            Avx.StoreAlignedNonTemporal(destination + 8, y1);
        }
    }

    private readonly struct BFloat16Out : IRowOutput
    {
        public static int Size => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(ref byte row, nint f, Vector256<float> y0, Vector256<float> y1) =>
            Round(y0, y1).StoreUnsafe(ref Unsafe.Add(ref Unsafe.As<byte, ushort>(ref row), f));

        /// <summary>16 results rounded (RNE) to bfloat16 bits, in order.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<ushort> Round(Vector256<float> y0, Vector256<float> y1) =>
            Vector256.Narrow(ElementConversions.RoundBFloat16(y0), ElementConversions.RoundBFloat16(y1));
    }

    private readonly struct BFloat16StreamingOut : IRowOutput
    {
        public static int Size => sizeof(ushort);

        public static bool Streaming => true;

        /// <summary>32-byte aligned, as for <see cref="Float32StreamingOut"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe void Store(ref byte row, nint f, Vector256<float> y0, Vector256<float> y1) =>
            Avx.StoreAlignedNonTemporal((ushort*)Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.As<byte, ushort>(ref row), f)), BFloat16Out.Round(y0, y1));
    }

    /// <summary>float16: float32 results into a one-row L1 stage, rounded into the row after it (Rows).</summary>
    private readonly struct StageOut : IRowOutput
    {
        public static int Size => sizeof(float);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(ref byte row, nint f, Vector256<float> y0, Vector256<float> y1) => Float32Out.Store(ref row, f, y0, y1);
    }

    /// <summary>The block product of 16 / b blocks in one vector.</summary>
    private interface IBlockProduct
    {
        static abstract int Size { get; }

        static abstract Vector256<float> Apply(Vector256<float> x, ref float k);

        /// <summary>Accumulator s (8 floats at <paramref name="sums"/> + 8s) += x · rotate_s(g), s &lt; b.</summary>
        static abstract void Accumulate(Vector256<float> x, Vector256<float> g, ref float sums);
    }

    private readonly struct Pair : IBlockProduct
    {
        public static int Size => 2;

        /// <summary>Four blocks per vector: x·K_0 + swap(x)·K_1 (swap exchanges the two lanes of each block).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x, ref float k) =>
            Fma.MultiplyAdd(Avx.Permute(x, 0xB1), Vector256.LoadUnsafe(ref Unsafe.Add(ref k, 8)), x * Vector256.LoadUnsafe(ref k));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Accumulate(Vector256<float> x, Vector256<float> g, ref float sums)
        {
            AddProduct(x, g, ref sums);
            AddProduct(x, Avx.Permute(g, 0xB1), ref Unsafe.Add(ref sums, 8));
        }
    }

    private readonly struct Quad : IBlockProduct
    {
        public static int Size => 4;

        /// <summary>Two blocks per vector (one per 128-bit lane): Σ_s rotate_s(x)·K_s, where rotate_s moves element (c + s) mod 4
        /// of each block to lane c (vpermilps 0x39, 0x4E, 0x93; s = 0 needs no shuffle).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x, ref float k)
        {
            Vector256<float> y = x * Vector256.LoadUnsafe(ref k);
            y = Fma.MultiplyAdd(Avx.Permute(x, 0x39), Vector256.LoadUnsafe(ref Unsafe.Add(ref k, 8)), y);
            y = Fma.MultiplyAdd(Avx.Permute(x, 0x4E), Vector256.LoadUnsafe(ref Unsafe.Add(ref k, 16)), y);
            return Fma.MultiplyAdd(Avx.Permute(x, 0x93), Vector256.LoadUnsafe(ref Unsafe.Add(ref k, 24)), y);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Accumulate(Vector256<float> x, Vector256<float> g, ref float sums)
        {
            AddProduct(x, g, ref sums);
            AddProduct(x, Avx.Permute(g, 0x39), ref Unsafe.Add(ref sums, 8));
            AddProduct(x, Avx.Permute(g, 0x4E), ref Unsafe.Add(ref sums, 16));
            AddProduct(x, Avx.Permute(g, 0x93), ref Unsafe.Add(ref sums, 24));
        }
    }

    private interface IFlag
    {
        static abstract bool Value { get; }
    }

    private readonly struct Scaled : IFlag
    {
        public static bool Value => true;
    }

    private readonly struct Unscaled : IFlag
    {
        public static bool Value => false;
    }
}
