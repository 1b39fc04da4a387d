// One named tensor of a safetensors file: dtype, shape and little-endian row-major bytes
// (huggingface/safetensors README.md, "Format": "Endianness: Little-endian", "Order: 'C' or row-major").

using System.Buffers.Binary;
using System.Globalization;

namespace Boft.Checkpoints;

/// <summary>
/// A named tensor as a safetensors file stores it: an element type, a shape and the raw little-endian,
/// row-major element bytes. Instances are immutable. A tensor is either in memory, or <em>deferred</em>: its bytes
/// are produced by a callback when the tensor is written (or first read), which lets a writer stream large data
/// without copying it; the callback's byte count is checked against the shape.
/// </summary>
public sealed class SafeTensor
{
    private readonly long[] shape;
    private readonly ReadOnlyMemory<byte> data;
    private readonly Action<Stream>? writeData;

    /// <summary>Creates an in-memory tensor from raw bytes.</summary>
    /// <param name="name">The tensor name (the header key); must not be empty or <c>__metadata__</c>.</param>
    /// <param name="elementType">The element type.</param>
    /// <param name="shape">The dimensions, outermost first (each ≥ 0; empty for a scalar).</param>
    /// <param name="data">The little-endian, row-major element bytes; the caller must not change them afterwards.</param>
    /// <exception cref="ArgumentException">The name is invalid, a dimension is negative, or <paramref name="data"/> does not hold
    /// exactly the bytes the shape and type need.</exception>
    public SafeTensor(string name, SafeTensorsElementType elementType, ReadOnlySpan<long> shape, ReadOnlyMemory<byte> data)
    {
        ValidateName(name);
        ElementType = elementType;
        this.shape = shape.ToArray();
        ByteLength = ComputeByteLength(elementType, this.shape, nameof(shape));
        if (data.Length != ByteLength)
            throw new ArgumentException(
                $"Tensor '{name}' of type {SafeTensorsElementTypes.GetName(elementType)} and shape {FormatShape(this.shape)} needs {ByteLength} bytes, " +
                $"but {nameof(data)} has {data.Length} bytes.", nameof(data));
        Name = name;
        this.data = data;
    }

    /// <summary>Creates a deferred tensor whose bytes <paramref name="writeData"/> writes when the tensor is serialized.</summary>
    /// <param name="name">The tensor name (the header key); must not be empty or <c>__metadata__</c>.</param>
    /// <param name="elementType">The element type.</param>
    /// <param name="shape">The dimensions, outermost first (each ≥ 0).</param>
    /// <param name="writeData">Writes exactly <see cref="ByteLength"/> little-endian, row-major bytes to the stream it is given.
    /// Writing a different number of bytes makes the write fail with <see cref="InvalidDataException"/>.</param>
    /// <exception cref="ArgumentException">The name is invalid or a dimension is negative.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="writeData"/> is null.</exception>
    public SafeTensor(string name, SafeTensorsElementType elementType, ReadOnlySpan<long> shape, Action<Stream> writeData)
    {
        ValidateName(name);
        ArgumentNullException.ThrowIfNull(writeData);
        ElementType = elementType;
        this.shape = shape.ToArray();
        ByteLength = ComputeByteLength(elementType, this.shape, nameof(shape));
        Name = name;
        this.writeData = writeData;
    }

    /// <summary>The tensor name (the header key).</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public SafeTensorsElementType ElementType { get; }

    /// <summary>The dimensions, outermost first.</summary>
    public ReadOnlySpan<long> Shape => shape;

    /// <summary>The number of elements (the product of the dimensions; 1 for a scalar).</summary>
    public long ElementCount => ElementCountOf(shape);

    /// <summary>The number of data bytes.</summary>
    public long ByteLength { get; }

    /// <summary>Whether the bytes are produced by a callback at write time.</summary>
    public bool IsDeferred => writeData is not null;

