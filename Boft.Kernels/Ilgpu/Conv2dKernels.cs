// The frozen 2-D convolution as ILGPU kernels (NCHW; groups; per-axis stride, padding and dilation; any kernel size), by
// implicit GEMM without materialising the patch matrix: every output element is one dot product of length
// K = (C_in/G)·kh·kw whose patch operand is gathered from x on the fly. Three kernels, one thread per result element
// (grid-stride loops, explicitly grouped launches, no shared memory, no atomics, sums in a fixed order: deterministic):
//   ForwardKernel         y[n, o, oh, ow] (=)  bias[o] + Σ_(c,i,j) W[o, c, i, j]·x[n, g·cg + c, oh·sh − ph + i·dh, ow·sw − pw + j·dw]
//   BackwardInputKernel   gx[n, c, h, w]  (=)  Σ over every (o, i, j) whose tap reads (h, w): W[o, c, i, j]·gy[n, o, oh, ow]
//   BackwardWeightKernel  gW[o, c, i, j] (+=) Σ_(n, oh, ow) gy[n, o, oh, ow]·x[...]
// plus BiasGradKernel (gb[o] += Σ gy) and RowScaleBackwardKernel (the conv adapters' per-row boft_s backward).
// Threads along ow touch neighbouring addresses of x and y (coalesced on GPUs); the weight is broadcast.
// 16-bit images (docs/09_Mixed-precision.md): the kernels are generic over the images' storage codec (ElementCodecs.cs) and, for
// the forward and the input gradient, over the weight's and the bias's (float32, e.g. the adapters' merged W', or frozen in the
// images' 16-bit type): every operand is widened as loaded, every sum is float32, each 16-bit output is rounded once (RNE), and
// the weight and bias gradients are float32.
// Docs: docs/03_Kernels/conv2d.md

using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>Geometry of a convolution launch (see <see cref="Conv2dShape"/>).</summary>
internal struct ConvParams
{
    public int Batch;
    public int InChannels;
    public int Height;
    public int Width;
    public int OutChannels;
    public int OutHeight;
    public int OutWidth;
    public int KernelHeight;
    public int KernelWidth;
    public int StrideHeight;
    public int StrideWidth;
    public int PadHeight;
    public int PadWidth;
    public int DilationHeight;
    public int DilationWidth;
    public int GroupInChannels;
    public int GroupOutChannels;
    public int HasBias;

    public static ConvParams Of(Conv2dShape shape, int batch, bool hasBias) => new()
    {
        Batch = batch,
        InChannels = shape.InChannels,
        Height = shape.InputHeight,
        Width = shape.InputWidth,
        OutChannels = shape.OutChannels,
        OutHeight = shape.OutputHeight,
        OutWidth = shape.OutputWidth,
        KernelHeight = shape.KernelHeight,
        KernelWidth = shape.KernelWidth,
        StrideHeight = shape.StrideHeight,
        StrideWidth = shape.StrideWidth,
        PadHeight = shape.PaddingHeight,
        PadWidth = shape.PaddingWidth,
        DilationHeight = shape.DilationHeight,
        DilationWidth = shape.DilationWidth,
        GroupInChannels = shape.GroupInChannels,
        GroupOutChannels = shape.GroupOutChannels,
        HasBias = hasBias ? 1 : 0,
    };
}

