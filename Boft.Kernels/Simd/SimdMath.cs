// The vector abstraction every SIMD kernel is written against, once: a kernel is a generic method
// Kernel<TSimd, TVector>(...) where TSimd : struct, ISimd<TVector>; the JIT compiles one specialisation per width and
// inlines every TSimd.* call, so the generic code is as fast as hand-written Vector512 code (checked with JitDisasm:
// vbroadcastss + vfmadd231ps zmm in the rotation kernel, with no calls or spills).
// Widths: Vector512 (16 lanes), Vector256 (8), Vector128 (4). See docs/02_Ops/simd-backend.md.

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Boft.Kernels.Simd;

/// <summary>The vector width the SIMD backend computes with.</summary>
public enum SimdWidth
{
    /// <summary>128-bit vectors (4 floats): SSE / ARM AdvSIMD.</summary>
    Vector128 = 128,

    /// <summary>256-bit vectors (8 floats): AVX2.</summary>
    Vector256 = 256,

    /// <summary>512-bit vectors (16 floats): AVX-512.</summary>
    Vector512 = 512,
}

/// <summary>Static vector operations of one width (implemented by zero-size structs; see the file header).</summary>
/// <typeparam name="TV">The vector type.</typeparam>
internal interface ISimd<TV>
    where TV : struct
{
    /// <summary>Lanes per vector.</summary>
    static abstract int Count { get; }

    /// <summary>All lanes zero.</summary>
    static abstract TV Zero { get; }

    static abstract TV Create(float value);

    static abstract TV Load(ref float source);

    static abstract void Store(TV value, ref float destination);

    /// <summary><c>a·b + addend</c>, fused where the hardware has FMA.</summary>
    static abstract TV Fma(TV a, TV b, TV addend);

    static abstract TV Add(TV a, TV b);

    static abstract TV Subtract(TV a, TV b);

    static abstract TV Multiply(TV a, TV b);

    static abstract TV Divide(TV a, TV b);

    static abstract TV Max(TV a, TV b);

    /// <summary>Lanes where <paramref name="condition"/> &gt; 0 take <paramref name="value"/>, others 0.</summary>
    static abstract TV WherePositive(TV condition, TV value);

    static abstract TV Sqrt(TV a);

    static abstract float Sum(TV a);

    /// <summary>[Σa, Σb, Σc, Σd]: four horizontal sums with shared shuffles (≈ 3 instructions per sum instead of ≈ 8).</summary>
    static abstract Vector128<float> Sum4(TV a, TV b, TV c, TV d);

    /// <summary>Transposes a Count×Count tile: <c>destination[c·destinationStride + r] = source[r·sourceStride + c]</c>, each
    /// destination row written with <typeparamref name="TStore"/>'s stores (<see cref="StreamingStore"/>: every destination
    /// row must start on a Count × 4-byte boundary, which the caller checks with <see cref="StreamingStores.Aligned"/>).</summary>
    static abstract void Transpose<TStore>(ref float source, nint sourceStride, ref float destination, nint destinationStride)
        where TStore : struct, IRowStore;
}

/// <summary>How a kernel writes its output vectors: plain stores, or non-temporal ones (aligned; see <see cref="StreamingStores"/>).
/// The type tests fold away when the JIT specialises a kernel for one vector type.</summary>
internal interface IRowStore
{
    static abstract void Store<TV>(TV value, ref float destination)
        where TV : struct;
}

/// <summary>Plain stores: the rows stay in the cache.</summary>
internal readonly struct CachedStore : IRowStore
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store<TV>(TV value, ref float destination)
        where TV : struct
    {
        if (typeof(TV) == typeof(Vector512<float>))
            Unsafe.As<TV, Vector512<float>>(ref value).StoreUnsafe(ref destination);
        else if (typeof(TV) == typeof(Vector256<float>))
            Unsafe.As<TV, Vector256<float>>(ref value).StoreUnsafe(ref destination);
        else
            Unsafe.As<TV, Vector128<float>>(ref value).StoreUnsafe(ref destination);
    }
}

