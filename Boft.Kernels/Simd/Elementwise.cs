// Element-wise ops and utilities: Fill, Scale, Copy, SumOfSquares, ReLU forward and backward, and the small vector loops
// other kernels share. Shapes: any (flat). Gradient semantics: ReluBackward OVERWRITES gradInput (=).
// Large tensors are split into fixed slices (boundaries depend on the length only) and run in parallel; SumOfSquares
// accumulates each slice in double and adds the slice sums in slice order, so it is deterministic.

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Boft.Kernels.Simd;

/// <summary>Element-wise kernels.</summary>
internal static class Elementwise
{
    /// <summary>Elements per parallel slice: large enough that a slice costs more than handing it to a thread.</summary>
    public const int SliceLength = 1 << 15;

    /// <summary><c>x[i] *= factor</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScaleInPlace<TS, TV>(ref float x, int length, float factor)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count, i = 0;
        TV f = TS.Create(factor);
        for (; i + v <= length; i += v)
            TS.Store(TS.Multiply(TS.Load(ref Unsafe.Add(ref x, i)), f), ref Unsafe.Add(ref x, i));
        for (; i < length; i++)
            Unsafe.Add(ref x, i) *= factor;
    }

    /// <summary><c>destination[i] += source[i]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddInPlace<TS, TV>(ref float source, ref float destination, int length)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count, i = 0;
        for (; i + v <= length; i += v)
            TS.Store(TS.Add(TS.Load(ref Unsafe.Add(ref destination, i)), TS.Load(ref Unsafe.Add(ref source, i))), ref Unsafe.Add(ref destination, i));
        for (; i < length; i++)
            Unsafe.Add(ref destination, i) += Unsafe.Add(ref source, i);
    }

    /// <summary>
    /// <c>destination[offset …] = Σ_chunk partials[chunk]</c> over <paramref name="chunkCount"/> chunks of
    /// <paramref name="length"/> floats, added in chunk order (deterministic), in parallel over fixed slices of the length.
    /// The destination may be chunk 0 itself (<paramref name="destination"/> = <paramref name="partials"/>, offset 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SumChunks<TS, TV>(float[] partials, int chunkCount, int length, float[] destination, int offset, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        (int sliceLength, int sliceCount) = SimdParallel.Chunks(length, 4096, 64, TS.Count);
        SimdParallel.For(sliceCount, (long)length * chunkCount, maxDegreeOfParallelism, slice =>
        {
            int start = slice * sliceLength, count = Math.Min(sliceLength, length - start);
            Span<float> target = destination.AsSpan(offset + start, count);
            partials.AsSpan(start, count).CopyTo(target);
            for (int chunk = 1; chunk < chunkCount; chunk++)
                AddInPlace<TS, TV>(ref partials[chunk * length + start], ref MemoryMarshal.GetReference(target), count);
        });
    }

    /// <summary>Runs <paramref name="body"/>(start, count) over fixed slices of <paramref name="length"/> elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ForSlices(int length, int maxDegreeOfParallelism, Action<int, int> body)
    {
        int slices = (length + SliceLength - 1) / SliceLength;
        SimdParallel.For(slices, length, maxDegreeOfParallelism, s =>
        {
            int start = s * SliceLength;
            body(start, Math.Min(SliceLength, length - start));
        });
    }

    public static void Fill(SimdTensor tensor, float value, int maxDegreeOfParallelism) =>
        ForSlices(tensor.Length, maxDegreeOfParallelism, (start, count) => tensor.Span.Slice(start, count).Fill(value));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scale<TS, TV>(SimdTensor tensor, float factor, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct =>
        ForSlices(tensor.Length, maxDegreeOfParallelism, (start, count) => ScaleInPlace<TS, TV>(ref Unsafe.Add(ref tensor.Data, start), count, factor));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Copy(SimdTensor source, SimdTensor destination, int maxDegreeOfParallelism)
    {
        if (ReferenceEquals(source, destination))
            return;
        ForSlices(source.Length, maxDegreeOfParallelism, (start, count) => source.Span.Slice(start, count).CopyTo(destination.Span.Slice(start, count)));
    }

    /// <summary>Σ x² in double: float products widened and summed per slice, slices summed in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double SumOfSquares(SimdTensor tensor, int maxDegreeOfParallelism)
    {
        int length = tensor.Length;
        int slices = (length + SliceLength - 1) / SliceLength;
        var sums = new double[Math.Max(slices, 1)];
        ForSlices(length, maxDegreeOfParallelism, (start, count) => sums[start / SliceLength] = SumOfSquaresSlice(tensor.Span.Slice(start, count)));
        double total = 0;
        foreach (double s in sums)
            total += s;
        return total;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double SumOfSquaresSlice(ReadOnlySpan<float> values)
    {
        // Four double accumulators over 4-lane widened vectors: exact products (float² fits a double), rounding only in the sums.
        System.Runtime.Intrinsics.Vector256<double> a0 = default, a1 = default;
        ref float x = ref MemoryMarshal.GetReference(values);
        int i = 0;
        for (; i + 8 <= values.Length; i += 8)
        {
            var v = System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref Unsafe.Add(ref x, i));
            (var lo, var hi) = System.Runtime.Intrinsics.Vector256.Widen(v);
            a0 += lo * lo;
            a1 += hi * hi;
        }
        double sum = System.Runtime.Intrinsics.Vector256.Sum(a0 + a1);
        for (; i < values.Length; i++)
            sum += (double)Unsafe.Add(ref x, i) * Unsafe.Add(ref x, i);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Relu<TS, TV>(SimdTensor input, SimdTensor output, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct =>
        ForSlices(input.Length, maxDegreeOfParallelism, (start, count) =>
        {
            ref float x = ref Unsafe.Add(ref input.Data, start);
            ref float y = ref Unsafe.Add(ref output.Data, start);
            int v = TS.Count, i = 0;
            for (; i + v <= count; i += v)
                TS.Store(TS.Max(TS.Load(ref Unsafe.Add(ref x, i)), TS.Zero), ref Unsafe.Add(ref y, i));
            for (; i < count; i++)
            {
                Unsafe.Add(ref y, i) = MathF.Max(Unsafe.Add(ref x, i), 0); // same NaN rule as the vector Max
            }
        });

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ReluBackward<TS, TV>(SimdTensor input, SimdTensor gradOutput, SimdTensor gradInput, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct =>
        ForSlices(input.Length, maxDegreeOfParallelism, (start, count) =>
        {
            ref float x = ref Unsafe.Add(ref input.Data, start);
            ref float g = ref Unsafe.Add(ref gradOutput.Data, start);
            ref float o = ref Unsafe.Add(ref gradInput.Data, start);
            int v = TS.Count, i = 0;
            for (; i + v <= count; i += v)
                TS.Store(TS.WherePositive(TS.Load(ref Unsafe.Add(ref x, i)), TS.Load(ref Unsafe.Add(ref g, i))), ref Unsafe.Add(ref o, i));
            for (; i < count; i++)
                Unsafe.Add(ref o, i) = Unsafe.Add(ref x, i) > 0 ? Unsafe.Add(ref g, i) : 0;
        });
}