/// <summary>Device code of the convolution (see the file header).</summary>
internal static class Conv2dKernels
{
    /// <summary>One thread per output element: the implicit-GEMM dot product over (c, i, j), plus the bias.</summary>
    /// <remarks>Images of TStore, the weight of TWeight and the bias of TBias (each float32 or 16-bit), widened as loaded; the sum is
    /// float32 and each output is rounded once to TStore.</remarks>
    internal static void ForwardKernel<TStore, TCodec, TWeight, TWeightCodec, TBias, TBiasCodec>(ArrayView<TStore> x, ArrayView<TWeight> w, ArrayView<TBias> bias,
        ArrayView<TStore> y, ConvParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
        where TWeight : unmanaged
        where TWeightCodec : struct, IElementCodec<TWeight>
        where TBias : unmanaged
        where TBiasCodec : struct, IElementCodec<TBias>
    {
        int total = p.Batch * p.OutChannels * p.OutHeight * p.OutWidth;
        int stride = Grid.DimX * Group.DimX;
        for (int index = Grid.IdxX * Group.DimX + Group.IdxX; index < total; index += stride)
        {
            int ow = index % p.OutWidth;
            int rest = index / p.OutWidth;
            int oh = rest % p.OutHeight;
            rest /= p.OutHeight;
            int o = rest % p.OutChannels;
            int n = rest / p.OutChannels;
            int g = o / p.GroupOutChannels;
            float acc = p.HasBias != 0 ? default(TBiasCodec).Widen(bias[o]) : 0f;
            for (int c = 0; c < p.GroupInChannels; c++)
            {
                int plane = (n * p.InChannels + g * p.GroupInChannels + c) * p.Height;
                int filter = (o * p.GroupInChannels + c) * p.KernelHeight;
                for (int i = 0; i < p.KernelHeight; i++)
                {
                    int h = oh * p.StrideHeight - p.PadHeight + i * p.DilationHeight;
                    if (h < 0 || h >= p.Height)
                        continue;
                    for (int j = 0; j < p.KernelWidth; j++)
                    {
                        int col = ow * p.StrideWidth - p.PadWidth + j * p.DilationWidth;
                        if (col < 0 || col >= p.Width)
                            continue;
                        acc += default(TWeightCodec).Widen(w[(filter + i) * p.KernelWidth + j]) * default(TCodec).Widen(x[(plane + h) * p.Width + col]);
                    }
                }
            }
            y[index] = default(TCodec).Narrow(acc);
        }
    }

    /// <summary>One thread per input element: the transposed convolution, summed over (o, i, j) in a fixed order (overwrites).</summary>
    /// <remarks>Gradients of TStore, the weight of TWeight; float32 sums, one rounding per gradInput element.</remarks>
    internal static void BackwardInputKernel<TStore, TCodec, TWeight, TWeightCodec>(ArrayView<TStore> gy, ArrayView<TWeight> w, ArrayView<TStore> gx, ConvParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
        where TWeight : unmanaged
        where TWeightCodec : struct, IElementCodec<TWeight>
    {
        int total = p.Batch * p.InChannels * p.Height * p.Width;
        int stride = Grid.DimX * Group.DimX;
        for (int index = Grid.IdxX * Group.DimX + Group.IdxX; index < total; index += stride)
        {
            int col = index % p.Width;
            int rest = index / p.Width;
            int h = rest % p.Height;
            rest /= p.Height;
            int channel = rest % p.InChannels;
            int n = rest / p.InChannels;
            int g = channel / p.GroupInChannels;
            int c = channel - g * p.GroupInChannels;
            float acc = 0f;
            for (int ol = 0; ol < p.GroupOutChannels; ol++)
            {
                int o = g * p.GroupOutChannels + ol;
                int outPlane = (n * p.OutChannels + o) * p.OutHeight;
                int filter = (o * p.GroupInChannels + c) * p.KernelHeight;
                for (int i = 0; i < p.KernelHeight; i++)
                {
                    int hh = h + p.PadHeight - i * p.DilationHeight;
                    if (hh < 0 || hh % p.StrideHeight != 0)
                        continue;
                    int oh = hh / p.StrideHeight;
                    if (oh >= p.OutHeight)
                        continue;
                    for (int j = 0; j < p.KernelWidth; j++)
                    {
                        int ww = col + p.PadWidth - j * p.DilationWidth;
                        if (ww < 0 || ww % p.StrideWidth != 0)
                            continue;
                        int ow = ww / p.StrideWidth;
                        if (ow >= p.OutWidth)
                            continue;
                        acc += default(TWeightCodec).Widen(w[(filter + i) * p.KernelWidth + j]) * default(TCodec).Widen(gy[(outPlane + oh) * p.OutWidth + ow]);
                    }
                }
            }
            gx[index] = default(TCodec).Narrow(acc);
        }
    }

    /// <summary>One thread per weight element: Σ over images and output pixels in order (accumulates).</summary>
    /// <remarks>Images and gradients of TStore, widened as loaded; the weight gradient is float32 (summed and accumulated unrounded).</remarks>
    internal static void BackwardWeightKernel<TStore, TCodec>(ArrayView<TStore> gy, ArrayView<TStore> x, ArrayView<float> gw, ConvParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        int total = p.OutChannels * p.GroupInChannels * p.KernelHeight * p.KernelWidth;
        int stride = Grid.DimX * Group.DimX;
        for (int index = Grid.IdxX * Group.DimX + Group.IdxX; index < total; index += stride)
        {
            int j = index % p.KernelWidth;
            int rest = index / p.KernelWidth;
            int i = rest % p.KernelHeight;
            rest /= p.KernelHeight;
            int c = rest % p.GroupInChannels;
            int o = rest / p.GroupInChannels;
            int g = o / p.GroupOutChannels;
            float acc = 0f;
            for (int n = 0; n < p.Batch; n++)
            {
                int plane = (n * p.InChannels + g * p.GroupInChannels + c) * p.Height;
                int outPlane = (n * p.OutChannels + o) * p.OutHeight;
                for (int oh = 0; oh < p.OutHeight; oh++)
                {
                    int h = oh * p.StrideHeight - p.PadHeight + i * p.DilationHeight;
                    if (h < 0 || h >= p.Height)
                        continue;
                    for (int ow = 0; ow < p.OutWidth; ow++)
                    {
                        int col = ow * p.StrideWidth - p.PadWidth + j * p.DilationWidth;
                        if (col < 0 || col >= p.Width)
                            continue;
                        acc += default(TCodec).Widen(gy[(outPlane + oh) * p.OutWidth + ow]) * default(TCodec).Widen(x[(plane + h) * p.Width + col]);
                    }
                }
            }
            gw[index] += acc;
        }
    }

    /// <summary>One thread per output channel: gb[o] += Σ_(n, pixel) gy (accumulates).</summary>
    /// <remarks>gy of TStore, widened as loaded; the bias gradient is float32.</remarks>
    internal static void BiasGradKernel<TStore, TCodec>(ArrayView<TStore> gy, ArrayView<float> gb, ConvParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        int pixels = p.OutHeight * p.OutWidth;
        int stride = Grid.DimX * Group.DimX;
        for (int o = Grid.IdxX * Group.DimX + Group.IdxX; o < p.OutChannels; o += stride)
        {
            float acc = 0f;
            for (int n = 0; n < p.Batch; n++)
            {
                int start = (n * p.OutChannels + o) * pixels;
                for (int t = 0; t < pixels; t++)
                    acc += default(TCodec).Widen(gy[start + t]);
            }
            gb[o] += acc;
        }
    }

    /// <summary>One thread per row r: gradScale[r] += Σ_t gradOutput·input; gradInput[r, :] = scale[r]·gradOutput[r, :] (flags: 1 = gradInput, 2 = gradScale).</summary>
    internal static void RowScaleBackwardKernel(ArrayView<float> input, ArrayView<float> scale, ArrayView<float> gradOutput, ArrayView<float> gradInput,
        ArrayView<float> gradScale, int rows, int columns, int flags)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int r = Grid.IdxX * Group.DimX + Group.IdxX; r < rows; r += stride)
        {
            float s = scale[r];
            float dot = 0f;
            for (int t = 0; t < columns; t++)
            {
                int index = r * columns + t;
                float g = gradOutput[index];
                dot += g * input[index];
                if ((flags & 1) != 0)
                    gradInput[index] = s * g;
            }
            if ((flags & 2) != 0)
                gradScale[r] += dot;
        }
    }
}

