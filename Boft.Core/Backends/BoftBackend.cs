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

    /// <summary>Allocates a zero-filled tensor of <paramref name="elementType"/>.</summary>
    /// <param name="elementType">The storage type (16-bit types only where <see cref="Supports"/> says so).</param>
    /// <param name="shape">The dimensions.</param>
    /// <returns>A new tensor owned by this backend.</returns>
    /// <exception cref="NotSupportedException">The backend has no storage of that type.</exception>
    public Tensor Allocate(ElementType elementType, params int[] shape)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(shape);
        if (!Enum.IsDefined(elementType))
            throw new ArgumentOutOfRangeException(nameof(elementType), elementType, "Unknown element type.");
        if (elementType == ElementType.Float32)
            return AllocateCore((int[])shape.Clone());
        if (!Supports(elementType))
            throw ShapeChecks.NoSixteenBitStorage(Name, elementType);
        return AllocateCore((int[])shape.Clone(), elementType);
    }

    /// <summary>Whether this backend stores and computes on tensors of <paramref name="elementType"/> (float32: always).</summary>
    /// <param name="elementType">The type.</param>
    /// <returns>True when tensors of the type can be allocated and the 16-bit ops accept them.</returns>
    public virtual bool Supports(ElementType elementType) => elementType == ElementType.Float32;

    /// <summary>Allocates a zero-filled 16-bit tensor (only called when <see cref="Supports"/> is true).</summary>
    /// <param name="shape">A private copy of the dimensions.</param>
    /// <param name="elementType">A 16-bit type.</param>
    /// <returns>The tensor.</returns>
    /// <exception cref="NotSupportedException">Always, unless overridden.</exception>
    protected virtual Tensor AllocateCore(int[] shape, ElementType elementType) => throw ShapeChecks.NoSixteenBitStorage(Name, elementType);

    /// <summary>Allocates a tensor of <paramref name="elementType"/> holding <paramref name="values"/> rounded to it (RNE).</summary>
    /// <param name="values">Row-major values.</param>
    /// <param name="elementType">The storage type.</param>
    /// <param name="shape">The dimensions.</param>
    /// <returns>A new tensor owned by this backend.</returns>
    public Tensor Upload(ReadOnlySpan<float> values, ElementType elementType, params int[] shape) =>
        FillNew(Allocate(elementType, shape), values);

    /// <summary>Allocates a 16-bit tensor from raw bfloat16 or float16 bits.</summary>
    /// <param name="bits">Row-major bits of <paramref name="elementType"/>.</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>.</param>
    /// <param name="shape">The dimensions.</param>
    /// <returns>A new tensor owned by this backend.</returns>
    public Tensor UploadBits(ReadOnlySpan<ushort> bits, ElementType elementType, params int[] shape)
    {
        Tensor tensor = Allocate(elementType, shape);
        try
        {
            tensor.CopyBitsFrom(bits);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
        return tensor;
    }

    /// <summary>Allocates a <see cref="ElementType.Float16"/> tensor holding <paramref name="values"/>.</summary>
    /// <param name="values">Row-major values.</param>
    /// <param name="shape">The dimensions.</param>
    /// <returns>A new tensor owned by this backend.</returns>
    public Tensor Upload(ReadOnlySpan<Half> values, params int[] shape) =>
        UploadBits(System.Runtime.InteropServices.MemoryMarshal.Cast<Half, ushort>(values), ElementType.Float16, shape);

    private static Tensor FillNew(Tensor tensor, ReadOnlySpan<float> values)
    {
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

    /// <summary>Allocates a tensor and fills it with <paramref name="values"/>.</summary>
    /// <param name="values">Row-major values; their count must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The dimensions.</param>
    /// <returns>A new tensor owned by this backend.</returns>
    /// <exception cref="ArgumentException">The number of values does not match the shape.</exception>
    public Tensor Upload(ReadOnlySpan<float> values, params int[] shape) => FillNew(Allocate(shape), values);

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
    /// <exception cref="ArgumentException">The tensor is not float32 (the ops with a 16-bit path check activations with <see cref="CheckActivation"/>).</exception>
    protected void Check(Tensor tensor, string name)
    {
        CheckOwned(tensor, name);
        if (tensor.ElementType != ElementType.Float32)
            throw ShapeChecks.NotFloat32(name, tensor.ShapeString, tensor.ElementType);
    }

    /// <summary>
    /// Checks an activation or frozen-weight operand of an op with a 16-bit path: owned and alive like <see cref="Check"/>,
    /// of any element type this backend supports, and of the same type as <paramref name="like"/> (the op's first
    /// activation) when given.
    /// </summary>
    /// <param name="tensor">The tensor.</param>
    /// <param name="name">The argument name.</param>
    /// <param name="like">The activation whose type every activation of the op shares, or null for the first one.</param>
    /// <param name="likeName">Its argument name.</param>
    protected void CheckActivation(Tensor tensor, string name, Tensor? like = null, string? likeName = null)
    {
        CheckOwned(tensor, name);
        if (like is not null && tensor.ElementType != like.ElementType)
            throw ShapeChecks.TypeMismatch(name, tensor.ElementType, likeName ?? "", like.ElementType);
        if (tensor.ElementType != ElementType.Float32 && !Supports(tensor.ElementType))
            throw ShapeChecks.NoSixteenBitStorage(Name, tensor.ElementType);
    }

    /// <summary>
    /// Whether this backend runs <paramref name="operation"/> over 16-bit tensors (of the types <see cref="Supports"/> accepts).
    /// False by default; the reference and SIMD backends run every family. An op given a 16-bit tensor without its path throws
    /// <see cref="ArgumentException"/> before any work.
    /// </summary>
    /// <param name="operation">The op family.</param>
    /// <returns>True when the family has a 16-bit path here.</returns>
    public virtual bool HasSixteenBitPath(SixteenBitOperation operation) => false;

    /// <summary>Refuses a 16-bit <paramref name="tensor"/> when <paramref name="operation"/> has no 16-bit path on this backend.</summary>
    /// <param name="operation">The op family.</param>
    /// <param name="tensor">The op's first activation.</param>
    /// <param name="name">Its argument name.</param>
    protected void RequireSixteenBitPath(SixteenBitOperation operation, Tensor tensor, string name)
    {
        if (tensor.ElementType.IsSixteenBit() && !HasSixteenBitPath(operation))
            throw ShapeChecks.NoSixteenBitPath(name, tensor.ShapeString, tensor.ElementType, Name, operation);
    }

    private void CheckOwned(Tensor tensor, string name)
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

    private int RequireRows(Tensor tensor, string name, int featureCount, ShapeText reason, bool activation = false)
    {
        if (activation)
            CheckActivation(tensor, name);
        else
            Check(tensor, name);
        ShapeChecks.LastDimension(name, tensor.Shape, featureCount, reason);
        return featureCount == 0 ? 0 : tensor.Length / featureCount;
    }

    private void RequireRowsOf(Tensor tensor, string name, int rows, int columns, Tensor other, string otherName, bool activation = false)
    {
        if (activation)
            CheckActivation(tensor, name, other, otherName);
        else
            Check(tensor, name);
        bool ok = tensor.Rank != 0 && tensor.LastDimension == columns && tensor.Length == (long)rows * columns;
        ShapeChecks.RowsLike(ok, name, ShapeChecks.ShapeOf(tensor), rows, columns, otherName, ShapeChecks.ShapeOf(other));
    }

    private (int Rows, int Columns) RequireMatrix(Tensor tensor, string name, bool activation = false)
    {
        if (activation)
            CheckActivation(tensor, name);
        else
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

    private void CheckVector(Tensor? vector, string name, int length, Tensor rowsTensor, bool activation = false)
    {
        if (vector is null)
            return;
        if (activation)
            CheckActivation(vector, name, rowsTensor, "input");
        else
            Check(vector, name);
        RequireLength(vector, name, length, ShapeChecks.PerColumnShape(length, rowsTensor));
    }

    #endregion
}
