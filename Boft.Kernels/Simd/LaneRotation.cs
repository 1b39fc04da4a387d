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

    /// <summary>When input and output together take at least this many bytes, float32 and bfloat16 outputs are written with
    /// non-temporal stores: they cannot stay in a 32 MiB L3 anyway, and a normal store first reads each output line (12 bytes
    /// moved per float32 element instead of 8).</summary>
    private const long StreamingBytes = 32L << 20;

    private static bool SameRows(SimdTensor input, SimdTensor output) => input.ElementType == ElementType.Float32
        ? Unsafe.AreSame(ref input.Data, ref output.Data)
        : input.BitsArray == output.BitsArray && input.BitsOffset == output.BitsOffset;

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
            // K_t of the 8 lanes of vector v at lanes[(v·b + t)·8 + lane]: feature f = 8v + lane is column f mod b of block f / b.
            // Shifts, not divisions (b is 2 or 4): this layout is made on every call, and at one token it is most of the work.
            ReadOnlySpan<float> c = blocks.Span;
            int shift = b == 2 ? 1 : 2;
            for (int f = 0; f < d; f++)
            {
                int column = f & (b - 1), blockStart = (f >> shift) << (2 * shift), target = ((f >> 3) << (shift + 3)) + (f & 7);
                for (int s = 0; s < b; s++)
                {
                    int t = (column + s) & (b - 1); // rotation s brings element t = c + s (mod b) of the block to lane c
                    lanes[target + (s << 3)] = transpose ? c[blockStart + (column << shift) + t] : c[blockStart + (t << shift) + column];
                }
            }
            int featureTiles = (d + TileWidth - 1) / TileWidth, rowBlocks = (rowCount + BlockRows - 1) / BlockRows;
            long rowBytes = (long)rowCount * d * output.ElementType.SizeInBytes();
            bool streaming = output.ElementType != ElementType.Float16 && 2 * rowBytes >= StreamingBytes && !SameRows(input, output);
            SimdParallel.For(rowBlocks * featureTiles, (long)rowCount * d * b, maxDegreeOfParallelism, task =>
            {
                int rowBlock = task / featureTiles, featureTile = task % featureTiles;
                int firstFeature = featureTile * TileWidth, width = Math.Min(TileWidth, d - firstFeature);
                int firstRow = rowBlock * BlockRows, endRow = Math.Min(rowCount, firstRow + BlockRows);
                ref float k = ref lanes[firstFeature * b];
                Tile(input, ref k, b, rowScale, output, d, firstRow, endRow, firstFeature, width, streaming);
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(lanes);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Tile(SimdTensor input, ref float k, int b, SimdTensor? rowScale, SimdTensor output, int d, int firstRow, int endRow, int firstFeature, int width,
        bool streaming)
    {
        ElementType inType = input.ElementType, outType = output.ElementType;
        bool halfIn = inType == ElementType.Float16, halfOut = outType == ElementType.Float16;
        Span<float> stage = halfOut ? Scratch.Get(width) : default;
        // Every tensor reference taken once (the accessors check for disposal and are not inlined).
        ref float inputData = ref inType == ElementType.Float32 ? ref input.Data : ref Unsafe.NullRef<float>();
        ref float outputData = ref outType == ElementType.Float32 ? ref output.Data : ref Unsafe.NullRef<float>();
        ref ushort inputBits = ref inType == ElementType.Float32 ? ref Unsafe.NullRef<ushort>()
            : ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(input.BitsArray), input.BitsOffset);
        ref ushort outputBits = ref outType == ElementType.Float32 ? ref Unsafe.NullRef<ushort>()
            : ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(output.BitsArray), output.BitsOffset);
        ReadOnlySpan<float> scales = rowScale is null ? default : rowScale.Span;
        for (int row = firstRow; row < endRow; row++)
        {
            bool scaled = rowScale is not null;
            float scale = scaled ? scales[row] : 1f;
            nint offset = (nint)row * d + firstFeature;
            for (int f = 0; f < width; f += 16)
            {
                Vector256<float> x0, x1;
                if (halfIn)
                {
                    (Vector256<uint> lower, Vector256<uint> upper) = Vector256.Widen(Vector256.LoadUnsafe(ref Unsafe.Add(ref inputBits, offset + f)));
                    x0 = ElementConversions.WidenFloat16(lower);
                    x1 = ElementConversions.WidenFloat16(upper);
                }
                else if (inType == ElementType.BFloat16)
                {
                    ref ushort bits = ref Unsafe.Add(ref inputBits, offset + f);
                    x0 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref bits)), 16).AsSingle();
                    x1 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref Unsafe.Add(ref bits, 8))), 16).AsSingle();
                }
                else
                {
                    ref float source = ref Unsafe.Add(ref inputData, offset + f);
                    x0 = Vector256.LoadUnsafe(ref source);
                    x1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 8));
                }
                ref float k0 = ref Unsafe.Add(ref k, (nint)f * b);
                Vector256<float> y0 = b == 2 ? Pairs(x0, ref k0) : Quads(x0, ref k0);
                Vector256<float> y1 = b == 2 ? Pairs(x1, ref Unsafe.Add(ref k0, 8 * b)) : Quads(x1, ref Unsafe.Add(ref k0, 8 * b));
                if (scaled)
                {
                    y0 *= Vector256.Create(scale);
                    y1 *= Vector256.Create(scale);
                }
                if (halfOut)
                {
                    y0.StoreUnsafe(ref stage[f]);
                    y1.StoreUnsafe(ref stage[f + 8]);
                }
                else if (outType == ElementType.BFloat16)
                {
                    ref ushort bits = ref Unsafe.Add(ref outputBits, offset + f);
                    Vector256<ushort> packed = Vector256.Narrow(ElementConversions.RoundBFloat16(y0), ElementConversions.RoundBFloat16(y1));
                    if (streaming)
                        Avx.StoreAlignedNonTemporal((ushort*)Unsafe.AsPointer(ref bits), packed); // 32-byte aligned, as below
                    else
                        packed.StoreUnsafe(ref bits);
                }
                else if (streaming)
                {
                    // Aligned: the tensor's first element is 64-byte aligned, d and f are multiples of 16, and the array is pinned.
                    float* destination = (float*)Unsafe.AsPointer(ref Unsafe.Add(ref outputData, offset + f));
                    Avx.StoreAlignedNonTemporal(destination, y0);
                    Avx.StoreAlignedNonTemporal(destination + 8, y1);
                }
                else
                {
                    ref float destination = ref Unsafe.Add(ref outputData, offset + f);
                    y0.StoreUnsafe(ref destination);
                    y1.StoreUnsafe(ref Unsafe.Add(ref destination, 8));
                }
            }
            if (halfOut)
                ElementConversions.Narrow(stage, outType, MemoryMarshal.CreateSpan(ref Unsafe.Add(ref outputBits, offset), width));
        }
    }

    /// <summary>b = 2: four blocks per vector; out = x·K_0 + swap(x)·K_1 (swap exchanges the two lanes of each block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pairs(Vector256<float> x, ref float k) =>
        Fma.MultiplyAdd(Avx.Permute(x, 0xB1), Vector256.LoadUnsafe(ref Unsafe.Add(ref k, 8)), x * Vector256.LoadUnsafe(ref k));

    /// <summary>b = 4: two blocks per vector (one per 128-bit lane); out = Σ_s rotate_s(x)·K_s, where rotate_s moves element
    /// (c + s) mod 4 of each block to lane c (vpermilps 0x39, 0x4E, 0x93; s = 0 needs no shuffle).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Quads(Vector256<float> x, ref float k)
    {
        Vector256<float> y = x * Vector256.LoadUnsafe(ref k);
        y = Fma.MultiplyAdd(Avx.Permute(x, 0x39), Vector256.LoadUnsafe(ref Unsafe.Add(ref k, 8)), y);
        y = Fma.MultiplyAdd(Avx.Permute(x, 0x4E), Vector256.LoadUnsafe(ref Unsafe.Add(ref k, 16)), y);
        return Fma.MultiplyAdd(Avx.Permute(x, 0x93), Vector256.LoadUnsafe(ref Unsafe.Add(ref k, 24)), y);
    }
}