/// <summary>Launchers of the convolution kernels (loaded on first use).</summary>
public sealed partial class BoftKernels
{
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>? convForward;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>? convBackwardInput;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>? convBackwardWeight;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ConvParams>? convBiasGrad;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? rowScaleBackward;

    /// <summary>The 16-bit conv launchers, loaded on first use, by kernel name, image type and the weight's and bias's storage types.</summary>
    private readonly Dictionary<(string Kernel, ElementType Type, Type Weight, Type Bias), Delegate> convSixteenBit = [];

    [MemberNotNull(nameof(convForward), nameof(convBackwardInput), nameof(convBackwardWeight), nameof(convBiasGrad), nameof(rowScaleBackward))]
    private void EnsureConvKernels()
    {
        convForward ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>(
            Conv2dKernels.ForwardKernel<float, Float32Codec, float, Float32Codec, float, Float32Codec>);
        convBackwardInput ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>(Conv2dKernels.BackwardInputKernel<float, Float32Codec, float, Float32Codec>);
        convBackwardWeight ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvParams>(Conv2dKernels.BackwardWeightKernel<float, Float32Codec>);
        convBiasGrad ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ConvParams>(Conv2dKernels.BiasGradKernel<float, Float32Codec>);
        rowScaleBackward ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(Conv2dKernels.RowScaleBackwardKernel);
    }

