// The frozen 2-D convolution on the CPU (NCHW, batched, groups, per-axis stride/padding/dilation, any kernel) by im2col
// through the backend's tiled GEMM (Linear.Gemm), plus the per-row scale backward of the conv adapters.
// docs/03_Kernels/conv2d.md (the SIMD section).
//
// Per image n and group g, with K = (C_in/G)·kh·kw, P = H_out·W_out and the patch matrix cols[K, P] (im2col, zero padded):
//   forward          y[n, g-block]   (=)  W_g[og, K] · cols[K, P]                 (+ bias per output channel)
//   input gradient   gcols[K, P]     (=)  W_gᵀ · gy[n, g-block]    then col2im (scatter-add per input channel: disjoint planes)
//   weight gradient  gW_g[og, K]    (+=)  gy[n, g-block] · colsᵀ
// A 1×1 kernel with stride 1 and no padding uses x itself as cols (no copy).
// Parallelism: images with a large GEMM run one after another, each GEMM parallel; small images (CNN training batches) run
// in parallel, one single-threaded GEMM each. The weight gradient of small images is summed per fixed chunk of images and
// the chunks are added in order; every split depends on the shapes only, so results are bit-identical from run to run.

using System.Buffers;
using System.Runtime.Intrinsics;
using Boft.Backends;

namespace Boft.Kernels.Simd;

/// <summary>The Conv2d family of <see cref="SimdBackend"/>.</summary>
public sealed partial class SimdBackend
{
    /// <inheritdoc />
    protected override void Conv2dCore(Conv2dShape shape, Tensor input, Tensor weight, Tensor? bias, Tensor output, int batch)
    {
        if (input.ElementType.IsSixteenBit())
        {
            Conv2dSixteenBit(shape, T(input), T(weight), TOrNull(bias), T(output), batch);
            return;
        }
        switch (Width)
        {
            case SimdWidth.Vector512: Im2ColConv.Forward<Simd512, Vector512<float>>(shape, T(input), T(weight), TOrNull(bias), T(output), batch, MaxDegreeOfParallelism); break;
            case SimdWidth.Vector256: Im2ColConv.Forward<Simd256, Vector256<float>>(shape, T(input), T(weight), TOrNull(bias), T(output), batch, MaxDegreeOfParallelism); break;
            default: Im2ColConv.Forward<Simd128, Vector128<float>>(shape, T(input), T(weight), TOrNull(bias), T(output), batch, MaxDegreeOfParallelism); break;
        }
    }

    /// <inheritdoc />
    protected override void Conv2dBackwardInputCore(Conv2dShape shape, Tensor gradOutput, Tensor weight, Tensor gradInput, int batch)
    {
        if (gradOutput.ElementType.IsSixteenBit())
        {
            Conv2dBackwardInputSixteenBit(shape, T(gradOutput), T(weight), T(gradInput), batch);
            return;
        }
        switch (Width)
        {
            case SimdWidth.Vector512: Im2ColConv.BackwardInput<Simd512, Vector512<float>>(shape, T(gradOutput), T(weight), T(gradInput), batch, MaxDegreeOfParallelism); break;
            case SimdWidth.Vector256: Im2ColConv.BackwardInput<Simd256, Vector256<float>>(shape, T(gradOutput), T(weight), T(gradInput), batch, MaxDegreeOfParallelism); break;
            default: Im2ColConv.BackwardInput<Simd128, Vector128<float>>(shape, T(gradOutput), T(weight), T(gradInput), batch, MaxDegreeOfParallelism); break;
        }
    }

    /// <inheritdoc />
    protected override void Conv2dBackwardWeightCore(Conv2dShape shape, Tensor gradOutput, Tensor input, Tensor? gradWeight, Tensor? gradBias, int batch)
    {
        if (gradOutput.ElementType.IsSixteenBit())
        {
            Conv2dBackwardWeightSixteenBit(shape, T(gradOutput), T(input), TOrNull(gradWeight), TOrNull(gradBias), batch);
            return;
        }
        switch (Width)
        {
            case SimdWidth.Vector512: Im2ColConv.BackwardWeight<Simd512, Vector512<float>>(shape, T(gradOutput), T(input), TOrNull(gradWeight), TOrNull(gradBias), batch, MaxDegreeOfParallelism); break;
            case SimdWidth.Vector256: Im2ColConv.BackwardWeight<Simd256, Vector256<float>>(shape, T(gradOutput), T(input), TOrNull(gradWeight), TOrNull(gradBias), batch, MaxDegreeOfParallelism); break;
            default: Im2ColConv.BackwardWeight<Simd128, Vector128<float>>(shape, T(gradOutput), T(input), TOrNull(gradWeight), TOrNull(gradBias), batch, MaxDegreeOfParallelism); break;
        }
    }

