// The element types of the safetensors format, in the reference implementation's order.
// Source: huggingface/safetensors safetensors/src/tensor.rs (snapshot 24b0b28, 2026-05), `enum Dtype`
// ("They MUST be in increasing alignment order") and `Dtype::bitsize`. The writer sorts tensors by this order,
// descending, so the order of the members below is part of the byte layout: do not reorder them.

namespace Boft.Checkpoints;

/// <summary>
/// A safetensors element type (the header's <c>dtype</c> string). The members are declared in the reference
/// implementation's increasing-alignment order, which the writer uses to lay out the byte buffer.
/// </summary>
public enum SafeTensorsElementType
{
    /// <summary><c>BOOL</c>, one byte.</summary>
    Boolean,

    /// <summary><c>F4</c> (MXF4), 4 bits.</summary>
    Float4,

    /// <summary><c>F6_E2M3</c> (MXF6), 6 bits.</summary>
    Float6E2M3,

    /// <summary><c>F6_E3M2</c> (MXF6), 6 bits.</summary>
    Float6E3M2,

    /// <summary><c>U8</c>.</summary>
    UInt8,

    /// <summary><c>I8</c>.</summary>
    Int8,

    /// <summary><c>F8_E5M2</c>.</summary>
    Float8E5M2,

    /// <summary><c>F8_E4M3</c>.</summary>
    Float8E4M3,

    /// <summary><c>F8_E8M0</c>.</summary>
    Float8E8M0,

    /// <summary><c>F8_E4M3FNUZ</c>.</summary>
    Float8E4M3Fnuz,

    /// <summary><c>F8_E5M2FNUZ</c>.</summary>
    Float8E5M2Fnuz,

    /// <summary><c>I16</c>.</summary>
    Int16,

    /// <summary><c>U16</c>.</summary>
    UInt16,

    /// <summary><c>F16</c>, IEEE half precision.</summary>
    Float16,

    /// <summary><c>BF16</c>, bfloat16 (the upper 16 bits of a float32).</summary>
    BFloat16,

    /// <summary><c>I32</c>.</summary>
    Int32,

    /// <summary><c>U32</c>.</summary>
    UInt32,

    /// <summary><c>F32</c>, IEEE single precision.</summary>
    Float32,

    /// <summary><c>C64</c>, complex with two float32 parts.</summary>
    Complex64,

    /// <summary><c>F64</c>, IEEE double precision.</summary>
    Float64,

    /// <summary><c>I64</c>.</summary>
    Int64,

    /// <summary><c>U64</c>.</summary>
    UInt64,
}

/// <summary>Names and sizes of <see cref="SafeTensorsElementType"/> values as the safetensors header spells them.</summary>
public static class SafeTensorsElementTypes
{
    private static readonly string[] Names =
    [
        "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
        "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64",
    ];

    private static readonly int[] BitSizes = [8, 4, 6, 6, 8, 8, 8, 8, 8, 8, 8, 16, 16, 16, 16, 32, 32, 32, 64, 64, 64, 64];

    /// <summary>The header spelling of <paramref name="elementType"/>, e.g. <c>F32</c>.</summary>
    /// <param name="elementType">The element type.</param>
    /// <returns>The dtype string.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a defined member.</exception>
    public static string GetName(SafeTensorsElementType elementType) => Names[Index(elementType)];

    /// <summary>The size of one element in bits (4 and 6 for the sub-byte float formats).</summary>
    /// <param name="elementType">The element type.</param>
    /// <returns>The bit size.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a defined member.</exception>
    public static int GetBitSize(SafeTensorsElementType elementType) => BitSizes[Index(elementType)];

    /// <summary>Parses a header dtype string. The match is exact (case-sensitive), as in the reference implementation.</summary>
    /// <param name="name">The dtype string, e.g. <c>BF16</c>.</param>
    /// <param name="elementType">The element type, when the name is known.</param>
    /// <returns>Whether <paramref name="name"/> is a known dtype.</returns>
    public static bool TryParse(string? name, out SafeTensorsElementType elementType)
    {
        int index = Array.IndexOf(Names, name);
        elementType = (SafeTensorsElementType)Math.Max(index, 0);
        return index >= 0;
    }

    /// <summary>Whether values of this type can be read as real numbers by <see cref="SafeTensor.ToDoubleArray"/>
    /// (booleans, integers, F16, BF16, F32, F64).</summary>
    /// <param name="elementType">The element type.</param>
    /// <returns>Whether the type converts to <see cref="double"/>.</returns>
    public static bool IsConvertibleToReal(SafeTensorsElementType elementType) => elementType switch
    {
        SafeTensorsElementType.Boolean or SafeTensorsElementType.UInt8 or SafeTensorsElementType.Int8 or
        SafeTensorsElementType.Int16 or SafeTensorsElementType.UInt16 or SafeTensorsElementType.Int32 or
        SafeTensorsElementType.UInt32 or SafeTensorsElementType.Int64 or SafeTensorsElementType.UInt64 or
        SafeTensorsElementType.Float16 or SafeTensorsElementType.BFloat16 or SafeTensorsElementType.Float32 or
        SafeTensorsElementType.Float64 => true,
        _ => false,
    };

    private static int Index(SafeTensorsElementType elementType)
    {
        int index = (int)elementType;
        if (index < 0 || index >= Names.Length)
            throw new ArgumentOutOfRangeException(nameof(elementType), elementType, "Not a safetensors element type.");
        return index;
    }
}
