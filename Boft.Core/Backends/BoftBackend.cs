// The backend contract: every op of BOFT/OFT training as a validated public method and a protected *Core hook.
// This file holds tensors, lifetime and the validation helpers; the ops live in one partial file per family
// (BoftBackend.Cayley.cs, .Rotation.cs, .Merge.cs, .ScaleBias.cs, .Linear.cs, .Losses.cs, .Optimizers.cs, .Elementwise.cs),
// each public method beside its hook. Validation lives here, once (messages in ShapeChecks, shared with the ILGPU
// launchers), so that every backend (SIMD, ILGPU CPU simulator, CUDA) throws the same exceptions before any work is
// launched. Semantics of each op: docs/02_Ops/*.md; adding an op: docs/07_Adding-an-op.md.
//
// Gradient convention (llm.c): gradients of *parameters* (gradParameters, gradScale, gradBias, gradWeight)
// accumulate with +=, so several backward passes can be summed before an optimizer step (ZeroGrad is explicit);
// gradients of *activations* and intermediates (gradInput, gradBlocks) are overwritten with =.
// All reductions over rows are deterministic: the same inputs give bit-identical results on every run.

namespace Boft.Backends;

/// <summary>
/// A compute backend for BOFT/OFT: tensors plus the batched Cayley map, the butterfly rotation (forward and backward),
/// scale/bias, merge, the frozen linear map, losses, activations and optimizer steps, all in float32.
/// Instances are not thread-safe. Dispose the backend after its tensors.
/// </summary>
public abstract partial class BoftBackend : IDisposable
{
    private static long instanceCounter;
    private readonly long instanceNumber = Interlocked.Increment(ref instanceCounter);
    private bool disposed;

    /// <summary>The backend's name as used in test names and benchmark tables (e.g. <c>Simd</c>, <c>IlgpuCpu</c>, <c>Cuda</c>).</summary>
    public abstract string Name { get; }

    /// <summary>Whether <see cref="Dispose()"/> has been called.</summary>
    public bool IsDisposed => disposed;

    /// <summary>How messages name this backend: its name and a number unique in the process (two SIMD backends differ).</summary>
    internal string Identity => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"'{Name}' (instance #{instanceNumber})");

    #region Tensors

    /// <summary>Allocates a zero-filled tensor.</summary>
    /// <param name="shape">The dimensions.</param>
    /// <returns>A new tensor owned by this backend.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative or the tensor is too large.</exception>
    /// <exception cref="ObjectDisposedException">The backend is disposed.</exception>
    public Tensor Allocate(params int[] shape)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(shape);
        return AllocateCore((int[])shape.Clone());
    }

    /// <summary>Allocates a zero-filled tensor.</summary>
    /// <param name="shape">A private copy of the dimensions.</param>
    /// <returns>The tensor.</returns>
    protected abstract Tensor AllocateCore(int[] shape);

    /// <summary>Allocates a tensor and fills it with <paramref name="values"/>.</summary>
    /// <param name="values">Row-major values; their count must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The dimensions.</param>
    /// <returns>A new tensor owned by this backend.</returns>
    /// <exception cref="ArgumentException">The number of values does not match the shape.</exception>
    public Tensor Upload(ReadOnlySpan<float> values, params int[] shape)
    {
        Tensor tensor = Allocate(shape);
        try
        {
            tensor.CopyFrom(values);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
        return tensor;
    }

    /// <summary>Waits until all queued work of this backend has finished.</summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        SynchronizeCore();
    }

    /// <summary>Waits for queued work.</summary>
    protected abstract void SynchronizeCore();

    #endregion

    #region Lifetime

    /// <summary>Throws <see cref="ObjectDisposedException"/> if the backend is disposed.</summary>
    /// <exception cref="ObjectDisposedException">The backend is disposed.</exception>
    public void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    /// <summary>Disposes the backend. Idempotent.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees backend resources.</summary>
    /// <param name="disposing">True when called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing) => disposed = true;

    #endregion

    #region Validation (messages in ShapeChecks; the op families call these)

    /// <summary>Checks that <paramref name="tensor"/> is non-null, alive and owned by this backend.</summary>
    /// <param name="tensor">The tensor.</param>
    /// <param name="name">The argument name.</param>
    /// <exception cref="ArgumentNullException">The tensor is null.</exception>
    /// <exception cref="ObjectDisposedException">The tensor or backend is disposed.</exception>
    /// <exception cref="BackendMismatchException">The tensor belongs to another backend.</exception>
    protected void Check(Tensor tensor, string name)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (tensor.IsDisposed)
            throw ShapeChecks.Disposed(name, tensor.ShapeString);
        if (!ReferenceEquals(tensor.Backend, this))
            throw ShapeChecks.Mismatch(name, tensor.ShapeString, "backend", tensor.Backend.Identity, Identity);
    }

    private static void RequireLength(Tensor tensor, string name, int expected, ShapeText expectedShape) =>
        ShapeChecks.Length(name, ShapeChecks.ShapeOf(tensor), tensor.Length, expected, expectedShape);

    private static void RequireSameShape(Tensor tensor, string name, Tensor other, string otherName) =>
        ShapeChecks.SameShape(tensor.Shape.SequenceEqual(other.Shape), name, ShapeChecks.ShapeOf(tensor), otherName, ShapeChecks.ShapeOf(other));

    private int RequireRows(Tensor tensor, string name, int featureCount, ShapeText reason)
    {
        Check(tensor, name);
        ShapeChecks.LastDimension(name, tensor.Shape, featureCount, reason);
        return featureCount == 0 ? 0 : tensor.Length / featureCount;
    }

    private void RequireRowsOf(Tensor tensor, string name, int rows, int columns, Tensor other, string otherName)
    {
        Check(tensor, name);
        bool ok = tensor.Rank != 0 && tensor.LastDimension == columns && tensor.Length == (long)rows * columns;
        ShapeChecks.RowsLike(ok, name, ShapeChecks.ShapeOf(tensor), rows, columns, otherName, ShapeChecks.ShapeOf(other));
    }

    private (int Rows, int Columns) RequireMatrix(Tensor tensor, string name)
    {
        Check(tensor, name);
        ShapeChecks.Matrix(name, tensor.Shape);
        return (tensor.Shape[0], tensor.Shape[1]);
    }

    private void CheckBlocks(RotationShape shape, Tensor blocks, string name)
    {
        Check(blocks, name);
        RequireLength(blocks, name, shape.BlocksLength, ShapeChecks.RotationBlocksShape(shape));
    }

    private void CheckMask(CayleyShape shape, Tensor? identityMask)
    {
        if (identityMask is null)
            return;
        Check(identityMask, nameof(identityMask));
        RequireLength(identityMask, nameof(identityMask), shape.BlockCount, ShapeChecks.MaskShape(shape));
    }

    private void CheckVector(Tensor? vector, string name, int length, Tensor rowsTensor)
    {
        if (vector is null)
            return;
        Check(vector, name);
        RequireLength(vector, name, length, ShapeChecks.PerColumnShape(length, rowsTensor));
    }

    #endregion
}