    /// <summary>The codec of a conv operand stored as <paramref name="storage"/> beside images of the 16-bit <paramref name="type"/>.</summary>
    private static Type ConvCodec(Type storage, ElementType type) =>
        storage == typeof(float) ? typeof(Float32Codec) : type == ElementType.BFloat16 ? typeof(BFloat16Codec) : typeof(Float16Codec);

    /// <summary>A 16-bit conv kernel: <paramref name="kernel"/> closed over (ushort, the images' codec) and, when given, the weight's and
    /// the bias's storage and codec; loaded on first use and cached.</summary>
    private TLauncher ConvSixteenBitKernel<TAction, TLauncher>(string kernel, ElementType type, Type? weight, Type? bias, Func<TAction, TLauncher> load)
        where TAction : Delegate
        where TLauncher : Delegate
    {
        ThrowIfDisposed();
        var key = (kernel, type, weight ?? typeof(void), bias ?? typeof(void));
        if (!convSixteenBit.TryGetValue(key, out Delegate? launcher))
        {
            var arguments = new List<Type> { typeof(ushort), ConvCodec(typeof(ushort), type) };
            if (weight is not null)
                arguments.AddRange([weight, ConvCodec(weight, type)]);
            if (bias is not null)
                arguments.AddRange([bias, ConvCodec(bias, type)]);
            MethodInfo method = typeof(Conv2dKernels).GetMethod(kernel, BindingFlags.Static | BindingFlags.NonPublic)!.MakeGenericMethod([.. arguments]);
            launcher = load((TAction)method.CreateDelegate(typeof(TAction)));
            convSixteenBit[key] = launcher;
        }
        return (TLauncher)launcher;
    }

