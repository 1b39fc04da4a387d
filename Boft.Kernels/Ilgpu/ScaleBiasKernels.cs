// Per-output scale and bias: output = input ⊙ s + bias (rows broadcast), and its backward:
//   gradInput = gradOutput ⊙ s (OVERWRITTEN), gradScale += Σ_rows gradOutput ⊙ input, gradBias += Σ_rows gradOutput (ACCUMULATED).
// The column sums are a deterministic two-stage reduction: stage 1 gives each (row chunk, column) pair one thread that sums
// its chunk in row order into a partial; stage 2 adds the chunk partials in chunk order and accumulates into gradScale/gradBias.
// Both stages read gradOutput before the gradInput kernel may overwrite it (gradInput may alias gradOutput).
// Docs: docs/03_Kernels/scale-bias.md

using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>Scalars of the scale/bias kernels.</summary>
internal struct ScaleBiasParams
{
    public int RowCount;
    public int FeatureCount;
    public int HasScale;
    public int HasBias;
    public int ChunkCount;
    public int ChunkRows;
}

/// <summary>Device code of the scale/bias op.</summary>
internal static class ScaleBiasKernels
{
    /// <summary>output[r, j] = input[r, j]·s[j] + bias[j] (either optional); grid-stride over rows, threads over columns.</summary>
    internal static void ForwardKernel(ArrayView<float> input, ArrayView<float> scale, ArrayView<float> bias, ArrayView<float> output, ScaleBiasParams p)
    {
        int n = p.FeatureCount;
        for (int r = Grid.IdxX; r < p.RowCount; r += Grid.DimX)
        {
            for (int j = Group.IdxX; j < n; j += Group.DimX)
            {
                float v = input[r * n + j];
                if (p.HasScale != 0)
                    v *= scale[j];
                if (p.HasBias != 0)
                    v += bias[j];
                output[r * n + j] = v;
            }
        }
    }

    /// <summary>gradInput = gradOutput ⊙ s (or a copy when there is no scale).</summary>
    internal static void GradInputKernel(ArrayView<float> scale, ArrayView<float> gradOutput, ArrayView<float> gradInput, ScaleBiasParams p)
    {
        int n = p.FeatureCount;
        for (int r = Grid.IdxX; r < p.RowCount; r += Grid.DimX)
        {
            for (int j = Group.IdxX; j < n; j += Group.DimX)
            {
                float g = gradOutput[r * n + j];
                gradInput[r * n + j] = p.HasScale != 0 ? g * scale[j] : g;
            }
        }
    }

    /// <summary>
    /// Stage 1: partial[c, j] = Σ_{rows of chunk c} gradOutput·input and partial[C + c, j] = Σ gradOutput, in row order.
    /// One thread per (chunk, column); the grid covers chunks × column groups.
    /// </summary>
    internal static void ColumnPartialsKernel(ArrayView<float> input, ArrayView<float> gradOutput, ArrayView<float> partial, ScaleBiasParams p)
    {
        int n = p.FeatureCount;
        int columnGroups = (n + Group.DimX - 1) / Group.DimX;
        int total = p.ChunkCount * columnGroups;
        for (int item = Grid.IdxX; item < total; item += Grid.DimX)
        {
            int chunk = item / columnGroups;
            int j = (item - chunk * columnGroups) * Group.DimX + Group.IdxX;
            if (j >= n)
                continue;
            int end = Math.Min(p.RowCount, (chunk + 1) * p.ChunkRows);
            float sumScale = 0f, sumBias = 0f;
            for (int r = chunk * p.ChunkRows; r < end; r++)
            {
                float g = gradOutput[r * n + j];
                sumScale += g * input[r * n + j];
                sumBias += g;
            }
            partial[chunk * n + j] = sumScale;
            partial[(p.ChunkCount + chunk) * n + j] = sumBias;
        }
    }

    /// <summary>Stage 2: gradScale[j] += Σ_c partial[c, j]; gradBias[j] += Σ_c partial[C + c, j] (chunk order).</summary>
    internal static void ColumnReduceKernel(ArrayView<float> partial, ArrayView<float> gradScale, ArrayView<float> gradBias, ScaleBiasParams p)
    {
        int n = p.FeatureCount;
        int stride = Grid.DimX * Group.DimX;
        for (int j = Grid.IdxX * Group.DimX + Group.IdxX; j < n; j += stride)
        {
            float sumScale = 0f, sumBias = 0f;
            for (int c = 0; c < p.ChunkCount; c++)
            {
                sumScale += partial[c * n + j];
                sumBias += partial[(p.ChunkCount + c) * n + j];
            }
            if (p.HasScale != 0)
                gradScale[j] += sumScale;
            if (p.HasBias != 0)
                gradBias[j] += sumBias;
        }
    }
}