    /// <summary>Creates an <c>F32</c> tensor.</summary>
    /// <param name="name">The tensor name.</param>
    /// <param name="shape">The dimensions.</param>
    /// <param name="values">The values, row-major; the count must equal the product of <paramref name="shape"/>.</param>
    /// <returns>The tensor.</returns>
    /// <exception cref="ArgumentException">The value count does not match the shape, or the name is invalid.</exception>
    public static SafeTensor FromSingle(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values)
    {
        CheckCount(name, shape, values.Length, nameof(values));
        var bytes = new byte[checked(values.Length * sizeof(float))];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        return new SafeTensor(name, SafeTensorsElementType.Float32, shape, bytes);
    }

    /// <summary>Creates a tensor of single-precision values stored as <paramref name="elementType"/>: <c>F32</c> (exact),
    /// <c>F64</c> (widened exactly), <c>BF16</c> or <c>F16</c> (rounded to nearest, ties to even; a NaN stays NaN).</summary>
    /// <param name="name">The tensor name.</param>
    /// <param name="shape">The dimensions.</param>
    /// <param name="values">The values, row-major; the count must equal the product of <paramref name="shape"/>.</param>
    /// <param name="elementType">The stored type: F32, F64, BF16 or F16.</param>
    /// <returns>The tensor.</returns>
    /// <exception cref="ArgumentException">The value count does not match the shape, or the name is invalid.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not F32, F64, BF16 or F16.</exception>
    /// <exception cref="OverflowException">A finite value is too large for BF16 or F16 and would be stored as infinity; the message
    /// names the tensor, the flat index and the value.</exception>
    public static SafeTensor FromSingle(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values, SafeTensorsElementType elementType)
    {
        switch (elementType)
        {
            case SafeTensorsElementType.Float32:
                return FromSingle(name, shape, values);
            case SafeTensorsElementType.Float64:
                return FromSingleAsDouble(name, shape, values);
            case SafeTensorsElementType.BFloat16 or SafeTensorsElementType.Float16:
                CheckCount(name, shape, values.Length, nameof(values));
                return new SafeTensor(name, elementType, shape, StoredFloatRounding.ToBytes(name, values, elementType));
            default:
                throw new ArgumentOutOfRangeException(nameof(elementType), elementType,
                    $"Tensor '{name}': single-precision values are stored as F32, F64, BF16 or F16, not {SafeTensorsElementTypes.GetName(elementType)}.");
        }
    }

