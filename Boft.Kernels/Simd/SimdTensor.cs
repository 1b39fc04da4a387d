// The SIMD backend's tensor: a pinned managed float[] whose first element is 64-byte aligned (so the row tiles the
// kernels load start on cache-line boundaries when the feature count is a multiple of 16). The GC owns the memory, so a
// tensor that is never disposed leaks nothing; Dispose marks it unusable and drops the array.

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Boft.Backends;

namespace Boft.Kernels.Simd;

/// <summary>A tensor in host memory owned by a <see cref="SimdBackend"/>: float32 in a float array, 16-bit types as raw bits.</summary>
public sealed class SimdTensor : Tensor
{
    private float[]? array;
    private ushort[]? bits;
    private readonly int offset;
    private readonly int bitsOffset;

    internal SimdTensor(SimdBackend backend, int[] shape)
        : this(backend, shape, ElementType.Float32)
    {
    }

    internal SimdTensor(SimdBackend backend, int[] shape, ElementType elementType)
        : base(backend, shape, elementType)
    {
        if (elementType == ElementType.Float32)
        {
            array = GC.AllocateArray<float>(Length + 16, pinned: true);
            offset = AlignmentOffset(array);
        }
        else
        {
            // 64-byte aligned too: row tiles of 32 elements then own whole cache lines, so two threads writing neighbouring
            // tiles never share a line (unaligned, the bf16 rotation ran slower on 2 threads than on 1).
            bits = GC.AllocateArray<ushort>(Length + 32, pinned: true);
            bitsOffset = AlignmentOffset(bits);
        }
    }

    /// <summary>The raw 16-bit elements (row-major) of a 16-bit tensor. Valid until the tensor is disposed.</summary>
    internal Span<ushort> Bits => BitsArray.AsSpan(bitsOffset, Length);

    /// <summary>The array behind <see cref="Bits"/> (the tensor starts at <see cref="BitsOffset"/>).</summary>
    internal ushort[] BitsArray => bits ?? throw new ObjectDisposedException(nameof(SimdTensor));

    /// <summary>Index of the first element in <see cref="BitsArray"/>.</summary>
    internal int BitsOffset => bitsOffset;

    /// <summary>The elements (row-major). Valid until the tensor is disposed.</summary>
    internal Span<float> Span => Array.AsSpan(offset, Length);

    /// <summary>The backing array (the tensor starts at <see cref="Offset"/>).</summary>
    internal float[] Array => array ?? throw new ObjectDisposedException(nameof(SimdTensor));

    /// <summary>Index of the first element in <see cref="Array"/>.</summary>
    internal int Offset => offset;

    /// <summary>A reference to the first element.</summary>
    internal ref float Data => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Array), offset);

    /// <inheritdoc />
    protected override void CopyFromCore(ReadOnlySpan<float> source)
    {
        if (ElementType == ElementType.Float32)
            source.CopyTo(Span);
        else
            ElementConversions.Narrow(source, ElementType, Bits);
    }

    /// <inheritdoc />
    protected override void CopyToCore(Span<float> destination)
    {
        if (ElementType == ElementType.Float32)
            Span.CopyTo(destination);
        else
            ElementConversions.Widen(Bits, ElementType, destination);
    }

    /// <inheritdoc />
    protected override void CopyBitsFromCore(ReadOnlySpan<ushort> source) => source.CopyTo(Bits);

    /// <inheritdoc />
    protected override void CopyBitsToCore(Span<ushort> destination) => Bits.CopyTo(destination);

    /// <inheritdoc />
    protected override void DisposeCore()
    {
        array = null;
        bits = null;
    }

    /// <summary>Elements from the start of a pinned array to its first 64-byte boundary (the SIMD tensors', the per-thread
    /// scratch's and the rotation profile's buffers all start there).</summary>
    internal static unsafe int AlignmentOffset<T>(T[] values)
        where T : unmanaged
    {
        nuint address = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(values));
        return (int)((64 - (address % 64)) % 64 / (nuint)sizeof(T));
    }
}
