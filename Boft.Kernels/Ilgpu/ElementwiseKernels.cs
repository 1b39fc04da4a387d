// Element-wise utilities: fill, in-place scale, ReLU forward and backward (gradInput OVERWRITTEN; may alias gradOutput).
// ReLU on 16-bit tensors works on the raw bits (exact: max(x, 0) of a 16-bit value is a 16-bit value), like the SIMD backend:
// a negative number (−0 included) becomes +0, a NaN is kept; the backward passes gradOutput's bits where input > 0 (sign clear,
// not zero, not NaN) and +0 elsewhere. The kernels take the type's +infinity bits (bf16 0x7F80, fp16 0x7C00) as a parameter.
// Grid-stride loops over explicitly grouped launches: one kernel shape for every accelerator, coalesced on GPUs.
// Docs: docs/03_Kernels/elementwise.md

using System.Diagnostics.CodeAnalysis;
using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>Device code of the element-wise ops.</summary>
internal static class ElementwiseKernels
{
    /// <summary>x[i] = value, for float32 values and 16-bit bits (the host rounds the value to the type once).</summary>
    internal static void FillKernel<T>(ArrayView<T> x, int length, T value)
        where T : unmanaged
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < length; i += stride)
            x[i] = value;
    }

    /// <summary>x[i] *= factor.</summary>
    internal static void ScaleKernel(ArrayView<float> x, int length, float factor)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < length; i += stride)
            x[i] *= factor;
    }

    /// <summary>output[i] = max(input[i], 0).</summary>
    internal static void ReluKernel(ArrayView<float> input, ArrayView<float> output, int length)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < length; i += stride)
        {
            float v = input[i];
            output[i] = v > 0f ? v : 0f;
        }
    }

    /// <summary>gradInput[i] = input[i] &gt; 0 ? gradOutput[i] : 0.</summary>
    internal static void ReluBackwardKernel(ArrayView<float> input, ArrayView<float> gradOutput, ArrayView<float> gradInput, int length)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < length; i += stride)
            gradInput[i] = input[i] > 0f ? gradOutput[i] : 0f;
    }

    /// <summary>ReLU on 16-bit bits: output[i] = +0 when input[i] is negative (−0 included) and not NaN, else input[i]
    /// (<paramref name="infinity"/>: the +infinity bits of the type; larger magnitudes are NaN).</summary>
    internal static void ReluBitsKernel(ArrayView<ushort> input, ArrayView<ushort> output, int length, int infinity)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < length; i += stride)
        {
            int value = input[i];
            bool negative = (value & 0x8000) != 0, nan = (value & 0x7FFF) > infinity;
            output[i] = negative && !nan ? (ushort)0 : (ushort)value;
        }
    }

    /// <summary>ReLU's backward on 16-bit bits: gradInput[i] = input[i] &gt; 0 ? gradOutput[i] : +0 (input &gt; 0: sign clear,
    /// not zero, not NaN, i.e. 0 &lt; bits ≤ <paramref name="infinity"/>).</summary>
    internal static void ReluBackwardBitsKernel(ArrayView<ushort> input, ArrayView<ushort> gradOutput, ArrayView<ushort> gradInput, int length, int infinity)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < length; i += stride)
        {
            int value = input[i];
            gradInput[i] = value != 0 && value <= infinity ? gradOutput[i] : (ushort)0;
        }
    }
}

/// <summary>Launchers of the element-wise ops.</summary>
public sealed partial class BoftKernels
{
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, float> fill;
    private Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, int, ushort>? fillBits;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, float> scale;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int> relu;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> reluBackward;
    private Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<ushort>, int, int>? reluBits;
    private Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, int, int>? reluBackwardBits;

