// A Boft tensor in ILGPU device memory: the Boft shape over a plain ArrayView<float>, so the same memory can be passed to
// the caller's own ILGPU kernels. Two kinds:
//   owning      IlgpuBackend.Allocate/Upload: a MemoryBuffer1D of its own, zero-filled on the backend's stream (no
//               synchronize), freed by Dispose
//   non-owning  IlgpuBackend.Wrap(view, shape): the caller's memory, no copy; Dispose only ends the tensor's use, the caller
//               keeps (and frees) the buffer
// Synchronization rules: docs/03_Kernels/pipeline.md.

using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>
/// A float32 tensor of an <see cref="IlgpuBackend"/>: either backed by its own ILGPU buffer (<see cref="OwnsMemory"/>), or a
/// non-owning wrapper of the caller's <see cref="ArrayView{T}"/> made by <see cref="IlgpuBackend.Wrap(ArrayView{float}, int[])"/>.
/// </summary>
public sealed class IlgpuTensor : Tensor
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? buffer;
    private readonly ArrayView<float> view;

    /// <summary>An owning tensor: allocates a buffer and enqueues its zero-fill on the backend's stream.</summary>
    internal IlgpuTensor(IlgpuBackend backend, int[] shape)
        : base(backend, shape)
    {
        // ILGPU buffers cannot be empty: an empty tensor keeps a 1-element buffer and exposes a 0-length view of it.
        buffer = backend.Accelerator.Allocate1D<float>(Math.Max(1, Length));
        buffer.View.MemSetToZero(backend.Stream);
        view = buffer.View.SubView(0, Length);
    }

    /// <summary>A non-owning tensor over <paramref name="memory"/> (its length already checked against the shape).</summary>
    internal IlgpuTensor(IlgpuBackend backend, ArrayView<float> memory, int[] shape)
        : base(backend, shape)
    {
        view = memory;
    }

    /// <summary>Whether the tensor owns its memory (made by Allocate or Upload) and frees it on <see cref="Tensor.Dispose()"/>;
    /// false for a tensor that wraps the caller's view.</summary>
    public bool OwnsMemory => buffer is not null;

    /// <summary>The tensor's elements (row-major), for use in the caller's own ILGPU kernels.</summary>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    public ArrayView<float> View
    {
        get
        {
            ThrowIfDisposed();
            return view;
        }
    }

    /// <summary>The underlying ILGPU buffer of an owning tensor (its length is at least 1, also for an empty tensor).</summary>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    /// <exception cref="InvalidOperationException">The tensor wraps the caller's view and has no buffer of its own (use <see cref="View"/>).</exception>
    public MemoryBuffer1D<float, Stride1D.Dense> Buffer
    {
        get
        {
            ThrowIfDisposed();
            return buffer ?? throw new InvalidOperationException($"This tensor ({ShapeString}) wraps a caller's view and owns no buffer; use View.");
        }
    }

    /// <summary>The view without the disposal check, for the backend's already validated calls.</summary>
    internal ArrayView<float> UncheckedView => view;

    /// <inheritdoc />
    protected override void CopyFromCore(ReadOnlySpan<float> source)
    {
        var backend = (IlgpuBackend)Backend;
        if (source.IsEmpty)
            return;
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
        view.CopyToCPU(backend.Stream, destination);
        backend.Stream.Synchronize();
    }

    /// <inheritdoc />
    protected override void DisposeCore() => buffer?.Dispose();
}
