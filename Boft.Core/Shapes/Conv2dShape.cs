// The geometry of a frozen 2-D convolution (NCHW, PyTorch nn.Conv2d semantics): channels, a possibly non-square kernel,
// per-axis stride, padding and dilation, groups, and the input's spatial size. Validated once here, so every conv op and
// layer can rely on it (docs/02_Ops/conv2d.md). The batch size is not part of the shape: it comes from the tensors.

using System.Globalization;

namespace Boft;

/// <summary>
/// A 2-D convolution <c>y[n, o, oh, ow] = Σ_{c, i, j} W[o, c, i, j] · x[n, g·C/G + c, oh·sh − ph + i·dh, ow·sw − pw + j·dw]</c>
/// (zero padding; <c>g = o / (O/G)</c>) with input <c>[N, C_in, H, W]</c>, weight <c>[C_out, C_in/G, kh, kw]</c> and output
/// <c>[N, C_out, H_out, W_out]</c>, <c>H_out = ⌊(H + 2ph − dh·(kh − 1) − 1) / sh⌋ + 1</c> (likewise W_out).
/// The weight viewed as a matrix is <c>[C_out, FilterDimension]</c> with <c>FilterDimension = (C_in/G)·kh·kw</c> in feature
/// order (c, i, j): that is the <c>d</c> an adapter rotates. Two shapes are equal when every field is equal.
/// </summary>
public sealed record Conv2dShape
{
    /// <summary>Creates and validates a convolution shape.</summary>
    /// <param name="inChannels">C_in (≥ 1).</param>
    /// <param name="outChannels">C_out (≥ 1).</param>
    /// <param name="kernelHeight">kh (≥ 1).</param>
    /// <param name="kernelWidth">kw (≥ 1).</param>
    /// <param name="inputHeight">H (≥ 1).</param>
    /// <param name="inputWidth">W (≥ 1).</param>
    /// <param name="strideHeight">sh (≥ 1).</param>
    /// <param name="strideWidth">sw (≥ 1).</param>
    /// <param name="paddingHeight">ph (≥ 0), zeros on both sides.</param>
    /// <param name="paddingWidth">pw (≥ 0), zeros on both sides.</param>
    /// <param name="dilationHeight">dh (≥ 1).</param>
    /// <param name="dilationWidth">dw (≥ 1).</param>
    /// <param name="groups">G (≥ 1), dividing both C_in and C_out.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is out of range.</exception>
    /// <exception cref="ArgumentException">Groups do not divide the channels, or the (padded) input is smaller than the dilated kernel.</exception>
    public Conv2dShape(int inChannels, int outChannels, int kernelHeight, int kernelWidth, int inputHeight, int inputWidth,
        int strideHeight = 1, int strideWidth = 1, int paddingHeight = 0, int paddingWidth = 0, int dilationHeight = 1, int dilationWidth = 1, int groups = 1)
    {
        Positive(inChannels, nameof(inChannels));
        Positive(outChannels, nameof(outChannels));
        Positive(kernelHeight, nameof(kernelHeight));
        Positive(kernelWidth, nameof(kernelWidth));
        Positive(inputHeight, nameof(inputHeight));
        Positive(inputWidth, nameof(inputWidth));
        Positive(strideHeight, nameof(strideHeight));
        Positive(strideWidth, nameof(strideWidth));
        Positive(dilationHeight, nameof(dilationHeight));
        Positive(dilationWidth, nameof(dilationWidth));
        Positive(groups, nameof(groups));
        if (paddingHeight < 0)
            throw new ArgumentOutOfRangeException(nameof(paddingHeight), paddingHeight, "paddingHeight must not be negative.");
        if (paddingWidth < 0)
            throw new ArgumentOutOfRangeException(nameof(paddingWidth), paddingWidth, "paddingWidth must not be negative.");
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"groups ({groups}) must divide both inChannels ({inChannels}) and outChannels ({outChannels}): input [N, {inChannels}, {inputHeight}, {inputWidth}], weight [{outChannels}, {inChannels}/{groups}, {kernelHeight}, {kernelWidth}]."), nameof(groups));
        long spanH = (long)dilationHeight * (kernelHeight - 1) + 1, spanW = (long)dilationWidth * (kernelWidth - 1) + 1;
        long paddedH = inputHeight + 2L * paddingHeight, paddedW = inputWidth + 2L * paddingWidth;
        if (paddedH < spanH || paddedW < spanW)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"The input's spatial size [{inputHeight}, {inputWidth}] (padded [{paddedH}, {paddedW}]) is smaller than the kernel [{kernelHeight}, {kernelWidth}] (dilated [{spanH}, {spanW}])."), nameof(inputHeight));
        long filter = (long)(inChannels / groups) * kernelHeight * kernelWidth;
        long outH = (paddedH - spanH) / strideHeight + 1, outW = (paddedW - spanW) / strideWidth + 1;
        if (filter > int.MaxValue || (long)inChannels * inputHeight * inputWidth > int.MaxValue || (long)outChannels * outH * outW > int.MaxValue ||
            filter * outChannels > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(inChannels), "The convolution is too large for 32-bit tensor lengths.");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelHeight = kernelHeight;
        KernelWidth = kernelWidth;
        InputHeight = inputHeight;
        InputWidth = inputWidth;
        StrideHeight = strideHeight;
        StrideWidth = strideWidth;
        PaddingHeight = paddingHeight;
        PaddingWidth = paddingWidth;
        DilationHeight = dilationHeight;
        DilationWidth = dilationWidth;
        Groups = groups;
        OutputHeight = (int)outH;
        OutputWidth = (int)outW;
    }

    /// <summary>A square-kernel shape with the same stride, padding and dilation on both axes (PEFT's assumption).</summary>
    /// <param name="inChannels">C_in.</param>
    /// <param name="outChannels">C_out.</param>
    /// <param name="kernelSize">k = kh = kw.</param>
    /// <param name="inputHeight">H.</param>
    /// <param name="inputWidth">W.</param>
    /// <param name="stride">Stride on both axes.</param>
    /// <param name="padding">Padding on both axes.</param>
    /// <param name="dilation">Dilation on both axes.</param>
    /// <param name="groups">Groups.</param>
    /// <returns>The validated shape.</returns>
    public static Conv2dShape Square(int inChannels, int outChannels, int kernelSize, int inputHeight, int inputWidth, int stride = 1, int padding = 0,
        int dilation = 1, int groups = 1) =>
        new(inChannels, outChannels, kernelSize, kernelSize, inputHeight, inputWidth, stride, stride, padding, padding, dilation, dilation, groups);

    /// <summary>C_in.</summary>
    public int InChannels { get; }

    /// <summary>C_out.</summary>
    public int OutChannels { get; }

    /// <summary>kh.</summary>
    public int KernelHeight { get; }

    /// <summary>kw.</summary>
    public int KernelWidth { get; }

    /// <summary>H.</summary>
    public int InputHeight { get; }

    /// <summary>W.</summary>
    public int InputWidth { get; }

    /// <summary>sh.</summary>
    public int StrideHeight { get; }

    /// <summary>sw.</summary>
    public int StrideWidth { get; }

    /// <summary>ph.</summary>
    public int PaddingHeight { get; }

    /// <summary>pw.</summary>
    public int PaddingWidth { get; }

    /// <summary>dh.</summary>
    public int DilationHeight { get; }

    /// <summary>dw.</summary>
    public int DilationWidth { get; }

    /// <summary>G.</summary>
    public int Groups { get; }

    /// <summary>H_out.</summary>
    public int OutputHeight { get; }

    /// <summary>W_out.</summary>
    public int OutputWidth { get; }

    /// <summary>C_in / G: input channels seen by one output channel.</summary>
    public int GroupInChannels => InChannels / Groups;

    /// <summary>C_out / G: output channels per group.</summary>
    public int GroupOutChannels => OutChannels / Groups;

    /// <summary>d = (C_in/G)·kh·kw: the flattened filter length (columns of the weight matrix; what an adapter rotates).</summary>
    public int FilterDimension => GroupInChannels * KernelHeight * KernelWidth;

    /// <summary>kh·kw.</summary>
    public int KernelArea => KernelHeight * KernelWidth;

    /// <summary>C_in·H·W: elements of one input image.</summary>
    public int InputImageLength => InChannels * InputHeight * InputWidth;

    /// <summary>C_out·H_out·W_out: elements of one output image.</summary>
    public int OutputImageLength => OutChannels * OutputHeight * OutputWidth;

    /// <summary>H_out·W_out.</summary>
    public int OutputPixels => OutputHeight * OutputWidth;

    /// <summary>C_out·d: elements of the weight.</summary>
    public int WeightLength => OutChannels * FilterDimension;

    /// <summary>Whether kh = kw and the stride, padding and dilation are the same on both axes (what PEFT can describe).</summary>
    public bool IsSquare => KernelHeight == KernelWidth && StrideHeight == StrideWidth && PaddingHeight == PaddingWidth && DilationHeight == DilationWidth;

    /// <summary>The weight's dimensions [C_out, C_in/G, kh, kw].</summary>
    public int[] WeightDimensions => [OutChannels, GroupInChannels, KernelHeight, KernelWidth];

    /// <summary>The input's dimensions for <paramref name="batch"/> images.</summary>
    /// <param name="batch">N.</param>
    /// <returns>[N, C_in, H, W].</returns>
    public int[] InputDimensions(int batch) => [batch, InChannels, InputHeight, InputWidth];

    /// <summary>The output's dimensions for <paramref name="batch"/> images.</summary>
    /// <param name="batch">N.</param>
    /// <returns>[N, C_out, H_out, W_out].</returns>
    public int[] OutputDimensions(int batch) => [batch, OutChannels, OutputHeight, OutputWidth];

    /// <summary>Multiply-adds of the forward for <paramref name="batch"/> images (also of each backward product).</summary>
    /// <param name="batch">N.</param>
    /// <returns>N·C_out·H_out·W_out·d.</returns>
    public long MultiplyAdds(int batch) => (long)batch * OutputImageLength * FilterDimension;

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"Conv2d({InChannels}→{OutChannels}, kernel {KernelHeight}x{KernelWidth}, stride {StrideHeight}x{StrideWidth}, padding {PaddingHeight}x{PaddingWidth}, dilation {DilationHeight}x{DilationWidth}, groups {Groups}, input {InputHeight}x{InputWidth} → {OutputHeight}x{OutputWidth})");

    private static void Positive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
    }
}