    /// <summary><c>output = conv2d(input, weight) + bias</c> (NCHW; see <see cref="BoftBackend.Conv2d"/>).</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="input">[N, C_in, H, W], N ≥ 0 from its length.</param>
    /// <param name="weight">[C_out, C_in/G, kh, kw].</param>
    /// <param name="bias">[C_out], or <c>default</c> for none.</param>
    /// <param name="output">Overwritten. [N, C_out, H_out, W_out].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Conv2d(Conv2dShape shape, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> output, AcceleratorStream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        (int batch, bool hasBias) = CheckConvForward(shape, input, weight, bias, output);
        if (batch == 0)
            return;
        EnsureConvKernels();
        convForward(s, ElementwiseConfig((long)batch * shape.OutputImageLength), input, weight, hasBias ? bias : None, output, ConvParams.Of(shape, batch, hasBias));
    }

    /// <summary><c>gradInput = ∂L/∂input</c> (overwritten) of <see cref="Conv2d(Conv2dShape, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, AcceleratorStream?)"/>.</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="gradOutput">[N, C_out, H_out, W_out].</param>
    /// <param name="weight">[C_out, C_in/G, kh, kw].</param>
    /// <param name="gradInput">Overwritten. [N, C_in, H, W].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Conv2dBackwardInput(Conv2dShape shape, ArrayView<float> gradOutput, ArrayView<float> weight, ArrayView<float> gradInput, AcceleratorStream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        int batch = CheckConvBackwardInput(shape, gradOutput, weight, gradInput);
        if (batch == 0)
            return;
        EnsureConvKernels();
        convBackwardInput(s, ElementwiseConfig((long)batch * shape.InputImageLength), gradOutput, weight, gradInput, ConvParams.Of(shape, batch, false));
    }

    /// <summary><c>gradWeight += ∂L/∂weight</c>, <c>gradBias += ∂L/∂bias</c> of <see cref="Conv2d(Conv2dShape, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, AcceleratorStream?)"/> (either may be <c>default</c>).</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="gradOutput">[N, C_out, H_out, W_out].</param>
    /// <param name="input">[N, C_in, H, W].</param>
    /// <param name="gradWeight">Accumulated. [C_out, C_in/G, kh, kw], or <c>default</c>.</param>
    /// <param name="gradBias">Accumulated. [C_out], or <c>default</c>.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Conv2dBackwardWeight(Conv2dShape shape, ArrayView<float> gradOutput, ArrayView<float> input, ArrayView<float> gradWeight, ArrayView<float> gradBias,
        AcceleratorStream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        (int batch, bool weightWanted, bool biasWanted) = CheckConvBackwardWeight(shape, gradOutput, input, gradWeight, gradBias);
        if (batch == 0 || (!weightWanted && !biasWanted))
            return;
        EnsureConvKernels();
        ConvParams p = ConvParams.Of(shape, batch, biasWanted);
        if (weightWanted)
            convBackwardWeight(s, ElementwiseConfig(shape.WeightLength), gradOutput, input, gradWeight, p);
        if (biasWanted)
            convBiasGrad(s, ElementwiseConfig(shape.OutChannels), gradOutput, gradBias, p);
    }

    /// <summary>Backward of <c>output[r, t] = scale[r]·input[r, t]</c>: <c>gradInput = diag(scale)·gradOutput</c> (overwritten, may alias
    /// gradOutput), <c>gradScale += Σ_t gradOutput⊙input</c> per row (either may be <c>default</c>).</summary>
    /// <param name="input">[rows, columns].</param>
    /// <param name="scale">[rows].</param>
    /// <param name="gradOutput">[rows, columns].</param>
    /// <param name="columns">Columns per row.</param>
    /// <param name="gradInput">[rows, columns] or <c>default</c>.</param>
    /// <param name="gradScale">[rows] or <c>default</c>.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void RowScaleBackward(ArrayView<float> input, ArrayView<float> scale, ArrayView<float> gradOutput, int columns, ArrayView<float> gradInput, ArrayView<float> gradScale,
        AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        RequirePositive(columns, nameof(columns));
        int rows = RequireRows(input, nameof(input), columns, "rows of the scaled matrix");
        RequireLength(scale, nameof(scale), rows, $"[{rows}] (one per row of input)");
        RequireLength(gradOutput, nameof(gradOutput), (long)rows * columns, ShapeChecks.DeferredRowsOf((long)rows * columns, columns));
        bool wantInput = Optional(gradInput, nameof(gradInput));
        if (wantInput)
        {
            RequireLength(gradInput, nameof(gradInput), (long)rows * columns, ShapeChecks.DeferredRowsOf((long)rows * columns, columns));
            if (Overlap(gradInput, input))
                throw new ArgumentException("gradInput must not overlap input.", nameof(gradInput));
        }
        bool wantScale = Optional(gradScale, nameof(gradScale));
        if (wantScale)
            RequireLength(gradScale, nameof(gradScale), rows, $"[{rows}] (like scale)");
        if (rows == 0 || (!wantInput && !wantScale))
            return;
        EnsureConvKernels();
        rowScaleBackward(s, ElementwiseConfig(rows), input, scale, gradOutput, wantInput ? gradInput : None, wantScale ? gradScale : None, rows, columns,
            (wantInput ? 1 : 0) | (wantScale ? 2 : 0));
    }

    /// <summary><c>output = conv2d(input, weight) + bias</c> over 16-bit images of <paramref name="elementType"/> with a float32 weight and
    /// bias (e.g. the adapters' merged W'): widened as loaded, summed in float32, each output rounded once.</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="input">16-bit. [N, C_in, H, W], N ≥ 0 from its length.</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="weight">Float32. [C_out, C_in/G, kh, kw].</param>
    /// <param name="bias">Float32. [C_out], or <c>default</c> for none.</param>
    /// <param name="output">16-bit, overwritten. [N, C_out, H_out, W_out].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Conv2d(Conv2dShape shape, ArrayView<ushort> input, ElementType elementType, ArrayView<float> weight, ArrayView<float> bias, ArrayView<ushort> output,
        AcceleratorStream? stream = null) =>
        Conv2dSixteenBit(shape, input, elementType, weight, bias, output, stream);

    /// <summary><c>output = conv2d(input, weight) + bias</c> over 16-bit images of <paramref name="elementType"/> with a frozen weight and
    /// bias of the same type: widened as loaded, summed in float32, each output rounded once.</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="input">16-bit. [N, C_in, H, W], N ≥ 0 from its length.</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="weight">16-bit. [C_out, C_in/G, kh, kw].</param>
    /// <param name="bias">16-bit. [C_out], or <c>default</c> for none.</param>
    /// <param name="output">16-bit, overwritten. [N, C_out, H_out, W_out].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Conv2d(Conv2dShape shape, ArrayView<ushort> input, ElementType elementType, ArrayView<ushort> weight, ArrayView<ushort> bias, ArrayView<ushort> output,
        AcceleratorStream? stream = null) =>
        Conv2dSixteenBit(shape, input, elementType, weight, bias, output, stream);

    /// <summary>The 16-bit forward with a weight of TWeight and a bias of TBias (each float or ushort, the latter in the images' type).</summary>
    internal void Conv2dSixteenBit<TWeight, TBias>(Conv2dShape shape, ArrayView<ushort> input, ElementType elementType, ArrayView<TWeight> weight, ArrayView<TBias> bias,
        ArrayView<ushort> output, AcceleratorStream? stream)
        where TWeight : unmanaged
        where TBias : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        RequireSixteenBit(elementType);
        (int batch, bool hasBias) = CheckConvForward(shape, input, weight, bias, output);
        if (batch == 0)
            return;
        KernelConfig config = ElementwiseConfig((long)batch * shape.OutputImageLength);
        ConvParams p = ConvParams.Of(shape, batch, hasBias);
        if (hasBias)
            ConvSixteenBitKernel<Action<ArrayView<ushort>, ArrayView<TWeight>, ArrayView<TBias>, ArrayView<ushort>, ConvParams>,
                Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<TWeight>, ArrayView<TBias>, ArrayView<ushort>, ConvParams>>(
                nameof(Conv2dKernels.ForwardKernel), elementType, typeof(TWeight), typeof(TBias), a => Accelerator.LoadKernel(a))(s, config, input, weight, bias, output, p);
        else
            ConvSixteenBitKernel<Action<ArrayView<ushort>, ArrayView<TWeight>, ArrayView<float>, ArrayView<ushort>, ConvParams>,
                Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<TWeight>, ArrayView<float>, ArrayView<ushort>, ConvParams>>(
                nameof(Conv2dKernels.ForwardKernel), elementType, typeof(TWeight), typeof(float), a => Accelerator.LoadKernel(a))(s, config, input, weight, None, output, p);
    }

    /// <summary><c>gradInput = ∂L/∂input</c> (overwritten) of the 16-bit <see cref="Conv2d(Conv2dShape, ArrayView{ushort}, ElementType, ArrayView{float}, ArrayView{float}, ArrayView{ushort}, AcceleratorStream?)"/>
    /// with a float32 weight: summed in float32, each element rounded once.</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="gradOutput">16-bit. [N, C_out, H_out, W_out].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="weight">Float32. [C_out, C_in/G, kh, kw].</param>
    /// <param name="gradInput">16-bit, overwritten. [N, C_in, H, W].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Conv2dBackwardInput(Conv2dShape shape, ArrayView<ushort> gradOutput, ElementType elementType, ArrayView<float> weight, ArrayView<ushort> gradInput,
        AcceleratorStream? stream = null) =>
        Conv2dBackwardInputSixteenBit(shape, gradOutput, elementType, weight, gradInput, stream);

    /// <summary><c>gradInput = ∂L/∂input</c> (overwritten) of the 16-bit conv with a frozen weight of the same 16-bit type: summed in
    /// float32, each element rounded once.</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="gradOutput">16-bit. [N, C_out, H_out, W_out].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="weight">16-bit. [C_out, C_in/G, kh, kw].</param>
    /// <param name="gradInput">16-bit, overwritten. [N, C_in, H, W].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Conv2dBackwardInput(Conv2dShape shape, ArrayView<ushort> gradOutput, ElementType elementType, ArrayView<ushort> weight, ArrayView<ushort> gradInput,
        AcceleratorStream? stream = null) =>
        Conv2dBackwardInputSixteenBit(shape, gradOutput, elementType, weight, gradInput, stream);

    private void Conv2dBackwardInputSixteenBit<TWeight>(Conv2dShape shape, ArrayView<ushort> gradOutput, ElementType elementType, ArrayView<TWeight> weight, ArrayView<ushort> gradInput,
        AcceleratorStream? stream)
        where TWeight : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        RequireSixteenBit(elementType);
        int batch = CheckConvBackwardInput(shape, gradOutput, weight, gradInput);
        if (batch == 0)
            return;
        ConvSixteenBitKernel<Action<ArrayView<ushort>, ArrayView<TWeight>, ArrayView<ushort>, ConvParams>,
            Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<TWeight>, ArrayView<ushort>, ConvParams>>(
            nameof(Conv2dKernels.BackwardInputKernel), elementType, typeof(TWeight), null, a => Accelerator.LoadKernel(a))(
            s, ElementwiseConfig((long)batch * shape.InputImageLength), gradOutput, weight, gradInput, ConvParams.Of(shape, batch, false));
    }

    /// <summary><c>gradWeight += ∂L/∂weight</c>, <c>gradBias += ∂L/∂bias</c> (both float32, either may be <c>default</c>) of the conv over
    /// 16-bit images of <paramref name="elementType"/>: widened as loaded, summed in float32 in a fixed order, never rounded to 16 bits.</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="gradOutput">16-bit. [N, C_out, H_out, W_out].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="input">16-bit. [N, C_in, H, W].</param>
    /// <param name="gradWeight">Float32, accumulated. [C_out, C_in/G, kh, kw], or <c>default</c>.</param>
    /// <param name="gradBias">Float32, accumulated. [C_out], or <c>default</c>.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Conv2dBackwardWeight(Conv2dShape shape, ArrayView<ushort> gradOutput, ElementType elementType, ArrayView<ushort> input, ArrayView<float> gradWeight,
        ArrayView<float> gradBias, AcceleratorStream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        RequireSixteenBit(elementType);
        (int batch, bool weightWanted, bool biasWanted) = CheckConvBackwardWeight(shape, gradOutput, input, gradWeight, gradBias);
        if (batch == 0 || (!weightWanted && !biasWanted))
            return;
        ConvParams p = ConvParams.Of(shape, batch, biasWanted);
        if (weightWanted)
            ConvSixteenBitKernel<Action<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ConvParams>,
                Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ConvParams>>(
                nameof(Conv2dKernels.BackwardWeightKernel), elementType, null, null, a => Accelerator.LoadKernel(a))(
                s, ElementwiseConfig(shape.WeightLength), gradOutput, input, gradWeight, p);
        if (biasWanted)
            ConvSixteenBitKernel<Action<ArrayView<ushort>, ArrayView<float>, ConvParams>, Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<float>, ConvParams>>(
                nameof(Conv2dKernels.BiasGradKernel), elementType, null, null, a => Accelerator.LoadKernel(a))(
                s, ElementwiseConfig(shape.OutChannels), gradOutput, gradBias, p);
    }

    /// <summary>The argument checks of the Conv2d overloads (float32 and 16-bit images, weights and biases): the batch, and whether
    /// there is a bias.</summary>
    private (int Batch, bool HasBias) CheckConvForward<TImage, TWeight, TBias>(Conv2dShape shape, ArrayView<TImage> input, ArrayView<TWeight> weight,
        ArrayView<TBias> bias, ArrayView<TImage> output)
        where TImage : unmanaged
        where TWeight : unmanaged
        where TBias : unmanaged
    {
        int batch = ConvBatch(shape, input, nameof(input), shape.InputImageLength, "[N, C_in, H, W]");
        ConvWeightView(shape, weight, nameof(weight));
        bool hasBias = Optional(bias, nameof(bias));
        if (hasBias)
            RequireLength(bias, nameof(bias), shape.OutChannels, $"[{shape.OutChannels}] (C_out of {shape})");
        RequireLength(output, nameof(output), (long)batch * shape.OutputImageLength, ImagesShape(batch, shape.OutChannels, shape.OutputHeight, shape.OutputWidth));
        return (batch, hasBias);
    }

    /// <summary>The argument checks of the Conv2dBackwardInput overloads: the batch.</summary>
    private int CheckConvBackwardInput<TImage, TWeight>(Conv2dShape shape, ArrayView<TImage> gradOutput, ArrayView<TWeight> weight, ArrayView<TImage> gradInput)
        where TImage : unmanaged
        where TWeight : unmanaged
    {
        int batch = ConvBatch(shape, gradOutput, nameof(gradOutput), shape.OutputImageLength, "[N, C_out, H_out, W_out]");
        ConvWeightView(shape, weight, nameof(weight));
        RequireLength(gradInput, nameof(gradInput), (long)batch * shape.InputImageLength, ImagesShape(batch, shape.InChannels, shape.InputHeight, shape.InputWidth));
        return batch;
    }

    /// <summary>The argument checks of both Conv2dBackwardWeight overloads: the batch, and which gradients are wanted.</summary>
    private (int Batch, bool WeightWanted, bool BiasWanted) CheckConvBackwardWeight<T>(Conv2dShape shape, ArrayView<T> gradOutput, ArrayView<T> input,
        ArrayView<float> gradWeight, ArrayView<float> gradBias)
        where T : unmanaged
    {
        int batch = ConvBatch(shape, gradOutput, nameof(gradOutput), shape.OutputImageLength, "[N, C_out, H_out, W_out]");
        RequireLength(input, nameof(input), (long)batch * shape.InputImageLength, ImagesShape(batch, shape.InChannels, shape.InputHeight, shape.InputWidth));
        bool weightWanted = Optional(gradWeight, nameof(gradWeight));
        if (weightWanted)
            ConvWeightView(shape, gradWeight, nameof(gradWeight));
        bool biasWanted = Optional(gradBias, nameof(gradBias));
        if (biasWanted)
            RequireLength(gradBias, nameof(gradBias), shape.OutChannels, $"[{shape.OutChannels}] (C_out of {shape})");
        return (batch, weightWanted, biasWanted);
    }

    private int ConvBatch<T>(Conv2dShape shape, ArrayView<T> view, string name, int imageLength, string layout)
        where T : unmanaged
    {
        int length = Owned(view, name);
        if (length % imageLength != 0)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"{name} has {length} elements, which is not a whole number of {layout} images of {imageLength} elements for {shape}."), name);
        return length / imageLength;
    }

    private void ConvWeightView<T>(Conv2dShape shape, ArrayView<T> weight, string name)
        where T : unmanaged =>
        RequireLength(weight, name, shape.WeightLength,
            string.Create(CultureInfo.InvariantCulture, $"[{shape.OutChannels}, {shape.GroupInChannels}, {shape.KernelHeight}, {shape.KernelWidth}] (the weight of {shape})"));

    private static string ImagesShape(int batch, int channels, int height, int width) =>
        string.Create(CultureInfo.InvariantCulture, $"[{batch}, {channels}, {height}, {width}]");
}

