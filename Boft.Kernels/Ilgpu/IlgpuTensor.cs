// A Boft tensor in ILGPU device memory: a MemoryBuffer1D<float, Stride1D.Dense> plus the Boft shape. Its View is a plain
// ArrayView<float>, so the same memory can be passed to the caller's own ILGPU kernels.

using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>A float32 tensor owned by an <see cref="IlgpuBackend"/>, backed by one ILGPU buffer.</summary>
public sealed class IlgpuTensor : Tensor
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> buffer;

    internal IlgpuTensor(IlgpuBackend backend, int[] shape)
        : base(backend, shape)
    {
        // ILGPU buffers cannot be empty: an empty tensor keeps a 1-element buffer and exposes a 0-length view of it.
        buffer = backend.Accelerator.Allocate1D<float>(Math.Max(1, Length));
        buffer.View.MemSetToZero(backend.Stream);
        backend.Stream.Synchronize();
    }

    /// <summary>The tensor's elements (row-major), for use in the caller's own ILGPU kernels.</summary>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    public ArrayView<float> View
    {
        get
        {
            ThrowIfDisposed();
            return buffer.View.SubView(0, Length);
        }
    }

    /// <summary>The underlying ILGPU buffer (its length is at least 1, also for an empty tensor).</summary>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    public MemoryBuffer1D<float, Stride1D.Dense> Buffer
    {
        get
        {
            ThrowIfDisposed();
            return buffer;
        }
    }

    /// <summary>The view without the disposal check, for the backend's already validated calls.</summary>
    internal ArrayView<float> UncheckedView => buffer.View.SubView(0, Length);

    /// <inheritdoc />
    protected override void CopyFromCore(ReadOnlySpan<float> source)
    {
        var backend = (IlgpuBackend)Backend;
        if (source.IsEmpty)
            return;
        UncheckedView.CopyFromCPU(backend.Stream, source);
        backend.Stream.Synchronize();
    }

    /// <inheritdoc />
    protected override void CopyToCore(Span<float> destination)
    {
        var backend = (IlgpuBackend)Backend;
        if (destination.IsEmpty)
            return;
        UncheckedView.CopyToCPU(backend.Stream, destination);
        backend.Stream.Synchronize();
    }

    /// <inheritdoc />
    protected override void DisposeCore() => buffer.Dispose();
}
