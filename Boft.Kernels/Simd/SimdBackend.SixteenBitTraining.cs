// The SIMD backend's 16-bit training ops beyond the adapter's forward and backward (docs/09_Mixed-precision.md):
//   * ScaleBias with 16-bit activations and a float32 (trainable, master) bias;
//   * LinearBackwardWeight with 16-bit activations into a float32 gradient (full finetuning of a 16-bit plain Linear);
//   * ReLU and its backward on 16-bit tensors, on the bits (exact: max(x, 0) of a 16-bit value is a 16-bit value);
//   * Convert between element types (the model's entry into and exit from its 16-bit region, master → working weight).
// Like the ops of SimdBackend.SixteenBit.cs (whose chunk helpers and scratch pool these share), the float32 kernels run
// unchanged on chunks of rows widened (exactly) into pooled float32 scratch, and each 16-bit result is rounded once (RNE).
// (ScaleBias with a float32 bias is ScaleBiasSixteenBit's; Merge of a 16-bit weight is the rotation's own tiled 16-bit path.)

using System.Numerics;
using System.Runtime.InteropServices;
using Boft.Backends;

namespace Boft.Kernels.Simd;

public sealed partial class SimdBackend
{
    /// <summary><c>gradWeight += gradOutputᵀ · input</c> over 16-bit rows: each chunk's float32 GEMM accumulates into the float32
    /// gradient, so the sum over rows is float32 throughout (chunk order fixed: deterministic).</summary>
    private void LinearBackwardWeightSixteenBit(SimdTensor gradOutput, SimdTensor input, SimdTensor gradWeight, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        int columns = Math.Max(inFeatureCount, outFeatureCount);
        WithScratch(2, (long)Math.Min(rowCount, ChunkRows(columns)) * columns, s => ForChunks(rowCount, columns, (row0, rows) =>
        {
            WidenRows(gradOutput, row0, rows, outFeatureCount, s[0]);
            WidenRows(input, row0, rows, inFeatureCount, s[1]);
            LinearBackwardWeightCore(s[0], s[1], gradWeight, rows, inFeatureCount, outFeatureCount);
        }));
    }

    /// <summary>The bits of +infinity of a 16-bit type (larger magnitudes, sign bit aside, are NaN).</summary>
    private static ushort InfinityBits(ElementType type) => type == ElementType.BFloat16 ? (ushort)0x7F80 : (ushort)0x7C00;

    /// <summary>ReLU on 16-bit bits, like the reference's <c>Math.Max(x, 0)</c>: a negative number (−0 included) becomes +0, a
    /// NaN stays the same NaN, everything else is kept.</summary>
    private static void ReluSixteenBit(SimdTensor input, SimdTensor output)
    {
        ReadOnlySpan<ushort> x = input.Bits;
        Span<ushort> y = output.Bits;
        ushort infinity = InfinityBits(input.ElementType);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var sign = new Vector<ushort>(0x8000);
            var magnitude = new Vector<ushort>(0x7FFF);
            var inf = new Vector<ushort>(infinity);
            ReadOnlySpan<Vector<ushort>> xv = MemoryMarshal.Cast<ushort, Vector<ushort>>(x);
            Span<Vector<ushort>> yv = MemoryMarshal.Cast<ushort, Vector<ushort>>(y);
            for (int v = 0; v < xv.Length; v++)
            {
                Vector<ushort> value = xv[v];
                Vector<ushort> negative = Vector.Equals(value & sign, sign);
                Vector<ushort> nan = Vector.GreaterThan(value & magnitude, inf);
                yv[v] = Vector.AndNot(value, Vector.AndNot(negative, nan));
            }
            i = xv.Length * Vector<ushort>.Count;
        }
        for (; i < x.Length; i++)
        {
            ushort value = x[i];
            bool negative = (value & 0x8000) != 0, nan = (value & 0x7FFF) > infinity;
            y[i] = negative && !nan ? (ushort)0 : value;
        }
    }

    /// <summary>ReLU's backward on 16-bit bits: <c>gradInput = input &gt; 0 ? gradOutput : +0</c> (input &gt; 0: sign clear, not zero,
    /// not NaN).</summary>
    private static void ReluBackwardSixteenBit(SimdTensor input, SimdTensor gradOutput, SimdTensor gradInput)
    {
        ReadOnlySpan<ushort> x = input.Bits, g = gradOutput.Bits;
        Span<ushort> gx = gradInput.Bits;
        ushort infinity = InfinityBits(input.ElementType);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var inf = new Vector<ushort>(infinity);
            ReadOnlySpan<Vector<ushort>> xv = MemoryMarshal.Cast<ushort, Vector<ushort>>(x), gv = MemoryMarshal.Cast<ushort, Vector<ushort>>(g);
            Span<Vector<ushort>> gxv = MemoryMarshal.Cast<ushort, Vector<ushort>>(gx);
            for (int v = 0; v < xv.Length; v++)
            {
                Vector<ushort> value = xv[v];
                Vector<ushort> positive = Vector.AndNot(Vector.LessThanOrEqual(value, inf), Vector.Equals(value, Vector<ushort>.Zero));
                gxv[v] = gv[v] & positive;
            }
            i = xv.Length * Vector<ushort>.Count;
        }
        for (; i < x.Length; i++)
        {
            ushort value = x[i];
            gx[i] = value != 0 && value <= infinity ? g[i] : (ushort)0;
        }
    }

    /// <inheritdoc />
    protected override void ConvertCore(Tensor source, Tensor destination)
    {
        SimdTensor from = T(source), to = T(destination);
        if (from.ElementType == ElementType.Float32)
        {
            ElementConversions.Narrow(from.Span, to.ElementType, to.Bits);
        }
        else if (to.ElementType == ElementType.Float32)
        {
            ElementConversions.Widen(from.Bits, from.ElementType, to.Span);
        }
        else
        {
            // bf16 ↔ fp16: widen exactly, round once, a bounded chunk at a time.
            int length = from.Length;
            WithScratch(1, Math.Min(length, ChunkFloats), s =>
            {
                for (int start = 0; start < length; start += ChunkFloats)
                {
                    int count = Math.Min(ChunkFloats, length - start);
                    ElementConversions.Widen(from.Bits.Slice(start, count), from.ElementType, s[0].Span);
                    ElementConversions.Narrow(s[0].Span[..count], to.ElementType, to.Bits.Slice(start, count));
                }
            });
        }
    }
}