/// <summary>The Conv2d family of <see cref="IlgpuBackend"/>.</summary>
public sealed partial class IlgpuBackend
{
    /// <inheritdoc />
    /// <remarks>Over 16-bit images the weight and the bias may each be float32 or in the images' type (the contract has checked).</remarks>
    protected override void Conv2dCore(Conv2dShape shape, Tensor input, Tensor weight, Tensor? bias, Tensor output, int batch)
    {
        if (!input.ElementType.IsSixteenBit())
        {
            Kernels.Conv2d(shape, V(input), V(weight), VOrNone(bias), V(output), Stream);
            return;
        }
        ElementType type = input.ElementType;
        bool weight16 = weight.ElementType.IsSixteenBit(), bias16 = bias is not null && bias.ElementType.IsSixteenBit();
        if (weight16 && bias16)
            Kernels.Conv2dSixteenBit(shape, B(input), type, B(weight), B(bias!), B(output), Stream);
        else if (weight16)
            Kernels.Conv2dSixteenBit(shape, B(input), type, B(weight), VOrNone(bias), B(output), Stream);
        else if (bias16)
            Kernels.Conv2dSixteenBit(shape, B(input), type, V(weight), B(bias!), B(output), Stream);
        else
            Kernels.Conv2dSixteenBit(shape, B(input), type, V(weight), VOrNone(bias), B(output), Stream);
    }

