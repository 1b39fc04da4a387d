// Device scratch memory for the ops that need it (rotation partial gradients, global row buffers, reduction partials).
// BoftKernels keeps one internal workspace that grows when a bigger problem arrives; callers who launch on several
// streams at once, or who want the memory sized up front, pass their own workspace instead.

using ILGPU;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>A float32 device buffer used as scratch space by <see cref="BoftKernels"/>. Dispose it after the work using it has finished.</summary>
public sealed class BoftWorkspace : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> buffer;
    private bool disposed;

    internal BoftWorkspace(Accelerator accelerator, long length)
    {
        Accelerator = accelerator;
        Length = length;
        buffer = accelerator.Allocate1D<float>(Math.Max(1, length));
    }

    /// <summary>The accelerator that owns the memory.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>Number of float elements.</summary>
    public long Length { get; }

    /// <summary>Whether the workspace has been disposed.</summary>
    public bool IsDisposed => disposed;

    /// <summary>The whole buffer.</summary>
    /// <exception cref="ObjectDisposedException">The workspace is disposed.</exception>
    public ArrayView<float> View
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return buffer.View;
        }
    }

    /// <summary>Frees the memory. Idempotent.</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        buffer.Dispose();
    }
}
