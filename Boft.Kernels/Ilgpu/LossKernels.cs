// Losses and scalar reductions: mean squared error (and its gradient 2(p − t)/N, OVERWRITTEN), softmax cross-entropy over rows
// (gradient (softmax − onehot)/rows, OVERWRITTEN), and Σ x². Scalars are reduced on the device in double, deterministically:
// stage 1 has a fixed number of groups, each thread accumulating a fixed grid-stride subset in order, then a fixed-shape
// tree in shared memory; stage 2 is one group doing the same over the stage-1 partials. The host then copies ONE small
// result (two doubles) back, the only device-to-host transfer of these ops.
// exp and log use the native PTX ex2/lg2 (approximate on GPUs, exact .NET math on the CPU accelerator), so the kernels need
// no ILGPU.Algorithms intrinsics: they compile in any user context.
// Docs: docs/03_Kernels/losses.md

using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Boft.Backends;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>What the stage-1 reduction sums.</summary>
internal enum ReductionMode
{
    /// <summary>Σ x².</summary>
    SumOfSquares = 0,

    /// <summary>Σ (x − y)², optionally writing the MSE gradient.</summary>
    SquaredError = 1,

    /// <summary>Σ x.</summary>
    Sum = 2,
}

/// <summary>Scalars of the reduction kernels.</summary>
internal struct ReductionParams
{
    public int Length;
    public int Mode;
    public int WriteGradient;
    public double GradientScale;
}

/// <summary>Scalars of the cross-entropy kernel.</summary>
internal struct CrossEntropyParams
{
    public int RowCount;
    public int ClassCount;
    public int WriteGradient;
}

/// <summary>Device code of the loss and reduction ops.</summary>
internal static class LossKernels
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2 = 0.693147180559945309f;

    /// <summary>
    /// Stage 1: partials[group] = Σ over this group's elements (see <see cref="ReductionMode"/>). Group size must be a power of two.
    /// x is float32 or 16-bit (widened as it is loaded, <see cref="IElementCodec{TStore}"/>; Σ x² of a 16-bit tensor).
    /// </summary>
    internal static void ReduceKernel<TStore, TCodec>(ArrayView<TStore> x, ArrayView<float> y, ArrayView<float> gradient, ArrayView<double> partials, ReductionParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        ArrayView<double> shared = SharedMemory.GetDynamic<double>();
        int tid = Group.IdxX;
        int stride = Grid.DimX * Group.DimX;
        double acc = 0;
        for (int i = Grid.IdxX * Group.DimX + tid; i < p.Length; i += stride)
        {
            double v = default(TCodec).Widen(x[i]);
            if (p.Mode == (int)ReductionMode.Sum)
            {
                acc += v;
            }
            else
            {
                if (p.Mode == (int)ReductionMode.SquaredError)
                {
                    v -= y[i]; // in double: exact for float32 inputs
                    if (p.WriteGradient != 0)
                        gradient[i] = (float)(p.GradientScale * v);
                }
                acc += v * v;
            }
        }
        shared[tid] = acc;
        Group.Barrier();
        for (int half = Group.DimX / 2; half > 0; half /= 2)
        {
            if (tid < half)
                shared[tid] += shared[tid + half];
            Group.Barrier();
        }
        if (tid == 0)
            partials[Grid.IdxX] = shared[0];
    }

    /// <summary>Stage 2 (one group): result[slot] = Σ partials[0..count) in a fixed tree order. Group size must be a power of two.</summary>
    internal static void SumPartialsKernel(ArrayView<double> partials, ArrayView<double> result, int count, int slot)
    {
        ArrayView<double> shared = SharedMemory.GetDynamic<double>();
        int tid = Group.IdxX;
        double acc = 0;
        for (int i = tid; i < count; i += Group.DimX)
            acc += partials[i];
        shared[tid] = acc;
        Group.Barrier();
        for (int half = Group.DimX / 2; half > 0; half /= 2)
        {
            if (tid < half)
                shared[tid] += shared[tid + half];
            Group.Barrier();
        }
        if (tid == 0)
            result[slot] = shared[0];
    }

    /// <summary>
    /// One thread per row: rowLoss[r] = logsumexp(z_r) − z_r[y_r], invalid[r] = 1 when the label is not an integer class index
    /// (then the loss and gradient of the row are 0); gradient (softmax − onehot)/rows when asked.
    /// </summary>
    internal static void CrossEntropyRowsKernel(ArrayView<float> logits, ArrayView<float> labels, ArrayView<float> gradLogits,
        ArrayView<float> rowLoss, ArrayView<float> invalid, CrossEntropyParams p)
    {
        int classes = p.ClassCount;
        int stride = Grid.DimX * Group.DimX;
        float inverseRows = 1f / p.RowCount;
        for (int r = Grid.IdxX * Group.DimX + Group.IdxX; r < p.RowCount; r += stride)
        {
            float label = labels[r];
            int index = (int)label;
            bool valid = label == index && index >= 0 && index < classes;
            int baseIndex = r * classes;
            float max = logits[baseIndex];
            for (int c = 1; c < classes; c++)
                max = Math.Max(max, logits[baseIndex + c]);
            float sum = 0f;
            for (int c = 0; c < classes; c++)
                sum += XMath.Exp2((logits[baseIndex + c] - max) * Log2E);
            float logSumExp = max + XMath.Log2(sum) * Ln2;
            rowLoss[r] = valid ? logSumExp - logits[baseIndex + index] : 0f;
            invalid[r] = valid ? 0f : 1f;
            if (p.WriteGradient != 0)
            {
                for (int c = 0; c < classes; c++)
                {
                    float softmax = XMath.Exp2((logits[baseIndex + c] - logSumExp) * Log2E);
                    gradLogits[baseIndex + c] = valid ? (softmax - (c == index ? 1f : 0f)) * inverseRows : 0f;
                }
            }
        }
    }
}