    [MemberNotNull(nameof(fill), nameof(scale), nameof(relu), nameof(reluBackward))]
    private void InitializeElementwise()
    {
        fill = Accelerator.LoadKernel<ArrayView<float>, int, float>(ElementwiseKernels.FillKernel<float>);
        scale = Accelerator.LoadKernel<ArrayView<float>, int, float>(ElementwiseKernels.ScaleKernel);
        relu = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.ReluKernel);
        reluBackward = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.ReluBackwardKernel);
    }

    /// <summary>Sets every element of <paramref name="values"/> to <paramref name="value"/>.</summary>
    /// <param name="values">Any view of this accelerator.</param>
    /// <param name="value">The value.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="BackendMismatchException">The view or the stream belongs to another accelerator.</exception>
    public void Fill(ArrayView<float> values, float value, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        Owned(values, nameof(values));
        FillCore(values, value, s);
    }

    /// <summary>Multiplies every element of <paramref name="values"/> by <paramref name="factor"/> in place.</summary>
    /// <param name="values">Any view of this accelerator.</param>
    /// <param name="factor">The factor.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="BackendMismatchException">The view or the stream belongs to another accelerator.</exception>
    public void Scale(ArrayView<float> values, float factor, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(values, nameof(values));
        if (n > 0)
            scale(s, ElementwiseConfig(n), values, n, factor);
    }

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/> (same length) on the stream.</summary>
    /// <param name="source">The source.</param>
    /// <param name="destination">The destination.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Copy(ArrayView<float> source, ArrayView<float> destination, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(source, nameof(source));
        RequireLength(destination, nameof(destination), n, ShapeChecks.LikeShape(n, nameof(source)));
        if (n > 0)
            source.CopyTo(s, destination);
    }

    /// <summary><c>output = max(input, 0)</c>; <paramref name="output"/> may alias <paramref name="input"/>.</summary>
    /// <param name="input">Any length.</param>
    /// <param name="output">Same length.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Relu(ArrayView<float> input, ArrayView<float> output, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(input, nameof(input));
        RequireLength(output, nameof(output), n, ShapeChecks.LikeShape(n, nameof(input)));
        if (n > 0)
            relu(s, ElementwiseConfig(n), input, output, n);
    }

    /// <summary><c>gradInput = gradOutput ⊙ [input &gt; 0]</c> (overwritten); may alias <paramref name="gradOutput"/>.</summary>
    /// <param name="input">The forward's input (or output).</param>
    /// <param name="gradOutput">Same length.</param>
    /// <param name="gradInput">Same length.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void ReluBackward(ArrayView<float> input, ArrayView<float> gradOutput, ArrayView<float> gradInput, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(input, nameof(input));
        RequireLength(gradOutput, nameof(gradOutput), n, ShapeChecks.LikeShape(n, nameof(input)));
        RequireLength(gradInput, nameof(gradInput), n, ShapeChecks.LikeShape(n, nameof(input)));
        if (n > 0)
            reluBackward(s, ElementwiseConfig(n), input, gradOutput, gradInput, n);
    }

    /// <summary>Sets every element of a 16-bit view to <paramref name="value"/> rounded once to <paramref name="elementType"/> (RNE).</summary>
    /// <param name="values">Raw 16-bit elements of this accelerator.</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="value">The value.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Fill(ArrayView<ushort> values, ElementType elementType, float value, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(values, nameof(values));
        ushort bits = ElementConversions.FromSingle(value, RequireSixteenBit(elementType));
        fillBits ??= Accelerator.LoadKernel<ArrayView<ushort>, int, ushort>(ElementwiseKernels.FillKernel<ushort>);
        if (n > 0)
            fillBits(s, ElementwiseConfig(n), values, n, bits);
    }

    /// <summary>Copies a 16-bit view into another of the same length on the stream (the bits, unchanged).</summary>
    /// <param name="source">The source bits.</param>
    /// <param name="destination">The destination (same length).</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Copy(ArrayView<ushort> source, ArrayView<ushort> destination, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(source, nameof(source));
        RequireLength(destination, nameof(destination), n, ShapeChecks.LikeShape(n, nameof(source)));
        if (n > 0)
            source.CopyTo(s, destination);
    }

    /// <summary><c>output = max(input, 0)</c> on 16-bit bits of <paramref name="elementType"/> (exact: a negative value, −0 included,
    /// becomes +0; a NaN is kept); <paramref name="output"/> may alias <paramref name="input"/>.</summary>
    /// <param name="input">Raw 16-bit elements, any length.</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="output">Same length.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Relu(ArrayView<ushort> input, ElementType elementType, ArrayView<ushort> output, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int infinity = InfinityBits(elementType);
        int n = Owned(input, nameof(input));
        RequireLength(output, nameof(output), n, ShapeChecks.LikeShape(n, nameof(input)));
        reluBits ??= Accelerator.LoadKernel<ArrayView<ushort>, ArrayView<ushort>, int, int>(ElementwiseKernels.ReluBitsKernel);
        if (n > 0)
            reluBits(s, ElementwiseConfig(n), input, output, n, infinity);
    }

    /// <summary><c>gradInput = input &gt; 0 ? gradOutput : +0</c> (overwritten) on 16-bit bits of <paramref name="elementType"/> (exact);
    /// may alias <paramref name="gradOutput"/>.</summary>
    /// <param name="input">The forward's input (or output), raw 16-bit elements.</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="gradOutput">Same length.</param>
    /// <param name="gradInput">Same length.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void ReluBackward(ArrayView<ushort> input, ElementType elementType, ArrayView<ushort> gradOutput, ArrayView<ushort> gradInput, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int infinity = InfinityBits(elementType);
        int n = Owned(input, nameof(input));
        RequireLength(gradOutput, nameof(gradOutput), n, ShapeChecks.LikeShape(n, nameof(input)));
        RequireLength(gradInput, nameof(gradInput), n, ShapeChecks.LikeShape(n, nameof(input)));
        reluBackwardBits ??= Accelerator.LoadKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, int, int>(ElementwiseKernels.ReluBackwardBitsKernel);
        if (n > 0)
            reluBackwardBits(s, ElementwiseConfig(n), input, gradOutput, gradInput, n, infinity);
    }

    /// <summary>The bits of +infinity of a 16-bit type (larger magnitudes, sign bit aside, are NaN).</summary>
    private static int InfinityBits(ElementType elementType) => RequireSixteenBit(elementType) == ElementType.BFloat16 ? 0x7F80 : 0x7C00;

    private void FillCore(ArrayView<float> values, float value, AcceleratorStream stream)
    {
        int n = (int)values.Length;
        if (n > 0)
            fill(stream, ElementwiseConfig(n), values, n, value);
    }
}
