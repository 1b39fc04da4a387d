// How a kernel loads and stores the elements of an activation tensor (docs/09_Mixed-precision.md): the kernels are generic
// over a storage type TStore (float, or ushort for both 16-bit types) and a codec struct that widens each loaded element to
// float32 in a register and rounds each stored float32 once. Every sum in between stays float32. ILGPU 1.5.3 has no bfloat16
// type, so both 16-bit types travel as raw ushort bits and convert with integer arithmetic only: the same bits on the CPU
// simulator and in PTX, and exactly Boft.Backends.ElementConversions (checked on all 65 536 patterns by the tests):
//   bf16 widen  bits << 16                           bf16 narrow  RNE on the integer bits, NaN → quiet NaN of the same sign
//   fp16 widen  exact (subnormals via one exact      fp16 narrow  RNE with subnormals, overflow → ±infinity,
//               float multiply by 2^-24)                          NaN → sign | 0x7E00 | mantissa >> 13 (as System.Half does)
// The float32 codec is the identity, so fp32, bf16 and fp16 share one kernel body.

using System.Runtime.CompilerServices;
using ILGPU;

namespace Boft.Kernels.Ilgpu;

/// <summary>Widens a stored element to float32 and rounds a float32 to the storage type (both per element, in registers).</summary>
/// <typeparam name="TStore">The storage type of the elements.</typeparam>
internal interface IElementCodec<TStore>
    where TStore : unmanaged
{
    /// <summary>The stored element as float32 (exact).</summary>
    float Widen(TStore value);

    /// <summary>A float32 rounded once to the storage type (round to nearest, ties to even).</summary>
    TStore Narrow(float value);
}

/// <summary>float32 storage: the identity.</summary>
internal readonly struct Float32Codec : IElementCodec<float>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Widen(float value) => value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Narrow(float value) => value;
}

/// <summary>bfloat16 stored as its raw bits.</summary>
internal readonly struct BFloat16Codec : IElementCodec<ushort>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Widen(ushort value) => Interop.IntAsFloat((uint)value << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort Narrow(float value) => ElementBits.SingleToBFloat16(Interop.FloatAsInt(value));
}

/// <summary>float16 stored as its raw bits.</summary>
internal readonly struct Float16Codec : IElementCodec<ushort>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Widen(ushort value) => ElementBits.Float16ToSingle(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort Narrow(float value) => ElementBits.SingleToFloat16(Interop.FloatAsInt(value));
}

/// <summary>The integer-only 16-bit conversions the codecs use (valid in kernels and on the host).</summary>
internal static class ElementBits
{
    /// <summary>float32 bits → bfloat16 bits, RNE; a NaN keeps its sign and upper payload and becomes quiet.</summary>
    public static ushort SingleToBFloat16(uint bits)
    {
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u)
            return (ushort)((bits >> 16) | 0x0040u);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }

    /// <summary>float16 bits → float32 (exact); a NaN keeps its payload and becomes quiet (as the F16C and PTX conversions do).</summary>
    public static float Float16ToSingle(ushort value)
    {
        uint h = value;
        uint sign = (h & 0x8000u) << 16;
        uint exponent = (h >> 10) & 0x1Fu;
        uint mantissa = h & 0x3FFu;
        if (exponent == 0x1Fu)
            return Interop.IntAsFloat(sign | 0x7F80_0000u | (mantissa << 13) | (mantissa != 0 ? 0x0040_0000u : 0u));
        if (exponent == 0)
        {
            // Zero or subnormal: mantissa · 2^-24, exact in float32 (both factors are exact, the product is normal).
            float magnitude = mantissa * 5.9604644775390625E-8f;
            return Interop.IntAsFloat(sign | Interop.FloatAsInt(magnitude));
        }
        return Interop.IntAsFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    }

    /// <summary>float32 bits → float16 bits, RNE (subnormals included); overflow → ±infinity; NaN → quiet NaN.</summary>
    public static ushort SingleToFloat16(uint bits)
    {
        uint sign = (bits >> 16) & 0x8000u;
        uint magnitude = bits & 0x7FFF_FFFFu;
        if (magnitude > 0x7F80_0000u)
            return (ushort)(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
        if (magnitude >= 0x477F_F000u) // ≥ 65520 (the tie above 65504 rounds to even, i.e. up): infinity
            return (ushort)(sign | 0x7C00u);
        if (magnitude >= 0x3880_0000u) // ≥ 2^-14: a normal float16; rebias the exponent, round 13 bits away
        {
            uint rebased = magnitude - 0x3800_0000u;
            return (ushort)(sign | ((rebased + 0x0FFFu + ((rebased >> 13) & 1u)) >> 13));
        }
        if (magnitude <= 0x3300_0000u) // ≤ 2^-25: rounds to zero (2^-25 itself is the tie, to even)
            return (ushort)sign;
        // Subnormal: round(value · 2^24) = significand · 2^(e − 126) with e = 102..112, a right shift by 14..24.
        int shift = 126 - (int)(magnitude >> 23);
        uint significand = (magnitude & 0x007F_FFFFu) | 0x0080_0000u;
        uint quotient = significand >> shift;
        uint remainder = significand & ((1u << shift) - 1u);
        uint half = 1u << (shift - 1);
        if (remainder > half || (remainder == half && (quotient & 1u) != 0))
            quotient++;
        return (ushort)(sign | quotient);
    }
}