/// <summary>Launchers of the loss and reduction ops.</summary>
public sealed partial class BoftKernels
{
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<double>, ReductionParams> reduce;
    private Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<double>, ReductionParams>? reduceBFloat16;
    private Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<double>, ReductionParams>? reduceFloat16;
    private Action<AcceleratorStream, KernelConfig, ArrayView<double>, ArrayView<double>, int, int> sumPartials;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, CrossEntropyParams> crossEntropyRows;

    [MemberNotNull(nameof(reduce), nameof(sumPartials), nameof(crossEntropyRows))]
    private void InitializeLosses()
    {
        reduce = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<double>, ReductionParams>(LossKernels.ReduceKernel<float, Float32Codec>);
        sumPartials = Accelerator.LoadKernel<ArrayView<double>, ArrayView<double>, int, int>(LossKernels.SumPartialsKernel);
        crossEntropyRows = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, CrossEntropyParams>(LossKernels.CrossEntropyRowsKernel);
    }

    /// <summary>
    /// Mean squared error <c>mean((prediction − target)²)</c>, accumulated in double on the device; optionally writes
    /// <c>gradPrediction = 2 (prediction − target) / N</c> (overwritten). Waits for the stream and copies one scalar back.
    /// </summary>
    /// <param name="prediction">Any length N ≥ 1.</param>
    /// <param name="target">Length N.</param>
    /// <param name="gradPrediction">Optional (<c>default</c> = none); length N.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <returns>The loss.</returns>
    /// <exception cref="ArgumentException">A length does not match, or the prediction is empty.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public double MseLoss(ArrayView<float> prediction, ArrayView<float> target, ArrayView<float> gradPrediction, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(prediction, nameof(prediction));
        ShapeChecks.NotEmptyPrediction(n);
        RequireLength(target, nameof(target), n, ShapeChecks.LikeShape(n, nameof(prediction)));
        bool hasGrad = Optional(gradPrediction, nameof(gradPrediction));
        if (hasGrad)
            RequireLength(gradPrediction, nameof(gradPrediction), n, ShapeChecks.LikeShape(n, nameof(prediction)));
        var p = new ReductionParams { Length = n, Mode = (int)ReductionMode.SquaredError, WriteGradient = hasGrad ? 1 : 0, GradientScale = 2.0 / n };
        ReduceInto(prediction, target, hasGrad ? gradPrediction : None, p, 0, s);
        ReadResults(s);
        return hostResult[0] / n;
    }

    /// <summary>
    /// Softmax cross-entropy averaged over rows; optionally writes <c>gradLogits = (softmax − onehot) / rows</c> (overwritten).
    /// Labels are class indices stored as floats. Waits for the stream and copies two scalars back (the loss sum and the count
    /// of invalid labels); the labels are read back only to name an invalid one.
    /// </summary>
    /// <param name="logits">Shape: [rowCount, classCount].</param>
    /// <param name="labels">Shape: [rowCount]; exact integers in [0, classCount).</param>
    /// <param name="classCount">Number of classes.</param>
    /// <param name="gradLogits">Optional (<c>default</c> = none). Shape: [rowCount, classCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch (2·rowCount floats), or null for the internal one.</param>
    /// <returns>The mean loss.</returns>
    /// <exception cref="ArgumentException">A length does not match, there are no rows, or a label is not a class index (gradLogits then holds zeros for that row).</exception>
    /// <exception cref="BackendMismatchException">A view, the stream or the workspace belongs to another accelerator.</exception>
    public double SoftmaxCrossEntropy(ArrayView<float> logits, ArrayView<float> labels, int classCount, ArrayView<float> gradLogits,
        AcceleratorStream? stream = null, BoftWorkspace? workspace = null)
    {
        AcceleratorStream s = StreamOf(stream);
        RequirePositive(classCount, nameof(classCount));
        int rows = RequireRows(logits, nameof(logits), classCount, $"classCount = {classCount}");
        ShapeChecks.LogitsNotEmpty(rows, classCount, ShapeChecks.DeferredRowsOf((long)rows * classCount, classCount));
        RequireLength(labels, nameof(labels), rows, ShapeChecks.LabelsShape(rows, classCount));
        bool hasGrad = Optional(gradLogits, nameof(gradLogits));
        if (hasGrad)
            RequireSameRows(gradLogits, nameof(gradLogits), logits, nameof(logits), classCount);
        ArrayView<float> scratch = Scratch(2L * rows, workspace, "SoftmaxCrossEntropy");
        ArrayView<float> rowLoss = scratch.SubView(0, rows);
        ArrayView<float> invalid = scratch.SubView(rows, rows);
        var p = new CrossEntropyParams { RowCount = rows, ClassCount = classCount, WriteGradient = hasGrad ? 1 : 0 };
        crossEntropyRows(s, ElementwiseConfig(rows), logits, labels, hasGrad ? gradLogits : None, rowLoss, invalid, p);
        ReduceInto(rowLoss, None, None, new ReductionParams { Length = rows, Mode = (int)ReductionMode.Sum }, 0, s);
        ReduceInto(invalid, None, None, new ReductionParams { Length = rows, Mode = (int)ReductionMode.Sum }, 1, s);
        ReadResults(s);
        if (hostResult[1] != 0)
            ThrowInvalidLabel(labels, rows, classCount, s);
        return hostResult[0] / rows;
    }

    /// <summary>Σ x² over all elements, accumulated in double on the device. Waits for the stream and copies one scalar back.</summary>
    /// <param name="values">Any view of this accelerator.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <returns>The sum of squares (0 for an empty view).</returns>
    /// <exception cref="BackendMismatchException">The view or the stream belongs to another accelerator.</exception>
    public double SumOfSquares(ArrayView<float> values, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(values, nameof(values));
        if (n == 0)
            return 0;
        ReduceInto(values, None, None, new ReductionParams { Length = n, Mode = (int)ReductionMode.SumOfSquares }, 0, s);
        ReadResults(s);
        return hostResult[0];
    }

    /// <summary>Σ x² of a 16-bit view (each element widened exactly as it is loaded), accumulated in double on the device.
    /// Waits for the stream and copies one scalar back.</summary>
    /// <param name="values">Raw 16-bit elements of this accelerator.</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <returns>The sum of squares (0 for an empty view).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="BackendMismatchException">The view or the stream belongs to another accelerator.</exception>
    public double SumOfSquares(ArrayView<ushort> values, ElementType elementType, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(values, nameof(values));
        var launch = RequireSixteenBit(elementType) == ElementType.BFloat16
            ? reduceBFloat16 ??= Accelerator.LoadKernel<ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<double>, ReductionParams>(LossKernels.ReduceKernel<ushort, BFloat16Codec>)
            : reduceFloat16 ??= Accelerator.LoadKernel<ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<double>, ReductionParams>(LossKernels.ReduceKernel<ushort, Float16Codec>);
        if (n == 0)
            return 0;
        var p = new ReductionParams { Length = n, Mode = (int)ReductionMode.SumOfSquares };
        int group = ReductionGroupSize;
        int grid = ReductionGrid(n);
        launch(s, new KernelConfig(grid, group, SharedMemoryConfig.RequestDynamic<double>(group)), values, None, None, reductionPartials.View, p);
        sumPartials(s, new KernelConfig(1, group, SharedMemoryConfig.RequestDynamic<double>(group)), reductionPartials.View, reductionResult.View, grid, 0);
        ReadResults(s);
        return hostResult[0];
    }

    private int ReductionGrid(int length) =>
        (int)Math.Clamp(LaunchMath.CeilDiv((long)length, ReductionGroupSize), 1, Math.Min(MaxReductionPartials, Math.Min(ResidentGroups * 2L, GridStrideGroups)));

    /// <summary>Two-stage deterministic reduction into result slot <paramref name="slot"/>: fixed grid, fixed trees.</summary>
    private void ReduceInto(ArrayView<float> x, ArrayView<float> y, ArrayView<float> gradient, ReductionParams p, int slot, AcceleratorStream stream)
    {
        int group = ReductionGroupSize;
        int grid = ReductionGrid(p.Length);
        reduce(stream, new KernelConfig(grid, group, SharedMemoryConfig.RequestDynamic<double>(group)), x, y, gradient, reductionPartials.View, p);
        sumPartials(stream, new KernelConfig(1, group, SharedMemoryConfig.RequestDynamic<double>(group)), reductionPartials.View, reductionResult.View, grid, slot);
    }

    /// <summary>The one device-to-host copy of a loss: both result slots, then a wait on the stream.</summary>
    private void ReadResults(AcceleratorStream stream)
    {
        reductionResult.View.CopyToCPU(stream, hostResult.AsSpan());
        stream.Synchronize();
    }

    private void ThrowInvalidLabel(ArrayView<float> labels, int rows, int classCount, AcceleratorStream stream)
    {
        var host = new float[rows];
        labels.SubView(0, rows).CopyToCPU(stream, host);
        stream.Synchronize();
        for (int r = 0; r < rows; r++)
        {
            float label = host[r];
            if (!(label == MathF.Round(label) && label >= 0 && label < classCount))
                throw ShapeChecks.InvalidLabel(r, label, classCount);
        }
        throw ShapeChecks.InvalidLabels(hostResult[1], classCount);
    }
}