/// <summary>Non-temporal stores: whole lines go to memory without first being read (destination aligned to the vector;
/// 128-bit vectors are stored plainly).</summary>
internal readonly struct StreamingStore : IRowStore
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Store<TV>(TV value, ref float destination)
        where TV : struct
    {
        if (typeof(TV) == typeof(Vector512<float>) && Avx512F.IsSupported)
            Avx512F.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref destination), Unsafe.As<TV, Vector512<float>>(ref value));
        else if (typeof(TV) == typeof(Vector256<float>) && Avx.IsSupported)
            Avx.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref destination), Unsafe.As<TV, Vector256<float>>(ref value));
        else
            CachedStore.Store(value, ref destination);
    }
}

/// <summary>512-bit vectors.</summary>
internal readonly struct Simd512 : ISimd<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;

    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Create(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source) => Vector512.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> addend) => Vector512.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> WherePositive(Vector512<float> condition, Vector512<float> value) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(condition, Vector512<float>.Zero), value, Vector512<float>.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sqrt(Vector512<float> a) => Vector512.Sqrt(a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> a) => Vector256.Sum(a.GetLower() + a.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        if (!Avx512F.IsSupported)
            return Vector128.Create(Sum(a), Sum(b), Sum(c), Sum(d));
        // Per 128-bit lane: ab = [a0+a2, b0+b2, a1+a3, b1+b3], then [Σa, Σb, Σc, Σd] of the lane; then add the four lanes.
        Vector512<float> ab = Avx512F.UnpackLow(a, b) + Avx512F.UnpackHigh(a, b);
        Vector512<float> cd = Avx512F.UnpackLow(c, d) + Avx512F.UnpackHigh(c, d);
        Vector512<float> lanes = Avx512F.Shuffle(ab, cd, 0x44) + Avx512F.Shuffle(ab, cd, 0xEE);
        Vector256<float> half = lanes.GetLower() + lanes.GetUpper();
        return half.GetLower() + half.GetUpper();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose<TStore>(ref float source, nint sourceStride, ref float destination, nint destinationStride)
        where TStore : struct, IRowStore
    {
        if (!Avx512F.IsSupported)
        {
            ScalarTranspose.Tile(ref source, sourceStride, ref destination, destinationStride, 16);
            return;
        }
        // Stage 1: interleave pairs of rows (unpcklps/unpckhps), 2: 64-bit pairs (shufps), 3 and 4: 128-bit lanes (shuff32x4).
        Vector512<float> r0 = Vector512.LoadUnsafe(ref source);
        Vector512<float> r1 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, sourceStride));
        Vector512<float> r2 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 2 * sourceStride));
        Vector512<float> r3 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 3 * sourceStride));
        Vector512<float> r4 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 4 * sourceStride));
        Vector512<float> r5 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 5 * sourceStride));
        Vector512<float> r6 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 6 * sourceStride));
        Vector512<float> r7 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 7 * sourceStride));
        Vector512<float> r8 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 8 * sourceStride));
        Vector512<float> r9 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 9 * sourceStride));
        Vector512<float> r10 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 10 * sourceStride));
        Vector512<float> r11 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 11 * sourceStride));
        Vector512<float> r12 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 12 * sourceStride));
        Vector512<float> r13 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 13 * sourceStride));
        Vector512<float> r14 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 14 * sourceStride));
        Vector512<float> r15 = Vector512.LoadUnsafe(ref Unsafe.Add(ref source, 15 * sourceStride));

        Vector512<float> t0 = Avx512F.UnpackLow(r0, r1), t1 = Avx512F.UnpackHigh(r0, r1);
        Vector512<float> t2 = Avx512F.UnpackLow(r2, r3), t3 = Avx512F.UnpackHigh(r2, r3);
        Vector512<float> t4 = Avx512F.UnpackLow(r4, r5), t5 = Avx512F.UnpackHigh(r4, r5);
        Vector512<float> t6 = Avx512F.UnpackLow(r6, r7), t7 = Avx512F.UnpackHigh(r6, r7);
        Vector512<float> t8 = Avx512F.UnpackLow(r8, r9), t9 = Avx512F.UnpackHigh(r8, r9);
        Vector512<float> t10 = Avx512F.UnpackLow(r10, r11), t11 = Avx512F.UnpackHigh(r10, r11);
        Vector512<float> t12 = Avx512F.UnpackLow(r12, r13), t13 = Avx512F.UnpackHigh(r12, r13);
        Vector512<float> t14 = Avx512F.UnpackLow(r14, r15), t15 = Avx512F.UnpackHigh(r14, r15);

        r0 = Avx512F.Shuffle(t0, t2, 0x44); r1 = Avx512F.Shuffle(t0, t2, 0xEE);
        r2 = Avx512F.Shuffle(t1, t3, 0x44); r3 = Avx512F.Shuffle(t1, t3, 0xEE);
        r4 = Avx512F.Shuffle(t4, t6, 0x44); r5 = Avx512F.Shuffle(t4, t6, 0xEE);
        r6 = Avx512F.Shuffle(t5, t7, 0x44); r7 = Avx512F.Shuffle(t5, t7, 0xEE);
        r8 = Avx512F.Shuffle(t8, t10, 0x44); r9 = Avx512F.Shuffle(t8, t10, 0xEE);
        r10 = Avx512F.Shuffle(t9, t11, 0x44); r11 = Avx512F.Shuffle(t9, t11, 0xEE);
        r12 = Avx512F.Shuffle(t12, t14, 0x44); r13 = Avx512F.Shuffle(t12, t14, 0xEE);
        r14 = Avx512F.Shuffle(t13, t15, 0x44); r15 = Avx512F.Shuffle(t13, t15, 0xEE);

        // Each 128-bit lane of r0..r15 now holds 4 consecutive elements of a column; gather the lanes.
        t0 = Avx512F.Shuffle4x128(r0, r4, 0x88); t1 = Avx512F.Shuffle4x128(r1, r5, 0x88);
        t2 = Avx512F.Shuffle4x128(r2, r6, 0x88); t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
        t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD); t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD);
        t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD); t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
        t8 = Avx512F.Shuffle4x128(r8, r12, 0x88); t9 = Avx512F.Shuffle4x128(r9, r13, 0x88);
        t10 = Avx512F.Shuffle4x128(r10, r14, 0x88); t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
        t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD); t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD);
        t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD); t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);

        TStore.Store(Avx512F.Shuffle4x128(t0, t8, 0x88), ref destination);
        TStore.Store(Avx512F.Shuffle4x128(t1, t9, 0x88), ref Unsafe.Add(ref destination, destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t2, t10, 0x88), ref Unsafe.Add(ref destination, 2 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t3, t11, 0x88), ref Unsafe.Add(ref destination, 3 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t4, t12, 0x88), ref Unsafe.Add(ref destination, 4 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t5, t13, 0x88), ref Unsafe.Add(ref destination, 5 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t6, t14, 0x88), ref Unsafe.Add(ref destination, 6 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t7, t15, 0x88), ref Unsafe.Add(ref destination, 7 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t0, t8, 0xDD), ref Unsafe.Add(ref destination, 8 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t1, t9, 0xDD), ref Unsafe.Add(ref destination, 9 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t2, t10, 0xDD), ref Unsafe.Add(ref destination, 10 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t3, t11, 0xDD), ref Unsafe.Add(ref destination, 11 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t4, t12, 0xDD), ref Unsafe.Add(ref destination, 12 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t5, t13, 0xDD), ref Unsafe.Add(ref destination, 13 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t6, t14, 0xDD), ref Unsafe.Add(ref destination, 14 * destinationStride));
        TStore.Store(Avx512F.Shuffle4x128(t7, t15, 0xDD), ref Unsafe.Add(ref destination, 15 * destinationStride));
    }
}