/// <summary>Launchers of the scale/bias op.</summary>
public sealed partial class BoftKernels
{
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScaleBiasParams> scaleBiasForward;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScaleBiasParams> scaleBiasGradInput;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScaleBiasParams> scaleBiasPartials;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScaleBiasParams> scaleBiasReduce;

    [MemberNotNull(nameof(scaleBiasForward), nameof(scaleBiasGradInput), nameof(scaleBiasPartials), nameof(scaleBiasReduce))]
    private void InitializeScaleBias()
    {
        scaleBiasForward = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScaleBiasParams>(ScaleBiasKernels.ForwardKernel);
        scaleBiasGradInput = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ScaleBiasParams>(ScaleBiasKernels.GradInputKernel);
        scaleBiasPartials = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ScaleBiasParams>(ScaleBiasKernels.ColumnPartialsKernel);
        scaleBiasReduce = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ScaleBiasParams>(ScaleBiasKernels.ColumnReduceKernel);
    }

    /// <summary><c>output = input ⊙ scale + bias</c> per row; either may be omitted (<c>default</c>). <paramref name="output"/> may alias <paramref name="input"/>.</summary>
    /// <param name="input">Shape: [rowCount, featureCount].</param>
    /// <param name="featureCount">n, the row length.</param>
    /// <param name="scale">Optional. Shape: [featureCount].</param>
    /// <param name="bias">Optional. Shape: [featureCount].</param>
    /// <param name="output">Shape: [rowCount, featureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void ScaleBias(ArrayView<float> input, int featureCount, ArrayView<float> scale, ArrayView<float> bias, ArrayView<float> output, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        RequirePositive(featureCount, nameof(featureCount));
        int rows = RequireRows(input, nameof(input), featureCount, $"featureCount = {featureCount}");
        bool hasScale = Optional(scale, nameof(scale));
        if (hasScale)
            RequireLength(scale, nameof(scale), featureCount, ShapeChecks.PerColumnShape(featureCount, "input", input.Length));
        bool hasBias = Optional(bias, nameof(bias));
        if (hasBias)
            RequireLength(bias, nameof(bias), featureCount, ShapeChecks.PerColumnShape(featureCount, "input", input.Length));
        RequireSameRows(output, nameof(output), input, nameof(input), featureCount);
        if (rows == 0)
            return;
        var p = new ScaleBiasParams { RowCount = rows, FeatureCount = featureCount, HasScale = hasScale ? 1 : 0, HasBias = hasBias ? 1 : 0 };
        scaleBiasForward(s, RowConfig(rows, featureCount), input, hasScale ? scale : None, hasBias ? bias : None, output, p);
    }

    /// <summary>
    /// Backward of <see cref="ScaleBias"/>: <c>gradInput = gradOutput ⊙ scale</c> (overwritten), <c>gradScale += Σ_rows gradOutput ⊙ input</c>,
    /// <c>gradBias += Σ_rows gradOutput</c> (accumulated, deterministic two-stage column sums). Any output may be omitted (<c>default</c>).
    /// </summary>
    /// <param name="input">The forward's input. Shape: [rowCount, featureCount].</param>
    /// <param name="featureCount">n.</param>
    /// <param name="scale">The forward's scale, or <c>default</c> (identity). Shape: [featureCount].</param>
    /// <param name="gradOutput">Shape: [rowCount, featureCount].</param>
    /// <param name="gradInput">Optional, overwritten; may alias <paramref name="gradOutput"/>. Shape: [rowCount, featureCount].</param>
    /// <param name="gradScale">Optional, accumulated. Shape: [featureCount].</param>
    /// <param name="gradBias">Optional, accumulated. Shape: [featureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch (<see cref="ScaleBiasBackwardWorkspaceLength"/>), or null for the internal one.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view, the stream or the workspace belongs to another accelerator.</exception>
    public void ScaleBiasBackward(ArrayView<float> input, int featureCount, ArrayView<float> scale, ArrayView<float> gradOutput,
        ArrayView<float> gradInput, ArrayView<float> gradScale, ArrayView<float> gradBias, AcceleratorStream? stream = null, BoftWorkspace? workspace = null)
    {
        AcceleratorStream s = StreamOf(stream);
        RequirePositive(featureCount, nameof(featureCount));
        int rows = RequireRows(input, nameof(input), featureCount, $"featureCount = {featureCount}");
        bool hasScale = Optional(scale, nameof(scale));
        if (hasScale)
            RequireLength(scale, nameof(scale), featureCount, ShapeChecks.PerColumnShape(featureCount, "input", input.Length));
        RequireSameRows(gradOutput, nameof(gradOutput), input, nameof(input), featureCount);
        bool hasGradInput = Optional(gradInput, nameof(gradInput));
        if (hasGradInput)
            RequireSameRows(gradInput, nameof(gradInput), input, nameof(input), featureCount);
        bool hasGradScale = Optional(gradScale, nameof(gradScale));
        if (hasGradScale)
            RequireLength(gradScale, nameof(gradScale), featureCount, ShapeChecks.PerColumnShape(featureCount, "input", input.Length));
        bool hasGradBias = Optional(gradBias, nameof(gradBias));
        if (hasGradBias)
            RequireLength(gradBias, nameof(gradBias), featureCount, ShapeChecks.PerColumnShape(featureCount, "input", input.Length));
        if (rows == 0)
            return;
        var p = new ScaleBiasParams
        {
            RowCount = rows,
            FeatureCount = featureCount,
            HasScale = hasScale ? 1 : 0,
            HasBias = 0,
        };
        if (hasGradScale || hasGradBias)
        {
            (int chunks, int chunkRows) = ColumnChunks(rows, featureCount);
            p.ChunkCount = chunks;
            p.ChunkRows = chunkRows;
            ArrayView<float> partial = Scratch(2L * chunks * featureCount, workspace, "ScaleBiasBackward");
            int columnGroups = LaunchMath.CeilDiv(featureCount, MaxGroupSize);
            scaleBiasPartials(s, new KernelConfig(Math.Min(chunks * columnGroups, 1 << 24), MaxGroupSize), input, gradOutput, partial, p);
            ScaleBiasParams reduceParams = p;
            reduceParams.HasScale = hasGradScale ? 1 : 0;
            reduceParams.HasBias = hasGradBias ? 1 : 0;
            scaleBiasReduce(s, ElementwiseConfig(featureCount), partial, hasGradScale ? gradScale : None, hasGradBias ? gradBias : None, reduceParams);
        }
        if (hasGradInput)
            scaleBiasGradInput(s, RowConfig(rows, featureCount), hasScale ? scale : None, gradOutput, gradInput, p);
    }

    /// <summary>Floats of workspace <see cref="ScaleBiasBackward"/> needs.</summary>
    /// <param name="rowCount">Rows.</param>
    /// <param name="featureCount">n.</param>
    /// <returns>The length to pass to <see cref="CreateWorkspace"/>.</returns>
    public long ScaleBiasBackwardWorkspaceLength(int rowCount, int featureCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        RequirePositive(featureCount, nameof(featureCount));
        return rowCount == 0 ? 0 : 2L * ColumnChunks(rowCount, featureCount).Chunks * featureCount;
    }

    /// <summary>One group per row (grid-stride), threads over the columns.</summary>
    private KernelConfig RowConfig(int rows, int featureCount)
    {
        int group = Math.Min(MaxGroupSize, Math.Max(16, LaunchMath.FloorPowerOfTwo(Math.Max(1, featureCount))));
        return new KernelConfig(Math.Min(rows, 1 << 24), Math.Min(group, MaxGroupSize));
    }

    /// <summary>Row chunks of the column sums: enough (chunk, column) threads to fill the device, deterministic for a device.</summary>
    private (int Chunks, int ChunkRows) ColumnChunks(int rows, int featureCount)
    {
        long target = (long)ResidentGroups * MaxGroupSize;
        int chunks = (int)Math.Clamp(LaunchMath.CeilDiv(target, featureCount), 1, rows);
        int chunkRows = LaunchMath.CeilDiv(rows, chunks);
        return (LaunchMath.CeilDiv(rows, chunkRows), chunkRows);
    }
}