    /// <summary>Creates an <c>F64</c> tensor.</summary>
    /// <param name="name">The tensor name.</param>
    /// <param name="shape">The dimensions.</param>
    /// <param name="values">The values, row-major; the count must equal the product of <paramref name="shape"/>.</param>
    /// <returns>The tensor.</returns>
    /// <exception cref="ArgumentException">The value count does not match the shape, or the name is invalid.</exception>
    public static SafeTensor FromDouble(string name, ReadOnlySpan<long> shape, ReadOnlySpan<double> values)
    {
        CheckCount(name, shape, values.Length, nameof(values));
        var bytes = new byte[checked(values.Length * sizeof(double))];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(i * sizeof(double)), values[i]);
        return new SafeTensor(name, SafeTensorsElementType.Float64, shape, bytes);
    }

    /// <summary>Creates an <c>F64</c> tensor from single-precision values (widened exactly).</summary>
    /// <param name="name">The tensor name.</param>
    /// <param name="shape">The dimensions.</param>
    /// <param name="values">The values, row-major; the count must equal the product of <paramref name="shape"/>.</param>
    /// <returns>The tensor.</returns>
    /// <exception cref="ArgumentException">The value count does not match the shape, or the name is invalid.</exception>
    public static SafeTensor FromSingleAsDouble(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values)
    {
        CheckCount(name, shape, values.Length, nameof(values));
        var bytes = new byte[checked(values.Length * sizeof(double))];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(i * sizeof(double)), values[i]);
        return new SafeTensor(name, SafeTensorsElementType.Float64, shape, bytes);
    }

    /// <summary>Creates an <c>I64</c> tensor.</summary>
    /// <param name="name">The tensor name.</param>
    /// <param name="shape">The dimensions.</param>
    /// <param name="values">The values, row-major; the count must equal the product of <paramref name="shape"/>.</param>
    /// <returns>The tensor.</returns>
    /// <exception cref="ArgumentException">The value count does not match the shape, or the name is invalid.</exception>
    public static SafeTensor FromInt64(string name, ReadOnlySpan<long> shape, ReadOnlySpan<long> values)
    {
        CheckCount(name, shape, values.Length, nameof(values));
        var bytes = new byte[checked(values.Length * sizeof(long))];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * sizeof(long)), values[i]);
        return new SafeTensor(name, SafeTensorsElementType.Int64, shape, bytes);
    }

    /// <summary>The raw little-endian bytes. For a deferred tensor the callback runs once per call.</summary>
    /// <returns>The bytes.</returns>
    /// <exception cref="InvalidDataException">A deferred tensor's callback wrote the wrong number of bytes.</exception>
    public ReadOnlyMemory<byte> GetBytes()
    {
        if (writeData is null)
            return data;
        using var buffer = new MemoryStream(checked((int)ByteLength));
        WriteTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>Reads the values as doubles (exact for every supported type except 64-bit integers beyond 2^53).</summary>
    /// <returns>A new array of <see cref="ElementCount"/> values, row-major.</returns>
    /// <exception cref="NotSupportedException">The element type is not a real-number type
    /// (see <see cref="SafeTensorsElementTypes.IsConvertibleToReal"/>).</exception>
    public double[] ToDoubleArray()
    {
        ReadOnlySpan<byte> bytes = GetBytes().Span;
        var values = new double[checked((int)ElementCount)];
        for (int i = 0; i < values.Length; i++)
            values[i] = ReadReal(bytes, i);
        return values;
    }

    /// <summary>Reads the values as floats: exact for F32, F16, BF16 and small integers; F64 is rounded to nearest.</summary>
    /// <returns>A new array of <see cref="ElementCount"/> values, row-major.</returns>
    /// <exception cref="NotSupportedException">The element type is not a real-number type.</exception>
    public float[] ToSingleArray()
    {
        ReadOnlySpan<byte> bytes = GetBytes().Span;
        var values = new float[checked((int)ElementCount)];
        if (ElementType == SafeTensorsElementType.Float32)
        {
            for (int i = 0; i < values.Length; i++)
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
            return values;
        }
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)ReadReal(bytes, i);
        return values;
    }

    /// <summary>Reads integer or boolean values as 64-bit integers.</summary>
    /// <returns>A new array of <see cref="ElementCount"/> values, row-major.</returns>
    /// <exception cref="NotSupportedException">The element type is not an integer or boolean type, or a <c>U64</c> value exceeds
    /// <see cref="long.MaxValue"/>.</exception>
    public long[] ToInt64Array()
    {
        ReadOnlySpan<byte> bytes = GetBytes().Span;
        var values = new long[checked((int)ElementCount)];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ElementType switch
            {
                SafeTensorsElementType.Boolean or SafeTensorsElementType.UInt8 => bytes[i],
                SafeTensorsElementType.Int8 => (sbyte)bytes[i],
                SafeTensorsElementType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(bytes[(i * 2)..]),
                SafeTensorsElementType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(bytes[(i * 2)..]),
                SafeTensorsElementType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(bytes[(i * 4)..]),
                SafeTensorsElementType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(bytes[(i * 4)..]),
                SafeTensorsElementType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(bytes[(i * 8)..]),
                SafeTensorsElementType.UInt64 => checked((long)BinaryPrimitives.ReadUInt64LittleEndian(bytes[(i * 8)..])),
                _ => throw new NotSupportedException($"Tensor '{Name}' has type {SafeTensorsElementTypes.GetName(ElementType)}, which is not an integer type."),
            };
        }
        return values;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {SafeTensorsElementTypes.GetName(ElementType)} {FormatShape(shape)}";

    /// <summary>Writes the bytes to <paramref name="destination"/>, checking a deferred tensor's byte count.</summary>
    internal void WriteTo(Stream destination)
    {
        if (writeData is null)
        {
            destination.Write(data.Span);
            return;
        }
        var counting = new CountingStream(destination);
        writeData(counting);
        if (counting.Count != ByteLength)
            throw new InvalidDataException(
                $"Tensor '{Name}' of type {SafeTensorsElementTypes.GetName(ElementType)} and shape {FormatShape(shape)} needs {ByteLength} bytes, " +
                $"but its data callback wrote {counting.Count} bytes.");
    }

    internal static string FormatShape(ReadOnlySpan<long> shape)
    {
        var parts = new string[shape.Length];
        for (int i = 0; i < shape.Length; i++)
            parts[i] = shape[i].ToString(CultureInfo.InvariantCulture);
        return "[" + string.Join(", ", parts) + "]";
    }

    internal static long ElementCountOf(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (long dimension in shape)
            count = checked(count * dimension);
        return count;
    }

    /// <summary>Byte length of a tensor, or null when a dimension is negative, the size overflows, or it is not whole bytes.</summary>
    internal static long? TryComputeByteLength(SafeTensorsElementType elementType, ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (long dimension in shape)
        {
            if (dimension < 0)
                return null;
            try
            {
                count = checked(count * dimension);
            }
            catch (OverflowException)
            {
                return null;
            }
        }
        long bits;
        try
        {
            bits = checked(count * SafeTensorsElementTypes.GetBitSize(elementType));
        }
        catch (OverflowException)
        {
            return null;
        }
        return bits % 8 == 0 ? bits / 8 : null;
    }

    private static long ComputeByteLength(SafeTensorsElementType elementType, ReadOnlySpan<long> shape, string argumentName)
    {
        foreach (long dimension in shape)
            if (dimension < 0)
                throw new ArgumentException($"Shape {FormatShape(shape)} has a negative dimension.", argumentName);
        return TryComputeByteLength(elementType, shape)
            ?? throw new ArgumentException(
                $"Shape {FormatShape(shape)} of type {SafeTensorsElementTypes.GetName(elementType)} overflows or is not a whole number of bytes.", argumentName);
    }

    private static void ValidateName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
            throw new ArgumentException("A tensor name must not be empty.", nameof(name));
        if (name == SafeTensorsFile.MetadataKey)
            throw new ArgumentException($"'{SafeTensorsFile.MetadataKey}' is reserved for the file metadata and cannot name a tensor.", nameof(name));
    }

    private static void CheckCount(string name, ReadOnlySpan<long> shape, int count, string argumentName)
    {
        foreach (long dimension in shape)
            if (dimension < 0)
                throw new ArgumentException($"Tensor '{name}': shape {FormatShape(shape)} has a negative dimension.", nameof(shape));
        long expected = ElementCountOf(shape);
        if (expected != count)
            throw new ArgumentException($"Tensor '{name}': shape {FormatShape(shape)} holds {expected} elements, but {argumentName} has {count}.", argumentName);
    }

    private double ReadReal(ReadOnlySpan<byte> bytes, int index) => ElementType switch
    {
        SafeTensorsElementType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(bytes[(index * 4)..]),
        SafeTensorsElementType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(bytes[(index * 8)..]),
        SafeTensorsElementType.Float16 => (double)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(index * 2)..])),
        SafeTensorsElementType.BFloat16 => BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(bytes[(index * 2)..]) << 16),
        SafeTensorsElementType.Boolean or SafeTensorsElementType.UInt8 => bytes[index],
        SafeTensorsElementType.Int8 => (sbyte)bytes[index],
        SafeTensorsElementType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(bytes[(index * 2)..]),
        SafeTensorsElementType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(bytes[(index * 2)..]),
        SafeTensorsElementType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(bytes[(index * 4)..]),
        SafeTensorsElementType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(bytes[(index * 4)..]),
        SafeTensorsElementType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(bytes[(index * 8)..]),
        SafeTensorsElementType.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(bytes[(index * 8)..]),
        _ => throw new NotSupportedException(
            $"Tensor '{Name}' has type {SafeTensorsElementTypes.GetName(ElementType)}, which cannot be read as real numbers."),
    };

    /// <summary>Forwards writes and counts the bytes (used to check a deferred tensor's callback).</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Count; set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Count += count;
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Count += buffer.Length;
        }

        public override void WriteByte(byte value)
        {
            inner.WriteByte(value);
            Count++;
        }
    }
}
