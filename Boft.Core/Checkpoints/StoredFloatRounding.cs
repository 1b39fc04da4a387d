// Rounding float32 masters to the 16-bit types a checkpoint may store (docs/05_Checkpoints.md, "Stored types").
// Both conversions round to nearest, ties to even (IEEE 754 roundTiesToEven), as torch's Tensor.to(bfloat16 / float16) does:
//   BF16: the upper 16 bits of the float32 after adding 0x7FFF plus the lowest kept bit (the usual integer RNE trick, exact
//         for normal and subnormal values); NaN keeps its sign and payload's upper bits and is forced quiet (bit 6 set), so it
//         never rounds into an infinity. A finite value that rounds to ±Inf (|x| ≥ float bits 0x7F7F8000 ≈ 3.3961e38, half an
//         ulp above the largest bfloat16 0x7F7F ≈ 3.3895e38; the tie rounds up because 0x7F7F is odd) is an overflow.
//   F16:  System.Half's explicit conversion from float, which .NET implements as correctly rounded RNE (subnormals included);
//         finite values of magnitude ≥ 65520 round to ±Inf: an overflow.
// Overflow throws instead of writing an infinity: an infinite adapter parameter would load as a broken model.

namespace Boft.Checkpoints;

/// <summary>Round-to-nearest-even conversions from float32 to the stored 16-bit types, refusing overflow.</summary>
internal static class StoredFloatRounding
{
    /// <summary>The largest finite bfloat16 value (bits 0x7F7F).</summary>
    public static readonly float BFloat16MaxValue = BitConverter.UInt32BitsToSingle(0x7F7F0000u);

    /// <summary>The bfloat16 bits of <paramref name="value"/>, rounded to nearest even; NaN stays (quiet) NaN.</summary>
    // The conversions are the tensors' own (Boft.Backends.ElementConversions), so a checkpoint stores exactly the bits a
    // 16-bit tensor would hold.
    public static ushort ToBFloat16Bits(float value) => Boft.Backends.ElementConversions.SingleToBFloat16(value);

    public static ushort ToHalfBits(float value) => Boft.Backends.ElementConversions.SingleToFloat16(value);

    public static byte[] ToBytes(string name, ReadOnlySpan<float> values, SafeTensorsElementType elementType)
    {
        bool brain = elementType == SafeTensorsElementType.BFloat16;
        var bytes = new byte[checked(values.Length * 2)];
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            ushort bits = brain ? ToBFloat16Bits(v) : ToHalfBits(v);
            // ±Inf has exponent all ones and a zero fraction: 0x7F80 (BF16), 0x7C00 (F16).
            bool infinite = brain ? (bits & 0x7FFF) == 0x7F80 : (bits & 0x7FFF) == 0x7C00;
            if (infinite && float.IsFinite(v))
                throw new OverflowException(FormattableString.Invariant(
                    $"Tensor '{name}' holds {v:R} at flat index {i}, which overflows {SafeTensorsElementTypes.GetName(elementType)} (largest finite value {(brain ? BFloat16MaxValue : (float)Half.MaxValue):R}); it would be stored as infinity. Store it as F32 (the default) or bring the value into range. Nothing was written."));
            bytes[2 * i] = (byte)bits;
            bytes[2 * i + 1] = (byte)(bits >> 8);
        }
        return bytes;
    }
}