/// <summary>256-bit vectors.</summary>
internal readonly struct Simd256 : ISimd<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;

    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Create(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source) => Vector256.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> addend) => Vector256.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> WherePositive(Vector256<float> condition, Vector256<float> value) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(condition, Vector256<float>.Zero), value, Vector256<float>.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sqrt(Vector256<float> a) => Vector256.Sqrt(a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> a) => Vector128.Sum(a.GetLower() + a.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        if (!Avx.IsSupported)
            return Vector128.Create(Sum(a), Sum(b), Sum(c), Sum(d));
        Vector256<float> ab = Avx.UnpackLow(a, b) + Avx.UnpackHigh(a, b);
        Vector256<float> cd = Avx.UnpackLow(c, d) + Avx.UnpackHigh(c, d);
        Vector256<float> lanes = Avx.Shuffle(ab, cd, 0x44) + Avx.Shuffle(ab, cd, 0xEE);
        return lanes.GetLower() + lanes.GetUpper();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose<TStore>(ref float source, nint sourceStride, ref float destination, nint destinationStride)
        where TStore : struct, IRowStore
    {
        if (!Avx.IsSupported)
        {
            ScalarTranspose.Tile(ref source, sourceStride, ref destination, destinationStride, 8);
            return;
        }
        Vector256<float> r0 = Vector256.LoadUnsafe(ref source);
        Vector256<float> r1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, sourceStride));
        Vector256<float> r2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 2 * sourceStride));
        Vector256<float> r3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 3 * sourceStride));
        Vector256<float> r4 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 4 * sourceStride));
        Vector256<float> r5 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 5 * sourceStride));
        Vector256<float> r6 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 6 * sourceStride));
        Vector256<float> r7 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 7 * sourceStride));
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        r0 = Avx.Shuffle(t0, t2, 0x44); r1 = Avx.Shuffle(t0, t2, 0xEE);
        r2 = Avx.Shuffle(t1, t3, 0x44); r3 = Avx.Shuffle(t1, t3, 0xEE);
        r4 = Avx.Shuffle(t4, t6, 0x44); r5 = Avx.Shuffle(t4, t6, 0xEE);
        r6 = Avx.Shuffle(t5, t7, 0x44); r7 = Avx.Shuffle(t5, t7, 0xEE);
        TStore.Store(Avx.Permute2x128(r0, r4, 0x20), ref destination);
        TStore.Store(Avx.Permute2x128(r1, r5, 0x20), ref Unsafe.Add(ref destination, destinationStride));
        TStore.Store(Avx.Permute2x128(r2, r6, 0x20), ref Unsafe.Add(ref destination, 2 * destinationStride));
        TStore.Store(Avx.Permute2x128(r3, r7, 0x20), ref Unsafe.Add(ref destination, 3 * destinationStride));
        TStore.Store(Avx.Permute2x128(r0, r4, 0x31), ref Unsafe.Add(ref destination, 4 * destinationStride));
        TStore.Store(Avx.Permute2x128(r1, r5, 0x31), ref Unsafe.Add(ref destination, 5 * destinationStride));
        TStore.Store(Avx.Permute2x128(r2, r6, 0x31), ref Unsafe.Add(ref destination, 6 * destinationStride));
        TStore.Store(Avx.Permute2x128(r3, r7, 0x31), ref Unsafe.Add(ref destination, 7 * destinationStride));
    }
}

