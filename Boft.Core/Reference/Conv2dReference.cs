// The frozen 2-D convolution in double precision by direct loops (the oracle of every backend's conv kernels), its input
// and weight gradients, and the conv adapters' row-scale backward. NCHW; zero padding; groups; per-axis stride, padding
// and dilation; non-square kernels. docs/02_Ops/conv2d.md.
//
// Gradient convention (as BoftBackend): gradInput is OVERWRITTEN, gradWeight / gradBias / gradScale are ACCUMULATED.

namespace Boft.Reference;

/// <summary>Direct-loop 2-D convolution (forward, input gradient, weight gradient) in double precision.</summary>
public static class Conv2dReference
{
    /// <summary><c>y = conv2d(x, W) + bias</c> (bias per output channel; omitted when empty).</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="batch">N.</param>
    /// <param name="input">x [N, C_in, H, W].</param>
    /// <param name="weight">W [C_out, C_in/G, kh, kw].</param>
    /// <param name="bias">[C_out] or empty.</param>
    /// <param name="output">y [N, C_out, H_out, W_out] (overwritten).</param>
    public static void Forward(Conv2dShape shape, int batch, ReadOnlySpan<double> input, ReadOnlySpan<double> weight, ReadOnlySpan<double> bias, Span<double> output)
    {
        ArgumentNullException.ThrowIfNull(shape);
        CheckLengths(shape, batch, input.Length, weight.Length, output.Length);
        int cg = shape.GroupInChannels, og = shape.GroupOutChannels, kh = shape.KernelHeight, kw = shape.KernelWidth;
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < shape.OutChannels; o++)
            {
                int g = o / og;
                for (int oh = 0; oh < shape.OutputHeight; oh++)
                    for (int ow = 0; ow < shape.OutputWidth; ow++)
                    {
                        double sum = bias.IsEmpty ? 0 : bias[o];
                        for (int c = 0; c < cg; c++)
                            for (int i = 0; i < kh; i++)
                            {
                                int h = oh * shape.StrideHeight - shape.PaddingHeight + i * shape.DilationHeight;
                                if ((uint)h >= (uint)shape.InputHeight)
                                    continue;
                                for (int j = 0; j < kw; j++)
                                {
                                    int w = ow * shape.StrideWidth - shape.PaddingWidth + j * shape.DilationWidth;
                                    if ((uint)w >= (uint)shape.InputWidth)
                                        continue;
                                    sum += weight[((o * cg + c) * kh + i) * kw + j] * input[InputIndex(shape, n, g * cg + c, h, w)];
                                }
                            }
                        output[OutputIndex(shape, n, o, oh, ow)] = sum;
                    }
            }
    }

    /// <summary><c>gradInput = ∂L/∂x</c> (overwritten) for <c>gradOutput = ∂L/∂y</c>: the transposed convolution with W.</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="batch">N.</param>
    /// <param name="gradOutput">[N, C_out, H_out, W_out].</param>
    /// <param name="weight">W [C_out, C_in/G, kh, kw].</param>
    /// <param name="gradInput">[N, C_in, H, W] (overwritten).</param>
    public static void BackwardInput(Conv2dShape shape, int batch, ReadOnlySpan<double> gradOutput, ReadOnlySpan<double> weight, Span<double> gradInput)
    {
        ArgumentNullException.ThrowIfNull(shape);
        CheckLengths(shape, batch, gradInput.Length, weight.Length, gradOutput.Length);
        gradInput.Clear();
        int cg = shape.GroupInChannels, og = shape.GroupOutChannels, kh = shape.KernelHeight, kw = shape.KernelWidth;
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < shape.OutChannels; o++)
            {
                int g = o / og;
                for (int oh = 0; oh < shape.OutputHeight; oh++)
                    for (int ow = 0; ow < shape.OutputWidth; ow++)
                    {
                        double go = gradOutput[OutputIndex(shape, n, o, oh, ow)];
                        for (int c = 0; c < cg; c++)
                            for (int i = 0; i < kh; i++)
                            {
                                int h = oh * shape.StrideHeight - shape.PaddingHeight + i * shape.DilationHeight;
                                if ((uint)h >= (uint)shape.InputHeight)
                                    continue;
                                for (int j = 0; j < kw; j++)
                                {
                                    int w = ow * shape.StrideWidth - shape.PaddingWidth + j * shape.DilationWidth;
                                    if ((uint)w >= (uint)shape.InputWidth)
                                        continue;
                                    gradInput[InputIndex(shape, n, g * cg + c, h, w)] += weight[((o * cg + c) * kh + i) * kw + j] * go;
                                }
                            }
                    }
            }
    }

    /// <summary><c>gradWeight += ∂L/∂W</c> and <c>gradBias += ∂L/∂bias</c> (either may be empty to skip it).</summary>
    /// <param name="shape">The convolution.</param>
    /// <param name="batch">N.</param>
    /// <param name="gradOutput">[N, C_out, H_out, W_out].</param>
    /// <param name="input">x [N, C_in, H, W].</param>
    /// <param name="gradWeight">[C_out, C_in/G, kh, kw] (accumulated) or empty.</param>
    /// <param name="gradBias">[C_out] (accumulated) or empty.</param>
    public static void BackwardWeight(Conv2dShape shape, int batch, ReadOnlySpan<double> gradOutput, ReadOnlySpan<double> input, Span<double> gradWeight, Span<double> gradBias)
    {
        ArgumentNullException.ThrowIfNull(shape);
        CheckLengths(shape, batch, input.Length, gradWeight.IsEmpty ? shape.WeightLength : gradWeight.Length, gradOutput.Length);
        int cg = shape.GroupInChannels, og = shape.GroupOutChannels, kh = shape.KernelHeight, kw = shape.KernelWidth;
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < shape.OutChannels; o++)
            {
                int g = o / og;
                for (int oh = 0; oh < shape.OutputHeight; oh++)
                    for (int ow = 0; ow < shape.OutputWidth; ow++)
                    {
                        double go = gradOutput[OutputIndex(shape, n, o, oh, ow)];
                        if (!gradBias.IsEmpty)
                            gradBias[o] += go;
                        if (gradWeight.IsEmpty)
                            continue;
                        for (int c = 0; c < cg; c++)
                            for (int i = 0; i < kh; i++)
                            {
                                int h = oh * shape.StrideHeight - shape.PaddingHeight + i * shape.DilationHeight;
                                if ((uint)h >= (uint)shape.InputHeight)
                                    continue;
                                for (int j = 0; j < kw; j++)
                                {
                                    int w = ow * shape.StrideWidth - shape.PaddingWidth + j * shape.DilationWidth;
                                    if ((uint)w >= (uint)shape.InputWidth)
                                        continue;
                                    gradWeight[((o * cg + c) * kh + i) * kw + j] += input[InputIndex(shape, n, g * cg + c, h, w)] * go;
                                }
                            }
                    }
            }
    }

    /// <summary>
    /// Backward of <c>output[r, t] = scale[r] · input[r, t]</c> (a per-row scale, e.g. BOFT's <c>boft_s</c> on the rows of a
    /// merged conv weight): <c>gradInput = diag(scale)·gradOutput</c> (overwritten), <c>gradScale[r] += Σ_t gradOutput[r, t]·input[r, t]</c>.
    /// </summary>
    /// <param name="input">[rows, columns].</param>
    /// <param name="scale">[rows].</param>
    /// <param name="gradOutput">[rows, columns].</param>
    /// <param name="columns">Columns per row.</param>
    /// <param name="gradInput">[rows, columns] (overwritten) or empty.</param>
    /// <param name="gradScale">[rows] (accumulated) or empty.</param>
    public static void RowScaleBackward(ReadOnlySpan<double> input, ReadOnlySpan<double> scale, ReadOnlySpan<double> gradOutput, int columns,
        Span<double> gradInput, Span<double> gradScale)
    {
        int rows = scale.Length;
        if (input.Length != (long)rows * columns || gradOutput.Length != input.Length)
            throw new ArgumentException($"input ({input.Length}) and gradOutput ({gradOutput.Length}) must both have {rows}×{columns} elements.", nameof(input));
        for (int r = 0; r < rows; r++)
        {
            double dot = 0;
            for (int t = 0; t < columns; t++)
            {
                int index = r * columns + t;
                dot += gradOutput[index] * input[index];
                if (!gradInput.IsEmpty)
                    gradInput[index] = scale[r] * gradOutput[index];
            }
            if (!gradScale.IsEmpty)
                gradScale[r] += dot;
        }
    }

    /// <summary>The patch matrix (im2col): <c>patches[n·P + p, (c, i, j)]</c> for P = H_out·W_out output pixels and groups = 1 channel order,
    /// so that <c>y[n, o, p] = Σ_t patches[n·P + p, t]·W_flat[o, t]</c> for groups = 1.</summary>
    /// <param name="shape">The convolution (groups = 1).</param>
    /// <param name="batch">N.</param>
    /// <param name="input">x [N, C_in, H, W].</param>
    /// <param name="patches">[N·H_out·W_out, C_in·kh·kw] (overwritten).</param>
    public static void Im2Col(Conv2dShape shape, int batch, ReadOnlySpan<double> input, Span<double> patches)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Groups != 1)
            throw new ArgumentException($"Im2Col is defined here for groups = 1, but the shape is {shape}.", nameof(shape));
        int d = shape.FilterDimension, pixels = shape.OutputPixels;
        if (patches.Length != (long)batch * pixels * d)
            throw new ArgumentException($"patches has {patches.Length} elements but needs [{batch * pixels}, {d}].", nameof(patches));
        for (int n = 0; n < batch; n++)
            for (int oh = 0; oh < shape.OutputHeight; oh++)
                for (int ow = 0; ow < shape.OutputWidth; ow++)
                {
                    int row = (n * pixels + oh * shape.OutputWidth + ow) * d;
                    for (int c = 0; c < shape.InChannels; c++)
                        for (int i = 0; i < shape.KernelHeight; i++)
                            for (int j = 0; j < shape.KernelWidth; j++)
                            {
                                int h = oh * shape.StrideHeight - shape.PaddingHeight + i * shape.DilationHeight;
                                int w = ow * shape.StrideWidth - shape.PaddingWidth + j * shape.DilationWidth;
                                bool inside = (uint)h < (uint)shape.InputHeight && (uint)w < (uint)shape.InputWidth;
                                patches[row + (c * shape.KernelHeight + i) * shape.KernelWidth + j] = inside ? input[InputIndex(shape, n, c, h, w)] : 0;
                            }
                }
    }

    /// <summary>
    /// The weight-centric conv adapter (BoftConv2d / OftConv2d): blocks = Cayley(parameters) (identity mask optional),
    /// <c>W' = diag(s)·W0·Rᵀ</c> on the weight matrix [C_out, d] (no s when <paramref name="scale"/> is empty), <c>y = conv2d(x, W') + bias</c>.
    /// </summary>
    /// <param name="convolution">The base convolution.</param>
    /// <param name="rotation">The rotation (d = the filter dimension).</param>
    /// <param name="cayley">The Cayley map of the parameters.</param>
    /// <param name="batch">N.</param>
    /// <param name="input">x [N, C_in, H, W].</param>
    /// <param name="baseWeight">W0 [C_out, d].</param>
    /// <param name="bias">[C_out] or empty.</param>
    /// <param name="parameters">Raw adapter parameters.</param>
    /// <param name="scale">[C_out] or empty.</param>
    /// <param name="identityMask">Block identity mask or empty.</param>
    /// <param name="output">y (overwritten).</param>
    /// <param name="adaptedWeight">W' [C_out, d] (overwritten).</param>
    public static void AdapterForward(Conv2dShape convolution, RotationShape rotation, CayleyShape cayley, int batch, ReadOnlySpan<double> input,
        ReadOnlySpan<double> baseWeight, ReadOnlySpan<double> bias, ReadOnlySpan<double> parameters, ReadOnlySpan<double> scale, ReadOnlySpan<double> identityMask,
        Span<double> output, Span<double> adaptedWeight)
    {
        ArgumentNullException.ThrowIfNull(convolution);
        ArgumentNullException.ThrowIfNull(rotation);
        ArgumentNullException.ThrowIfNull(cayley);
        int d = rotation.FeatureCount;
        var blocks = new double[cayley.BlocksLength];
        CayleyBatchReference.Forward(cayley, parameters, identityMask, blocks);
        RotationReference.Forward(rotation, baseWeight, blocks, transpose: true, adaptedWeight);
        if (!scale.IsEmpty)
            for (int o = 0; o < convolution.OutChannels; o++)
                for (int t = 0; t < d; t++)
                    adaptedWeight[o * d + t] *= scale[o];
        Forward(convolution, batch, input, adaptedWeight, bias, output);
    }

    /// <summary>
    /// Backward of <see cref="AdapterForward"/> by the layers' route: gW' = conv weight gradient; G = diag(s)·gW', g_s += rowdot(gW', W0·Rᵀ);
    /// g_blocks = ∂/∂blocks Σ W0 ⊙ (G·R) (RotationReference.Backward with input G and gradOutput W0); g_params += Cayley backward.
    /// gradInput (overwritten) uses W'. Any output may be empty to skip it.
    /// </summary>
    /// <param name="convolution">The base convolution.</param>
    /// <param name="rotation">The rotation.</param>
    /// <param name="cayley">The Cayley map.</param>
    /// <param name="batch">N.</param>
    /// <param name="input">x.</param>
    /// <param name="baseWeight">W0 [C_out, d].</param>
    /// <param name="parameters">Raw parameters.</param>
    /// <param name="scale">[C_out] or empty.</param>
    /// <param name="identityMask">Mask or empty.</param>
    /// <param name="gradOutput">∂L/∂y.</param>
    /// <param name="gradParameters">Accumulated, or empty.</param>
    /// <param name="gradScale">Accumulated, or empty.</param>
    /// <param name="gradInput">Overwritten, or empty.</param>
    /// <param name="gradBias">Accumulated, or empty.</param>
    public static void AdapterBackward(Conv2dShape convolution, RotationShape rotation, CayleyShape cayley, int batch, ReadOnlySpan<double> input,
        ReadOnlySpan<double> baseWeight, ReadOnlySpan<double> parameters, ReadOnlySpan<double> scale, ReadOnlySpan<double> identityMask,
        ReadOnlySpan<double> gradOutput, Span<double> gradParameters, Span<double> gradScale, Span<double> gradInput, Span<double> gradBias)
    {
        ArgumentNullException.ThrowIfNull(convolution);
        ArgumentNullException.ThrowIfNull(rotation);
        ArgumentNullException.ThrowIfNull(cayley);
        int d = rotation.FeatureCount, o = convolution.OutChannels;
        var blocks = new double[cayley.BlocksLength];
        CayleyBatchReference.Forward(cayley, parameters, identityMask, blocks);
        var rotated = new double[o * d];
        RotationReference.Forward(rotation, baseWeight, blocks, transpose: true, rotated);
        var adapted = (double[])rotated.Clone();
        if (!scale.IsEmpty)
            for (int r = 0; r < o; r++)
                for (int t = 0; t < d; t++)
                    adapted[r * d + t] *= scale[r];
        var gradAdapted = new double[o * d];
        BackwardWeight(convolution, batch, gradOutput, input, gradAdapted, gradBias);
        if (!gradInput.IsEmpty)
            BackwardInput(convolution, batch, gradOutput, adapted, gradInput);
        double[] rows = gradAdapted;
        if (!scale.IsEmpty)
        {
            rows = new double[o * d];
            RowScaleBackward(rotated, scale, gradAdapted, d, rows, gradScale);
        }
        if (gradParameters.IsEmpty)
            return;
        var gradBlocks = new double[cayley.BlocksLength];
        var unused = new double[o * d];
        RotationReference.Backward(rotation, rows, blocks, baseWeight, unused, gradBlocks);
        var gradRaw = new double[gradParameters.Length];
        CayleyBatchReference.Backward(cayley, parameters, gradBlocks, identityMask, gradRaw);
        for (int i = 0; i < gradRaw.Length; i++)
            gradParameters[i] += gradRaw[i];
    }

    private static int InputIndex(Conv2dShape shape, int n, int c, int h, int w) => ((n * shape.InChannels + c) * shape.InputHeight + h) * shape.InputWidth + w;

    private static int OutputIndex(Conv2dShape shape, int n, int o, int oh, int ow) => ((n * shape.OutChannels + o) * shape.OutputHeight + oh) * shape.OutputWidth + ow;

    private static void CheckLengths(Conv2dShape shape, int batch, int inputLength, int weightLength, int outputLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        if (inputLength != (long)batch * shape.InputImageLength)
            throw new ArgumentException($"input has {inputLength} elements but [{batch}, {shape.InChannels}, {shape.InputHeight}, {shape.InputWidth}] needs {(long)batch * shape.InputImageLength}.", "input");
        if (weightLength != shape.WeightLength)
            throw new ArgumentException($"weight has {weightLength} elements but [{shape.OutChannels}, {shape.GroupInChannels}, {shape.KernelHeight}, {shape.KernelWidth}] needs {shape.WeightLength}.", "weight");
        if (outputLength != (long)batch * shape.OutputImageLength)
            throw new ArgumentException($"output has {outputLength} elements but [{batch}, {shape.OutChannels}, {shape.OutputHeight}, {shape.OutputWidth}] needs {(long)batch * shape.OutputImageLength}.", "output");
    }
}