    /// <inheritdoc />
    protected override void RowScaleBackwardCore(Tensor input, Tensor scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, int rowCount, int columnCount) =>
        Im2ColConv.RowScaleBackward(T(input), T(scale), T(gradOutput), TOrNull(gradInput), TOrNull(gradScale), rowCount, columnCount, MaxDegreeOfParallelism);
}

/// <summary>im2col convolution kernels (see the file header).</summary>
internal static class Im2ColConv
{
    /// <summary>Per-image multiply-adds from which one image's GEMM is worth parallelizing on its own.</summary>
    private const long LargeImageWork = 1L << 22;

    /// <summary>Images per chunk of the small-image weight gradient (partials summed in chunk order).</summary>
    private const int WeightChunks = 8;

    public static void Forward<TS, TV>(Conv2dShape shape, SimdTensor input, SimdTensor weight, SimdTensor? bias, SimdTensor output, int batch, int threads)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int k = shape.FilterDimension, p = shape.OutputPixels, og = shape.GroupOutChannels;
        PerImage(shape, batch, threads, (n, gemmThreads, cols) =>
        {
            for (int g = 0; g < shape.Groups; g++)
            {
                MatrixView b = Patches(shape, input, n, g, cols, gemmThreads);
                var a = new MatrixView(weight.Array, weight.Offset + g * og * k, k, 1);
                var c = new MatrixView(output.Array, output.Offset + (n * shape.OutChannels + g * og) * p, p, 1);
                Linear.Gemm<TS, TV>(a, b, c, og, p, k, accumulate: false, gemmThreads);
            }
            if (bias is not null)
                for (int o = 0; o < shape.OutChannels; o++)
                {
                    float value = bias.Array[bias.Offset + o];
                    Span<float> row = output.Array.AsSpan(output.Offset + (n * shape.OutChannels + o) * p, p);
                    for (int i = 0; i < row.Length; i++)
                        row[i] += value;
                }
        });
    }

    public static void BackwardInput<TS, TV>(Conv2dShape shape, SimdTensor gradOutput, SimdTensor weight, SimdTensor gradInput, int batch, int threads)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int k = shape.FilterDimension, p = shape.OutputPixels, og = shape.GroupOutChannels;
        PerImage(shape, batch, threads, (n, gemmThreads, cols) =>
        {
            gradInput.Array.AsSpan(gradInput.Offset + n * shape.InputImageLength, shape.InputImageLength).Clear();
            for (int g = 0; g < shape.Groups; g++)
            {
                var a = new MatrixView(weight.Array, weight.Offset + g * og * k, 1, k);
                var b = new MatrixView(gradOutput.Array, gradOutput.Offset + (n * shape.OutChannels + g * og) * p, p, 1);
                Linear.Gemm<TS, TV>(a, b, new MatrixView(cols, 0, p, 1), k, p, og, accumulate: false, gemmThreads);
                Col2Im(shape, cols, gradInput, n, g, gemmThreads);
            }
        });
    }

    public static void BackwardWeight<TS, TV>(Conv2dShape shape, SimdTensor gradOutput, SimdTensor input, SimdTensor? gradWeight, SimdTensor? gradBias, int batch, int threads)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int k = shape.FilterDimension, p = shape.OutputPixels, og = shape.GroupOutChannels;
        if (gradBias is not null)
            for (int o = 0; o < shape.OutChannels; o++)
            {
                double sum = 0;
                for (int n = 0; n < batch; n++)
                {
                    ReadOnlySpan<float> row = gradOutput.Array.AsSpan(gradOutput.Offset + (n * shape.OutChannels + o) * p, p);
                    float partial = 0;
                    for (int i = 0; i < row.Length; i++)
                        partial += row[i];
                    sum += partial;
                }
                gradBias.Array[gradBias.Offset + o] += (float)sum;
            }
        if (gradWeight is null || batch == 0)
            return;

        void Accumulate(int n, int gemmThreads, float[] cols, float[] target, int targetOffset)
        {
            for (int g = 0; g < shape.Groups; g++)
            {
                MatrixView patches = Patches(shape, input, n, g, cols, gemmThreads);
                var a = new MatrixView(gradOutput.Array, gradOutput.Offset + (n * shape.OutChannels + g * og) * p, p, 1);
                var b = new MatrixView(patches.Array, patches.Offset, patches.ColumnStride, patches.RowStride);
                Linear.Gemm<TS, TV>(a, b, new MatrixView(target, targetOffset + g * og * k, k, 1), og, k, p, accumulate: true, gemmThreads);
            }
        }

        if (IsLarge(shape) || batch == 1 || threads == 1)
        {
            float[] cols = ArrayPool<float>.Shared.Rent(ColsLength(shape));
            try
            {
                for (int n = 0; n < batch; n++)
                    Accumulate(n, threads, cols, gradWeight.Array, gradWeight.Offset);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(cols);
            }
            return;
        }

        int chunks = Math.Min(batch, WeightChunks), weightLength = shape.WeightLength;
        float[] partials = ArrayPool<float>.Shared.Rent(chunks * weightLength);
        try
        {
            Array.Clear(partials, 0, chunks * weightLength);
            SimdParallel.For(chunks, shape.MultiplyAdds(batch), threads, chunk =>
            {
                float[] cols = ArrayPool<float>.Shared.Rent(ColsLength(shape));
                try
                {
                    int n0 = (int)((long)chunk * batch / chunks), n1 = (int)((long)(chunk + 1) * batch / chunks);
                    for (int n = n0; n < n1; n++)
                        Accumulate(n, 1, cols, partials, chunk * weightLength);
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(cols);
                }
            });
            Span<float> target = gradWeight.Array.AsSpan(gradWeight.Offset, weightLength);
            for (int chunk = 0; chunk < chunks; chunk++)
            {
                ReadOnlySpan<float> partial = partials.AsSpan(chunk * weightLength, weightLength);
                for (int i = 0; i < weightLength; i++)
                    target[i] += partial[i];
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
    }

    public static void RowScaleBackward(SimdTensor input, SimdTensor scale, SimdTensor gradOutput, SimdTensor? gradInput, SimdTensor? gradScale, int rows, int columns, int threads)
    {
        float[] x = input.Array, go = gradOutput.Array;
        SimdParallel.For(rows, (long)rows * columns, threads, r =>
        {
            int offset = r * columns;
            float s = scale.Array[scale.Offset + r];
            double dot = 0;
            for (int t = 0; t < columns; t++)
            {
                float g = go[gradOutput.Offset + offset + t];
                dot += (double)g * x[input.Offset + offset + t];
                if (gradInput is not null)
                    gradInput.Array[gradInput.Offset + offset + t] = s * g;
            }
            if (gradScale is not null)
                gradScale.Array[gradScale.Offset + r] += (float)dot;
        });
    }

    private static bool IsLarge(Conv2dShape shape) => (long)shape.OutputImageLength * shape.FilterDimension >= LargeImageWork;

    private static bool IsPointwise(Conv2dShape shape) =>
        shape.KernelHeight == 1 && shape.KernelWidth == 1 && shape.StrideHeight == 1 && shape.StrideWidth == 1 && shape.PaddingHeight == 0 && shape.PaddingWidth == 0;

    private static int ColsLength(Conv2dShape shape) => shape.FilterDimension * shape.OutputPixels;

    /// <summary>Runs <paramref name="body"/>(image, gemmThreads, cols scratch) for every image: one after another with parallel GEMMs
    /// when an image is large, else images in parallel with single-threaded GEMMs.</summary>
    private static void PerImage(Conv2dShape shape, int batch, int threads, Action<int, int, float[]> body)
    {
        if (batch == 0)
            return;
        if (IsLarge(shape) || batch == 1 || threads == 1)
        {
            float[] cols = ArrayPool<float>.Shared.Rent(ColsLength(shape));
            try
            {
                for (int n = 0; n < batch; n++)
                    body(n, threads, cols);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(cols);
            }
            return;
        }
        SimdParallel.For(batch, shape.MultiplyAdds(batch), threads, n =>
        {
            float[] cols = ArrayPool<float>.Shared.Rent(ColsLength(shape));
            try
            {
                body(n, 1, cols);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(cols);
            }
        });
    }

    /// <summary>The patch matrix [K, P] of image n, group g: x itself for a pointwise conv, else im2col into <paramref name="cols"/>.</summary>
    private static MatrixView Patches(Conv2dShape shape, SimdTensor input, int n, int g, float[] cols, int threads)
    {
        int p = shape.OutputPixels, cg = shape.GroupInChannels;
        int imageOffset = input.Offset + (n * shape.InChannels + g * cg) * shape.InputHeight * shape.InputWidth;
        if (IsPointwise(shape))
            return new MatrixView(input.Array, imageOffset, shape.InputHeight * shape.InputWidth, 1);
        int kh = shape.KernelHeight, kw = shape.KernelWidth;
        SimdParallel.For(cg, (long)cg * kh * kw * p, threads, c =>
        {
            float[] x = input.Array;
            int plane = imageOffset + c * shape.InputHeight * shape.InputWidth;
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                {
                    Span<float> row = cols.AsSpan(((c * kh + i) * kw + j) * p, p);
                    for (int oh = 0; oh < shape.OutputHeight; oh++)
                    {
                        int h = oh * shape.StrideHeight - shape.PaddingHeight + i * shape.DilationHeight;
                        Span<float> target = row.Slice(oh * shape.OutputWidth, shape.OutputWidth);
                        if ((uint)h >= (uint)shape.InputHeight)
                        {
                            target.Clear();
                            continue;
                        }
                        int rowStart = plane + h * shape.InputWidth;
                        int w0 = j * shape.DilationWidth - shape.PaddingWidth;
                        if (shape.StrideWidth == 1 && w0 >= 0 && w0 + shape.OutputWidth <= shape.InputWidth)
                        {
                            x.AsSpan(rowStart + w0, shape.OutputWidth).CopyTo(target);
                            continue;
                        }
                        for (int ow = 0; ow < shape.OutputWidth; ow++)
                        {
                            int w = ow * shape.StrideWidth + w0;
                            target[ow] = (uint)w < (uint)shape.InputWidth ? x[rowStart + w] : 0f;
                        }
                    }
                }
        });
        return new MatrixView(cols, 0, p, 1);
    }

    /// <summary>gradInput[n, g·cg + c, h, w] += gcols[(c, i, j), (oh, ow)] for every tap that reads (h, w); parallel over channels.</summary>
    private static void Col2Im(Conv2dShape shape, float[] gcols, SimdTensor gradInput, int n, int g, int threads)
    {
        int p = shape.OutputPixels, cg = shape.GroupInChannels, kh = shape.KernelHeight, kw = shape.KernelWidth;
        int imageOffset = gradInput.Offset + (n * shape.InChannels + g * cg) * shape.InputHeight * shape.InputWidth;
        SimdParallel.For(cg, (long)cg * kh * kw * p, threads, c =>
        {
            float[] gx = gradInput.Array;
            int plane = imageOffset + c * shape.InputHeight * shape.InputWidth;
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                {
                    ReadOnlySpan<float> row = gcols.AsSpan(((c * kh + i) * kw + j) * p, p);
                    for (int oh = 0; oh < shape.OutputHeight; oh++)
                    {
                        int h = oh * shape.StrideHeight - shape.PaddingHeight + i * shape.DilationHeight;
                        if ((uint)h >= (uint)shape.InputHeight)
                            continue;
                        int rowStart = plane + h * shape.InputWidth;
                        int w0 = j * shape.DilationWidth - shape.PaddingWidth;
                        ReadOnlySpan<float> source = row.Slice(oh * shape.OutputWidth, shape.OutputWidth);
                        for (int ow = 0; ow < shape.OutputWidth; ow++)
                        {
                            int w = ow * shape.StrideWidth + w0;
                            if ((uint)w < (uint)shape.InputWidth)
                                gx[rowStart + w] += source[ow];
                        }
                    }
                }
        });
    }
}