/// <summary>128-bit vectors (SSE or ARM AdvSIMD; also the portable fallback).</summary>
internal readonly struct Simd128 : ISimd<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;

    public static Vector128<float> Zero => Vector128<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Create(float value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(ref float source) => Vector128.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> addend) => Vector128.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Divide(Vector128<float> a, Vector128<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) => Vector128.Max(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> WherePositive(Vector128<float> condition, Vector128<float> value) =>
        Vector128.ConditionalSelect(Vector128.GreaterThan(condition, Vector128<float>.Zero), value, Vector128<float>.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sqrt(Vector128<float> a) => Vector128.Sqrt(a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> a) => Vector128.Sum(a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d)
    {
        if (!Sse.IsSupported)
            return Vector128.Create(Sum(a), Sum(b), Sum(c), Sum(d));
        Vector128<float> ab = Sse.UnpackLow(a, b) + Sse.UnpackHigh(a, b);
        Vector128<float> cd = Sse.UnpackLow(c, d) + Sse.UnpackHigh(c, d);
        return Sse.Shuffle(ab, cd, 0x44) + Sse.Shuffle(ab, cd, 0xEE);
    }

    /// <summary>Scalar at 128 bits, plain stores whatever <typeparamref name="TStore"/>.</summary>
    public static void Transpose<TStore>(ref float source, nint sourceStride, ref float destination, nint destinationStride)
        where TStore : struct, IRowStore =>
        ScalarTranspose.Tile(ref source, sourceStride, ref destination, destinationStride, 4);
}

/// <summary>Scalar transposes for tile edges and for hardware without the shuffle instructions.</summary>
internal static class ScalarTranspose
{
    /// <summary>Transposes a size×size tile element by element.</summary>
    public static void Tile(ref float source, nint sourceStride, ref float destination, nint destinationStride, int size) =>
        Rectangle(ref source, sourceStride, ref destination, destinationStride, size, size);

    /// <summary><c>destination[c·destinationStride + r] = source[r·sourceStride + c]</c> for r &lt; rowCount, c &lt; columnCount.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rectangle(ref float source, nint sourceStride, ref float destination, nint destinationStride, int rowCount, int columnCount)
    {
        for (int r = 0; r < rowCount; r++)
        {
            ref float row = ref Unsafe.Add(ref source, r * sourceStride);
            for (int c = 0; c < columnCount; c++)
                Unsafe.Add(ref destination, c * destinationStride + r) = Unsafe.Add(ref row, c);
        }
    }
}

/// <summary>Transposes whole matrices with the width's tile transpose and scalar edges.</summary>
internal static class Transposer
{
    /// <summary>
    /// <c>destination[c·destinationStride + r] = source[r·sourceStride + c]</c> for r &lt; rowCount, c &lt; columnCount.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose<TS, TV>(ref float source, nint sourceStride, ref float destination, nint destinationStride, int rowCount, int columnCount)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        int fullRows = rowCount - rowCount % v, fullColumns = columnCount - columnCount % v;
        for (int r = 0; r < fullRows; r += v)
        {
            for (int c = 0; c < fullColumns; c += v)
                TS.Transpose<CachedStore>(ref Unsafe.Add(ref source, r * sourceStride + c), sourceStride, ref Unsafe.Add(ref destination, c * destinationStride + r), destinationStride);
            if (fullColumns < columnCount)
                ScalarTranspose.Rectangle(ref Unsafe.Add(ref source, r * sourceStride + fullColumns), sourceStride,
                    ref Unsafe.Add(ref destination, fullColumns * destinationStride + r), destinationStride, v, columnCount - fullColumns);
        }
        if (fullRows < rowCount)
            ScalarTranspose.Rectangle(ref Unsafe.Add(ref source, fullRows * sourceStride), sourceStride,
                ref Unsafe.Add(ref destination, fullRows), destinationStride, rowCount - fullRows, columnCount);
    }

    /// <summary>
    /// The same transpose with the destination's row groups outer: each inner loop writes only Count destination rows
    /// (Count pages when the destination stride is 4 KiB or more) instead of every destination row, which thrashed the
    /// 64-entry L1 data TLB when a rotation tile (128 rows) was written back to rows of d ≥ 1024 floats. With
    /// <c>streaming</c> whole tiles are written with non-temporal stores (<see cref="StreamingStores"/>) where the destination
    /// rows are vector-aligned; edges and unaligned rows are written with plain stores.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TransposeToRows<TS, TV>(ref float source, nint sourceStride, ref float destination, nint destinationStride, int rowCount, int columnCount,
        bool streaming = false)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count;
        int fullRows = rowCount - rowCount % v, fullColumns = columnCount - columnCount % v;
        if (fullRows < rowCount)
        {
            Transpose<TS, TV>(ref source, sourceStride, ref destination, destinationStride, rowCount, columnCount);
            return;
        }
        if (streaming && StreamingStores.Aligned(ref destination, destinationStride, v))
        {
            WholeTilesToRows<TS, TV, StreamingStore>(ref source, sourceStride, ref destination, destinationStride, fullRows, fullColumns);
            StreamingStores.Fence();
        }
        else
        {
            WholeTilesToRows<TS, TV, CachedStore>(ref source, sourceStride, ref destination, destinationStride, fullRows, fullColumns);
        }
        if (fullColumns < columnCount)
            ScalarTranspose.Rectangle(ref Unsafe.Add(ref source, fullColumns), sourceStride,
                ref Unsafe.Add(ref destination, fullColumns * destinationStride), destinationStride, rowCount, columnCount - fullColumns);
    }

    /// <summary>The whole Count×Count tiles of <see cref="TransposeToRows{TS, TV}"/>, destination row groups outer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WholeTilesToRows<TS, TV, TStore>(ref float source, nint sourceStride, ref float destination, nint destinationStride, int rowCount, int columnCount)
        where TS : struct, ISimd<TV>
        where TV : struct
        where TStore : struct, IRowStore
    {
        int v = TS.Count;
        for (int c = 0; c < columnCount; c += v)
            for (int r = 0; r < rowCount; r += v)
                TS.Transpose<TStore>(ref Unsafe.Add(ref source, r * sourceStride + c), sourceStride, ref Unsafe.Add(ref destination, c * destinationStride + r), destinationStride);
    }
}
