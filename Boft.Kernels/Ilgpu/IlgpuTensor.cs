// A Boft tensor in ILGPU device memory: the Boft shape over a plain ArrayView, so the same memory can be passed to the
// caller's own ILGPU kernels. float32 tensors hold an ArrayView<float>; bfloat16 and float16 tensors hold their raw bits
// as an ArrayView<ushort> (ILGPU 1.5.3 has no bfloat16 type; a float16 view is also available as ILGPU.Half). Two kinds:
//   owning      IlgpuBackend.Allocate/Upload: a MemoryBuffer1D of its own, zero-filled on the backend's stream (no
//               synchronize), freed by Dispose
//   non-owning  IlgpuBackend.Wrap(view, shape) / Wrap(bits, type, shape) / Wrap(halves, shape): the caller's memory, no copy;
//               Dispose only ends the tensor's use, the caller keeps (and frees) the buffer
// Host copies of 16-bit tensors convert on the host with Boft.Backends.ElementConversions (RNE narrowing, exact widening),
// the conversions every backend shares. Synchronization rules: docs/03_Kernels/pipeline.md.

using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>
/// A tensor of an <see cref="IlgpuBackend"/> (float32, or bfloat16/float16 stored as raw 16-bit bits): either backed by its own
/// ILGPU buffer (<see cref="OwnsMemory"/>), or a non-owning wrapper of the caller's <see cref="ArrayView{T}"/> made by
/// <see cref="IlgpuBackend.Wrap(ArrayView{float}, int[])"/>, <see cref="IlgpuBackend.Wrap(ArrayView{ushort}, ElementType, int[])"/>
/// or <see cref="IlgpuBackend.Wrap(ArrayView{ILGPU.Half}, int[])"/>.
/// </summary>
public sealed class IlgpuTensor : Tensor
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? buffer;
    private readonly MemoryBuffer1D<ushort, Stride1D.Dense>? bitsBuffer;
    private readonly ArrayView<float> view;
    private readonly ArrayView<ushort> bits;

    /// <summary>An owning tensor of <paramref name="elementType"/>: allocates a buffer and enqueues its zero-fill on the backend's stream.</summary>
    internal IlgpuTensor(IlgpuBackend backend, int[] shape, ElementType elementType = ElementType.Float32)
        : base(backend, shape, elementType)
    {
        // ILGPU buffers cannot be empty: an empty tensor keeps a 1-element buffer and exposes a 0-length view of it.
        if (elementType == ElementType.Float32)
        {
            buffer = backend.Accelerator.Allocate1D<float>(Math.Max(1, Length));
            buffer.View.MemSetToZero(backend.Stream);
            view = buffer.View.SubView(0, Length);
        }
        else
        {
            bitsBuffer = backend.Accelerator.Allocate1D<ushort>(Math.Max(1, Length));
            bitsBuffer.View.MemSetToZero(backend.Stream); // +0.0 in both 16-bit types
            bits = bitsBuffer.View.SubView(0, Length);
        }
    }

    /// <summary>A non-owning float32 tensor over <paramref name="memory"/> (its length already checked against the shape).</summary>
    internal IlgpuTensor(IlgpuBackend backend, ArrayView<float> memory, int[] shape)
        : base(backend, shape)
    {
        view = memory;
    }

    /// <summary>A non-owning 16-bit tensor over <paramref name="memory"/> (its length already checked against the shape).</summary>
    internal IlgpuTensor(IlgpuBackend backend, ArrayView<ushort> memory, ElementType elementType, int[] shape)
        : base(backend, shape, elementType)
    {
        bits = memory;
    }

    /// <summary>Whether the tensor owns its memory (made by Allocate or Upload) and frees it on <see cref="Tensor.Dispose()"/>;
    /// false for a tensor that wraps the caller's view.</summary>
    public bool OwnsMemory => buffer is not null || bitsBuffer is not null;

    /// <summary>The elements (row-major) of a float32 tensor, for use in the caller's own ILGPU kernels.</summary>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    /// <exception cref="InvalidOperationException">The tensor is 16-bit (use <see cref="BitsView"/>).</exception>
    public ArrayView<float> View
    {
        get
        {
            ThrowIfDisposed();
            if (ElementType != ElementType.Float32)
                throw new InvalidOperationException($"This tensor ({ShapeString}) is {ElementType}; its elements are in BitsView.");
            return view;
        }
    }

    /// <summary>The raw 16-bit elements (row-major) of a bfloat16 or float16 tensor, for use in the caller's own ILGPU kernels
    /// (bfloat16: the upper 16 bits of a float32; float16: IEEE binary16 bits).</summary>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    /// <exception cref="InvalidOperationException">The tensor is float32 (use <see cref="View"/>).</exception>
    public ArrayView<ushort> BitsView
    {
        get
        {
            ThrowIfDisposed();
            if (ElementType == ElementType.Float32)
                throw new InvalidOperationException($"This tensor ({ShapeString}) is Float32; its elements are in View.");
            return bits;
        }
    }

    /// <summary>The elements of a float16 tensor as <see cref="ILGPU.Half"/> (the same memory as <see cref="BitsView"/>).</summary>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    /// <exception cref="InvalidOperationException">The tensor is not float16.</exception>
    public ArrayView<ILGPU.Half> HalfView
    {
        get
        {
            ThrowIfDisposed();
            if (ElementType != ElementType.Float16)
                throw new InvalidOperationException($"This tensor ({ShapeString}) is {ElementType}; HalfView is for Float16 tensors.");
            return bits.Cast<ILGPU.Half>();
        }
    }

    /// <summary>The underlying ILGPU buffer of an owning float32 tensor (its length is at least 1, also for an empty tensor).</summary>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    /// <exception cref="InvalidOperationException">The tensor wraps the caller's view and has no buffer of its own (use <see cref="View"/>),
    /// or it is 16-bit (use <see cref="BitsView"/>).</exception>
    public MemoryBuffer1D<float, Stride1D.Dense> Buffer
    {
        get
        {
            ThrowIfDisposed();
            if (ElementType != ElementType.Float32)
                throw new InvalidOperationException($"This tensor ({ShapeString}) is {ElementType} and has no float32 buffer; use BitsView.");
            return buffer ?? throw new InvalidOperationException($"This tensor ({ShapeString}) wraps a caller's view and owns no buffer; use View.");
        }
    }

    /// <summary>The float32 view without the disposal check, for the backend's already validated calls.</summary>
    internal ArrayView<float> UncheckedView => view;

    /// <summary>The 16-bit view without the disposal check, for the backend's already validated calls.</summary>
    internal ArrayView<ushort> UncheckedBits => bits;

    /// <inheritdoc />
    protected override void CopyFromCore(ReadOnlySpan<float> source)
    {
        var backend = (IlgpuBackend)Backend;
        if (source.IsEmpty)
            return;
        if (ElementType != ElementType.Float32)
        {
            // Rounded once (RNE) on the host, by the conversion every backend shares; the device then receives the bits.
            ushort[] rented = System.Buffers.ArrayPool<ushort>.Shared.Rent(source.Length);
            try
            {
                Span<ushort> narrow = rented.AsSpan(0, source.Length);
                ElementConversions.Narrow(source, ElementType, narrow);
                CopyBitsFromCore(narrow);
            }
            finally
            {
                System.Buffers.ArrayPool<ushort>.Shared.Return(rented);
            }
            return;
        }
        // Ordered after the work already queued on the stream; the wait keeps the host span's lifetime simple.
        view.CopyFromCPU(backend.Stream, source);
        backend.Stream.Synchronize();
    }

    /// <inheritdoc />
    protected override void CopyToCore(Span<float> destination)
    {
        var backend = (IlgpuBackend)Backend;
        if (destination.IsEmpty)
            return;
        if (ElementType != ElementType.Float32)
        {
            ushort[] rented = System.Buffers.ArrayPool<ushort>.Shared.Rent(destination.Length);
            try
            {
                Span<ushort> narrow = rented.AsSpan(0, destination.Length);
                CopyBitsToCore(narrow);
                ElementConversions.Widen(narrow, ElementType, destination);
            }
            finally
            {
                System.Buffers.ArrayPool<ushort>.Shared.Return(rented);
            }
            return;
        }
        view.CopyToCPU(backend.Stream, destination);
        backend.Stream.Synchronize();
    }

    /// <inheritdoc />
    protected override void CopyBitsFromCore(ReadOnlySpan<ushort> source)
    {
        var backend = (IlgpuBackend)Backend;
        if (source.IsEmpty)
            return;
        bits.CopyFromCPU(backend.Stream, source);
        backend.Stream.Synchronize();
    }

    /// <inheritdoc />
    protected override void CopyBitsToCore(Span<ushort> destination)
    {
        var backend = (IlgpuBackend)Backend;
        if (destination.IsEmpty)
            return;
        bits.CopyToCPU(backend.Stream, destination);
        backend.Stream.Synchronize();
    }

    /// <inheritdoc />
    protected override void DisposeCore()
    {
        buffer?.Dispose();
        bitsBuffer?.Dispose();
    }
}
