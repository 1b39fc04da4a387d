// Per-output scale and bias: output = input ⊙ s + bias (rows broadcast), and its backward:
//   gradInput = gradOutput ⊙ s (OVERWRITTEN), gradScale += Σ_rows gradOutput ⊙ input, gradBias += Σ_rows gradOutput (ACCUMULATED).
// The column sums are a deterministic two-stage reduction: stage 1 gives each (row chunk, column) pair one thread that sums
// its chunk in row order into a partial; stage 2 adds the chunk partials in chunk order and accumulates into gradScale/gradBias.
// Both stages read gradOutput before the gradInput kernel may overwrite it (gradInput may alias gradOutput).
// Activations (input, bias, output, gradOutput, gradInput) are float32 or 16-bit (TStore/TCodec, ElementCodecs.cs): widened as
// loaded, computed and summed in float32, rounded once at the store; scale and the column sums stay float32. A bias may also be
// float32 beside 16-bit activations (a trainable master bias: ForwardFloat32BiasKernel); its gradient is float32 either way.
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
    internal static void ForwardKernel<TStore, TCodec>(ArrayView<TStore> input, ArrayView<float> scale, ArrayView<TStore> bias, ArrayView<TStore> output, ScaleBiasParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore> =>
        Forward<TStore, TCodec, TStore, TCodec>(input, scale, bias, output, p);

    /// <summary>The forward with a float32 bias (a trainable master) beside activations of TStore: the bias is added in float32
    /// before the one rounding, exactly as a bias in the activation type is.</summary>
    internal static void ForwardFloat32BiasKernel<TStore, TCodec>(ArrayView<TStore> input, ArrayView<float> scale, ArrayView<float> bias, ArrayView<TStore> output, ScaleBiasParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore> =>
        Forward<TStore, TCodec, float, Float32Codec>(input, scale, bias, output, p);

    /// <summary>The forward body: activations of TStore, the bias of TBias (widened as loaded).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void Forward<TStore, TCodec, TBias, TBiasCodec>(ArrayView<TStore> input, ArrayView<float> scale, ArrayView<TBias> bias, ArrayView<TStore> output, ScaleBiasParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
        where TBias : unmanaged
        where TBiasCodec : struct, IElementCodec<TBias>
    {
        int n = p.FeatureCount;
        for (int r = Grid.IdxX; r < p.RowCount; r += Grid.DimX)
        {
            for (int j = Group.IdxX; j < n; j += Group.DimX)
            {
                float v = default(TCodec).Widen(input[r * n + j]);
                if (p.HasScale != 0)
                    v *= scale[j];
                if (p.HasBias != 0)
                    v += default(TBiasCodec).Widen(bias[j]);
                output[r * n + j] = default(TCodec).Narrow(v);
            }
        }
    }

    /// <summary>gradInput = gradOutput ⊙ s (or a copy when there is no scale).</summary>
    internal static void GradInputKernel<TStore, TCodec>(ArrayView<float> scale, ArrayView<TStore> gradOutput, ArrayView<TStore> gradInput, ScaleBiasParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        int n = p.FeatureCount;
        for (int r = Grid.IdxX; r < p.RowCount; r += Grid.DimX)
        {
            for (int j = Group.IdxX; j < n; j += Group.DimX)
            {
                float g = default(TCodec).Widen(gradOutput[r * n + j]);
                gradInput[r * n + j] = default(TCodec).Narrow(p.HasScale != 0 ? g * scale[j] : g);
            }
        }
    }

    /// <summary>
    /// Stage 1: partial[c, j] = Σ_{rows of chunk c} gradOutput·input and partial[C + c, j] = Σ gradOutput, in row order.
    /// One thread per (chunk, column); the grid covers chunks × column groups.
    /// </summary>
    internal static void ColumnPartialsKernel<TStore, TCodec>(ArrayView<TStore> input, ArrayView<TStore> gradOutput, ArrayView<float> partial, ScaleBiasParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
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
                float g = default(TCodec).Widen(gradOutput[r * n + j]);
                sumScale += g * default(TCodec).Widen(input[r * n + j]);
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
    /// <summary>The scale/bias kernels of one storage type.</summary>
    private sealed class ScaleBiasSet<TStore>(
        Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<float>, ArrayView<TStore>, ArrayView<TStore>, ScaleBiasParams> forward,
        Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<TStore>, ArrayView<TStore>, ScaleBiasParams> gradInput,
        Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<TStore>, ArrayView<float>, ScaleBiasParams> partials)
        where TStore : unmanaged
    {
        public Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<float>, ArrayView<TStore>, ArrayView<TStore>, ScaleBiasParams> Forward { get; } = forward;

        public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<TStore>, ArrayView<TStore>, ScaleBiasParams> GradInput { get; } = gradInput;

        public Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<TStore>, ArrayView<float>, ScaleBiasParams> Partials { get; } = partials;
    }

    private ScaleBiasSet<float> scaleBiasFloat32;
    private ScaleBiasSet<ushort>? scaleBiasBFloat16;
    private ScaleBiasSet<ushort>? scaleBiasFloat16;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScaleBiasParams> scaleBiasReduce;

    [MemberNotNull(nameof(scaleBiasFloat32), nameof(scaleBiasReduce))]
    private void InitializeScaleBias()
    {
        scaleBiasFloat32 = LoadScaleBias<float, Float32Codec>();
        scaleBiasReduce = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ScaleBiasParams>(ScaleBiasKernels.ColumnReduceKernel);
    }

    private ScaleBiasSet<TStore> LoadScaleBias<TStore, TCodec>()
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore> =>
        new(Accelerator.LoadKernel<ArrayView<TStore>, ArrayView<float>, ArrayView<TStore>, ArrayView<TStore>, ScaleBiasParams>(ScaleBiasKernels.ForwardKernel<TStore, TCodec>),
            Accelerator.LoadKernel<ArrayView<float>, ArrayView<TStore>, ArrayView<TStore>, ScaleBiasParams>(ScaleBiasKernels.GradInputKernel<TStore, TCodec>),
            Accelerator.LoadKernel<ArrayView<TStore>, ArrayView<TStore>, ArrayView<float>, ScaleBiasParams>(ScaleBiasKernels.ColumnPartialsKernel<TStore, TCodec>));

    private Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<ushort>, ScaleBiasParams>? scaleBiasFloat32BiasBFloat16;
    private Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<ushort>, ScaleBiasParams>? scaleBiasFloat32BiasFloat16;

    /// <summary>The forward with a float32 bias over 16-bit activations of <paramref name="type"/>, loaded on first use.</summary>
    private Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<ushort>, ScaleBiasParams> ScaleBiasFloat32Bias(ElementType type) =>
        RequireSixteenBit(type) == ElementType.BFloat16
            ? scaleBiasFloat32BiasBFloat16 ??= Accelerator.LoadKernel<ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<ushort>, ScaleBiasParams>(
                ScaleBiasKernels.ForwardFloat32BiasKernel<ushort, BFloat16Codec>)
            : scaleBiasFloat32BiasFloat16 ??= Accelerator.LoadKernel<ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<ushort>, ScaleBiasParams>(
                ScaleBiasKernels.ForwardFloat32BiasKernel<ushort, Float16Codec>);

    /// <summary>The 16-bit scale/bias kernels of <paramref name="type"/>, loaded on first use.</summary>
    private ScaleBiasSet<ushort> ScaleBiasSixteenBit(ElementType type) => RequireSixteenBit(type) == ElementType.BFloat16
        ? scaleBiasBFloat16 ??= LoadScaleBias<ushort, BFloat16Codec>()
        : scaleBiasFloat16 ??= LoadScaleBias<ushort, Float16Codec>();

    /// <summary><c>output = input ⊙ scale + bias</c> per row; either may be omitted (<c>default</c>). <paramref name="output"/> may alias <paramref name="input"/>.</summary>
    /// <param name="input">Shape: [rowCount, featureCount].</param>
    /// <param name="featureCount">n, the row length.</param>
    /// <param name="scale">Optional. Shape: [featureCount].</param>
    /// <param name="bias">Optional. Shape: [featureCount].</param>
    /// <param name="output">Shape: [rowCount, featureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void ScaleBias(ArrayView<float> input, int featureCount, ArrayView<float> scale, ArrayView<float> bias, ArrayView<float> output, AcceleratorStream? stream = null) =>
        ScaleBias(scaleBiasFloat32, input, featureCount, scale, bias, output, stream);

    /// <summary><c>output = input ⊙ scale + bias</c> on 16-bit activations of <paramref name="elementType"/> (input, bias, output); scale
    /// stays float32; computed in float32 and rounded once. <paramref name="output"/> may alias <paramref name="input"/>.</summary>
    /// <param name="input">Shape: [rowCount, featureCount].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="featureCount">n, the row length.</param>
    /// <param name="scale">Optional, float32. Shape: [featureCount].</param>
    /// <param name="bias">Optional, 16-bit. Shape: [featureCount].</param>
    /// <param name="output">Shape: [rowCount, featureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void ScaleBias(ArrayView<ushort> input, ElementType elementType, int featureCount, ArrayView<float> scale, ArrayView<ushort> bias, ArrayView<ushort> output, AcceleratorStream? stream = null) =>
        ScaleBias(ScaleBiasSixteenBit(elementType), input, featureCount, scale, bias, output, stream);

    /// <summary><c>output = input ⊙ scale + bias</c> on 16-bit activations of <paramref name="elementType"/> (input, output) with a float32
    /// bias (a trainable master) and scale; computed in float32 and rounded once. <paramref name="output"/> may alias <paramref name="input"/>.
    /// The backward is <see cref="ScaleBiasBackward(ArrayView{ushort}, ElementType, int, ArrayView{float}, ArrayView{ushort}, ArrayView{ushort}, ArrayView{float}, ArrayView{float}, AcceleratorStream?, BoftWorkspace?)"/>
    /// (its bias gradient is float32).</summary>
    /// <param name="input">Shape: [rowCount, featureCount].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="featureCount">n, the row length.</param>
    /// <param name="scale">Optional, float32. Shape: [featureCount].</param>
    /// <param name="bias">Float32. Shape: [featureCount].</param>
    /// <param name="output">Shape: [rowCount, featureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match, or the bias is <c>default</c>.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void ScaleBiasWithFloat32Bias(ArrayView<ushort> input, ElementType elementType, int featureCount, ArrayView<float> scale, ArrayView<float> bias, ArrayView<ushort> output,
        AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        var forward = ScaleBiasFloat32Bias(elementType);
        RequirePositive(featureCount, nameof(featureCount));
        int rows = RequireRows(input, nameof(input), featureCount, $"featureCount = {featureCount}");
        bool hasScale = Optional(scale, nameof(scale));
        if (hasScale)
            RequireLength(scale, nameof(scale), featureCount, ShapeChecks.PerColumnShape(featureCount, "input", input.Length));
        RequireLength(bias, nameof(bias), featureCount, ShapeChecks.PerColumnShape(featureCount, "input", input.Length));
        RequireSameRows(output, nameof(output), input, nameof(input), featureCount);
        if (rows == 0)
            return;
        var p = new ScaleBiasParams { RowCount = rows, FeatureCount = featureCount, HasScale = hasScale ? 1 : 0, HasBias = 1 };
        forward(s, RowConfig(rows, featureCount), input, hasScale ? scale : None, bias, output, p);
    }

    private void ScaleBias<TStore>(ScaleBiasSet<TStore> kernels, ArrayView<TStore> input, int featureCount, ArrayView<float> scale, ArrayView<TStore> bias, ArrayView<TStore> output,
        AcceleratorStream? stream)
        where TStore : unmanaged
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
        kernels.Forward(s, RowConfig(rows, featureCount), input, hasScale ? scale : None, hasBias ? bias : input, output, p);
    }

    /// <summary>
    /// Backward of <see cref="ScaleBias(ArrayView{float}, int, ArrayView{float}, ArrayView{float}, ArrayView{float}, AcceleratorStream?)"/>:
    /// <c>gradInput = gradOutput ⊙ scale</c> (overwritten), <c>gradScale += Σ_rows gradOutput ⊙ input</c>,
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
        ArrayView<float> gradInput, ArrayView<float> gradScale, ArrayView<float> gradBias, AcceleratorStream? stream = null, BoftWorkspace? workspace = null) =>
        ScaleBiasBackward(scaleBiasFloat32, input, featureCount, scale, gradOutput, gradInput, gradScale, gradBias, stream, workspace);

    /// <summary>The scale/bias backward on 16-bit activations of <paramref name="elementType"/> (input, gradOutput, gradInput); scale, gradScale
    /// and gradBias (accumulated, deterministic float32 column sums) stay float32. Any output may be omitted (<c>default</c>).</summary>
    /// <param name="input">The forward's input. Shape: [rowCount, featureCount].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="featureCount">n.</param>
    /// <param name="scale">The forward's scale (float32), or <c>default</c> (identity). Shape: [featureCount].</param>
    /// <param name="gradOutput">Shape: [rowCount, featureCount].</param>
    /// <param name="gradInput">Optional, overwritten; may alias <paramref name="gradOutput"/>. Shape: [rowCount, featureCount].</param>
    /// <param name="gradScale">Optional, float32, accumulated. Shape: [featureCount].</param>
    /// <param name="gradBias">Optional, float32, accumulated. Shape: [featureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch (<see cref="ScaleBiasBackwardWorkspaceLength"/>), or null for the internal one.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void ScaleBiasBackward(ArrayView<ushort> input, ElementType elementType, int featureCount, ArrayView<float> scale, ArrayView<ushort> gradOutput,
        ArrayView<ushort> gradInput, ArrayView<float> gradScale, ArrayView<float> gradBias, AcceleratorStream? stream = null, BoftWorkspace? workspace = null) =>
        ScaleBiasBackward(ScaleBiasSixteenBit(elementType), input, featureCount, scale, gradOutput, gradInput, gradScale, gradBias, stream, workspace);

    private void ScaleBiasBackward<TStore>(ScaleBiasSet<TStore> kernels, ArrayView<TStore> input, int featureCount, ArrayView<float> scale, ArrayView<TStore> gradOutput,
        ArrayView<TStore> gradInput, ArrayView<float> gradScale, ArrayView<float> gradBias, AcceleratorStream? stream, BoftWorkspace? workspace)
        where TStore : unmanaged
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
            kernels.Partials(s, new KernelConfig(Math.Min(chunks * columnGroups, 1 << 24), MaxGroupSize), input, gradOutput, partial, p);
            ScaleBiasParams reduceParams = p;
            reduceParams.HasScale = hasGradScale ? 1 : 0;
            reduceParams.HasBias = hasGradBias ? 1 : 0;
            scaleBiasReduce(s, ElementwiseConfig(featureCount), partial, hasGradScale ? gradScale : None, hasGradBias ? gradBias : None, reduceParams);
        }
        if (hasGradInput)
            kernels.GradInput(s, RowConfig(rows, featureCount), hasScale ? scale : None, gradOutput, gradInput, p);
    }

    /// <summary>Floats of workspace <see cref="ScaleBiasBackward(ArrayView{float}, int, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, AcceleratorStream?, BoftWorkspace?)"/> needs.</summary>
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