    /// <inheritdoc />
    protected override void Conv2dBackwardInputCore(Conv2dShape shape, Tensor gradOutput, Tensor weight, Tensor gradInput, int batch)
    {
        if (!gradOutput.ElementType.IsSixteenBit())
            Kernels.Conv2dBackwardInput(shape, V(gradOutput), V(weight), V(gradInput), Stream);
        else if (weight.ElementType.IsSixteenBit())
            Kernels.Conv2dBackwardInput(shape, B(gradOutput), gradOutput.ElementType, B(weight), B(gradInput), Stream);
        else
            Kernels.Conv2dBackwardInput(shape, B(gradOutput), gradOutput.ElementType, V(weight), B(gradInput), Stream);
    }

    /// <inheritdoc />
    protected override void Conv2dBackwardWeightCore(Conv2dShape shape, Tensor gradOutput, Tensor input, Tensor? gradWeight, Tensor? gradBias, int batch)
    {
        if (gradOutput.ElementType.IsSixteenBit())
            Kernels.Conv2dBackwardWeight(shape, B(gradOutput), gradOutput.ElementType, B(input), VOrNone(gradWeight), VOrNone(gradBias), Stream);
        else
            Kernels.Conv2dBackwardWeight(shape, V(gradOutput), V(input), VOrNone(gradWeight), VOrNone(gradBias), Stream);
    }

    /// <inheritdoc />
    protected override void RowScaleBackwardCore(Tensor input, Tensor scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, int rowCount, int columnCount) =>
        Kernels.RowScaleBackward(V(input), V(scale), V(gradOutput), columnCount, VOrNone(gradInput), VOrNone(gradScale), Stream);
}
