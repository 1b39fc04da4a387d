// A float32 tensor owned by one backend (host memory for the SIMD backend, device memory for ILGPU backends).

using System.Globalization;

namespace Boft.Backends;

/// <summary>
/// A dense row-major float32 tensor that lives on one <see cref="BoftBackend"/>. Create it with
/// <see cref="BoftBackend.Allocate(int[])"/> or <see cref="BoftBackend.Upload(ReadOnlySpan{float}, int[])"/>;
/// dispose it to free its memory. Operations accept tensors of any leading dimensions when they work on rows
/// (the last dimension is the feature dimension).
/// </summary>
public abstract class Tensor : IDisposable
{
    private readonly int[] shape;
    private bool disposed;
    private string? shapeString;

    /// <summary>Initializes the tensor's bookkeeping.</summary>
    /// <param name="backend">The owning backend.</param>
    /// <param name="shape">The dimensions (each ≥ 0).</param>
    protected Tensor(BoftBackend backend, int[] shape)
        : this(backend, shape, ElementType.Float32)
    {
    }

    /// <summary>Initializes the tensor's bookkeeping.</summary>
    /// <param name="backend">The owning backend.</param>
    /// <param name="shape">The dimensions (each ≥ 0).</param>
    /// <param name="elementType">The storage type of the elements.</param>
    protected Tensor(BoftBackend backend, int[] shape, ElementType elementType)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(shape);
        if (!Enum.IsDefined(elementType))
            throw new ArgumentOutOfRangeException(nameof(elementType), elementType, "Unknown element type.");
        ElementType = elementType;
        Backend = backend;
        this.shape = (int[])shape.Clone();
        Length = CheckedLength(this.shape);
    }

    /// <summary>The backend that owns this tensor's memory.</summary>
    public BoftBackend Backend { get; }

    /// <summary>The storage type of the elements (docs/09_Mixed-precision.md).</summary>
    public ElementType ElementType { get; }

    /// <summary>The dimensions, outermost first.</summary>
    public ReadOnlySpan<int> Shape => shape;

    /// <summary>The number of dimensions.</summary>
    public int Rank => shape.Length;

    /// <summary>The number of elements.</summary>
    public int Length { get; }

    /// <summary>The last dimension (1 for a scalar-shaped tensor).</summary>
    public int LastDimension => shape.Length == 0 ? 1 : shape[^1];

    /// <summary>Whether <see cref="Dispose()"/> has been called.</summary>
    public bool IsDisposed => disposed;

    /// <summary>The shape written as <c>[a, b, c]</c>, as used in error messages.</summary>
    public string ShapeString => shapeString ??= FormatShape(shape);

    /// <summary>
    /// Copies <paramref name="source"/> (length <see cref="Length"/>) into the tensor; a 16-bit tensor stores each value
    /// rounded to nearest, ties to even.
    /// </summary>
    /// <param name="source">Row-major values.</param>
    /// <exception cref="ArgumentException">The length differs from <see cref="Length"/>.</exception>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    public void CopyFrom(ReadOnlySpan<float> source)
    {
        ThrowIfDisposed();
        if (source.Length != Length)
            throw new ArgumentException($"source has {source.Length} elements but the tensor has shape {ShapeString} ({Length} elements).", nameof(source));
        CopyFromCore(source);
    }

    /// <summary>Copies the tensor into <paramref name="destination"/> (length <see cref="Length"/>), widening 16-bit values exactly, waiting for pending work.</summary>
    /// <param name="destination">Receives the row-major values.</param>
    /// <exception cref="ArgumentException">The length differs from <see cref="Length"/>.</exception>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    public void CopyTo(Span<float> destination)
    {
        ThrowIfDisposed();
        if (destination.Length != Length)
            throw new ArgumentException($"destination has {destination.Length} elements but the tensor has shape {ShapeString} ({Length} elements).", nameof(destination));
        CopyToCore(destination);
    }

    /// <summary>Copies raw 16-bit element bits (bfloat16 or float16, as <see cref="ElementType"/> says) into the tensor.</summary>
    /// <param name="source">Row-major bits.</param>
    /// <exception cref="ArgumentException">The length differs, or the tensor is not 16-bit.</exception>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    public void CopyBitsFrom(ReadOnlySpan<ushort> source)
    {
        ThrowIfDisposed();
        RequireSixteenBit(nameof(source));
        if (source.Length != Length)
            throw new ArgumentException($"source has {source.Length} elements but the tensor has shape {ShapeString} ({Length} elements).", nameof(source));
        CopyBitsFromCore(source);
    }

    /// <summary>Copies the raw 16-bit element bits into <paramref name="destination"/>, waiting for pending work.</summary>
    /// <param name="destination">Receives the row-major bits.</param>
    /// <exception cref="ArgumentException">The length differs, or the tensor is not 16-bit.</exception>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    public void CopyBitsTo(Span<ushort> destination)
    {
        ThrowIfDisposed();
        RequireSixteenBit(nameof(destination));
        if (destination.Length != Length)
            throw new ArgumentException($"destination has {destination.Length} elements but the tensor has shape {ShapeString} ({Length} elements).", nameof(destination));
        CopyBitsToCore(destination);
    }

    /// <summary>Copies float16 values into a <see cref="ElementType.Float16"/> tensor (exact).</summary>
    /// <param name="source">Row-major values.</param>
    /// <exception cref="ArgumentException">The length differs, or the tensor is not float16.</exception>
    public void CopyFrom(ReadOnlySpan<Half> source)
    {
        if (ElementType != ElementType.Float16)
            throw new ArgumentException($"source holds Float16 values but the tensor ({ShapeString}) is {ElementType}.", nameof(source));
        CopyBitsFrom(System.Runtime.InteropServices.MemoryMarshal.Cast<Half, ushort>(source));
    }

    /// <summary>Copies a <see cref="ElementType.Float16"/> tensor into float16 values (exact).</summary>
    /// <param name="destination">Receives the values.</param>
    /// <exception cref="ArgumentException">The length differs, or the tensor is not float16.</exception>
    public void CopyTo(Span<Half> destination)
    {
        if (ElementType != ElementType.Float16)
            throw new ArgumentException($"destination takes Float16 values but the tensor ({ShapeString}) is {ElementType}.", nameof(destination));
        CopyBitsTo(System.Runtime.InteropServices.MemoryMarshal.Cast<Half, ushort>(destination));
    }

    /// <summary>Copies the tensor into a new array.</summary>
    /// <returns>The row-major values.</returns>
    public float[] ToArray()
    {
        var result = new float[Length];
        CopyTo(result);
        return result;
    }

    /// <summary>Frees the tensor's memory. Idempotent.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc />
    public override string ToString() => ElementType == ElementType.Float32 ? $"Tensor{ShapeString} on {Backend.Name}" : $"Tensor{ShapeString} {ElementType} on {Backend.Name}";

    /// <summary>Throws <see cref="ObjectDisposedException"/> if the tensor or its backend is disposed.</summary>
    /// <exception cref="ObjectDisposedException">The tensor or its backend is disposed.</exception>
    public void ThrowIfDisposed()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Backend.ThrowIfDisposed();
    }

    /// <summary>Formats dimensions as <c>[a, b, c]</c>.</summary>
    /// <param name="dimensions">The dimensions.</param>
    /// <returns>The formatted shape.</returns>
    public static string FormatShape(ReadOnlySpan<int> dimensions)
    {
        var parts = new string[dimensions.Length];
        for (int i = 0; i < dimensions.Length; i++)
            parts[i] = dimensions[i].ToString(CultureInfo.InvariantCulture);
        return "[" + string.Join(", ", parts) + "]";
    }

    /// <summary>Copies host values into the tensor; the length is already checked.</summary>
    /// <param name="source">Row-major values.</param>
    protected abstract void CopyFromCore(ReadOnlySpan<float> source);

    /// <summary>Copies the tensor to the host; the length is already checked.</summary>
    /// <param name="destination">Receives the values.</param>
    protected abstract void CopyToCore(Span<float> destination);

    /// <summary>Copies raw 16-bit bits into a 16-bit tensor; the length and type are already checked.</summary>
    /// <param name="source">Row-major bits.</param>
    /// <exception cref="NotSupportedException">The backend stores no 16-bit tensors.</exception>
    protected virtual void CopyBitsFromCore(ReadOnlySpan<ushort> source) =>
        throw new NotSupportedException($"{Backend.Name} has no 16-bit storage.");

    /// <summary>Copies a 16-bit tensor's raw bits to the host; the length and type are already checked.</summary>
    /// <param name="destination">Receives the bits.</param>
    /// <exception cref="NotSupportedException">The backend stores no 16-bit tensors.</exception>
    protected virtual void CopyBitsToCore(Span<ushort> destination) =>
        throw new NotSupportedException($"{Backend.Name} has no 16-bit storage.");

    /// <summary>Frees the memory.</summary>
    protected abstract void DisposeCore();

    /// <summary>Disposes the tensor.</summary>
    /// <param name="disposing">True when called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
        if (disposed)
            return;
        disposed = true;
        if (disposing)
            DisposeCore();
    }

    private void RequireSixteenBit(string name)
    {
        if (!ElementType.IsSixteenBit())
            throw new ArgumentException($"{name} holds raw 16-bit bits but the tensor ({ShapeString}) is {ElementType}.", name);
    }

    private static int CheckedLength(int[] dimensions)
    {
        long length = 1;
        foreach (int dimension in dimensions)
        {
            if (dimension < 0)
                throw new ArgumentOutOfRangeException(nameof(dimensions), $"Tensor dimensions must be non-negative, got {FormatShape(dimensions)}.");
            length *= dimension;
            if (length > int.MaxValue)
                throw new ArgumentOutOfRangeException(nameof(dimensions), $"Tensor shape {FormatShape(dimensions)} has more than int.MaxValue elements.");
        }
        return (int)length;
    }
}
