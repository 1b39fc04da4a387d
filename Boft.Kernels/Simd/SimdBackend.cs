// The managed SIMD backend: the default CPU backend (no GPU needed). Every op of BoftBackend with Vector512 kernels and
// Vector256 / Vector128 fallbacks, Parallel.For over tiles and blocks, deterministic reductions. Validation is done by
// BoftBackend before any *Core hook runs. Design: docs/02_Ops/simd-backend.md; kernels: one file per op family here.
// Gradient convention (BoftBackend): parameter gradients accumulate (+=), activation gradients are overwritten (=).
// Each width-dependent hook runs a call struct (declared right below it) through the SimdDispatch chosen at creation
// (SimdDispatch.cs): adding an op means adding its hook and its call here, nothing else in the backend.

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.Intrinsics;
using Boft.Backends;

namespace Boft.Kernels.Simd;

/// <summary>
/// The managed SIMD CPU backend (<see cref="BoftBackend.Name"/> <c>Simd</c>): float32 kernels written once against a
/// vector abstraction and compiled for 512-, 256- or 128-bit vectors. Results are deterministic (bit-identical from run to
/// run on the same machine and width). Not thread-safe, like every backend; its kernels use all cores by default.
/// </summary>
public sealed partial class SimdBackend : BoftBackend
{
    /// <summary>The dispatch of <see cref="Width"/>, and of the narrower widths the rotation uses for few rows.</summary>
    private readonly SimdDispatch simd, simd128, simd256;
    private readonly ConcurrentDictionary<(RotationShape Shape, int Lanes), RotationPlan> plans = new();
    private readonly ConcurrentDictionary<RotationShape, RowRotationPlan> rowPlans = new();

    /// <summary>Creates the backend with the widest vectors this machine accelerates and all cores.</summary>
    public SimdBackend()
        : this(BestWidth)
    {
    }

    /// <summary>Creates the backend with an explicit vector width (honoured or refused, never replaced by another).</summary>
    /// <param name="width">The vector width.</param>
    /// <param name="maxDegreeOfParallelism">Threads per op; -1 (default) for all cores, 1 for single-threaded.</param>
    /// <exception cref="PlatformNotSupportedException">The hardware does not accelerate <paramref name="width"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxDegreeOfParallelism"/> is 0 or less than -1.</exception>
    public SimdBackend(SimdWidth width, int maxDegreeOfParallelism = -1)
    {
        if (maxDegreeOfParallelism == 0 || maxDegreeOfParallelism < -1)
            throw new ArgumentOutOfRangeException(nameof(maxDegreeOfParallelism), maxDegreeOfParallelism, "Use -1 (all cores) or a positive thread count.");
        if (!IsSupported(width))
            throw new PlatformNotSupportedException($"{width} is not hardware accelerated on this machine; the widest accelerated width is {BestWidth}.");
        Width = width;
        MaxDegreeOfParallelism = maxDegreeOfParallelism;
        simd = SimdDispatch.For(width);
        simd128 = width == SimdWidth.Vector128 ? simd : SimdDispatch.For(SimdWidth.Vector128);
        simd256 = width == SimdWidth.Vector256 ? simd : width == SimdWidth.Vector512 ? SimdDispatch.For(SimdWidth.Vector256) : simd;
    }

    /// <inheritdoc />
    public override string Name => "Simd";

    /// <summary>The vector width in use.</summary>
    public SimdWidth Width { get; }

    /// <summary>Threads per op (-1: all cores).</summary>
    public int MaxDegreeOfParallelism { get; }

    /// <summary>
    /// The kernel of the forward rotation (<see cref="BoftBackend.Rotate"/>, <see cref="BoftBackend.Merge"/>): by default the
    /// row-layout kernels wherever they apply (OFT b = 2 or 4 with AVX2; any m with b a multiple of the vector's lanes, 8 with
    /// AVX2, 16 with AVX-512; with AVX-512 also b = 8 for m = 1, and for m = 2 on rows beyond 32 MiB), else the tiled one. It also picks the backward (<see cref="BoftBackend.RotateBackward"/>), which
    /// has row-layout kernels for OFT b = 2 or 4 and for b a multiple of two vectors; every other backward is tiled. <see cref="SimdRotationKernel.Tiled"/>
    /// forces the tiled kernels, for benchmarks that compare the two side by side; results agree within float32 rounding.
    /// </summary>
    public SimdRotationKernel ForwardRotationKernel { get; set; }

    /// <summary>
    /// How long the SIMD backends' worker threads (shared by every instance, one fewer than the cores) keep spinning after a
    /// parallel op before they sleep; 2 ms by default. While they spin, the next op starts without waking a thread, which on
    /// a 2-core virtual machine added about 0.08 ms at the median and up to 0.9 ms (docs/02_Ops/simd-backend.md §Threads);
    /// they yield their core to any other runnable thread meanwhile. <see cref="TimeSpan.Zero"/> makes them sleep at once (no idle CPU use, every op wakes them).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or longer than one second.</exception>
    public static TimeSpan WorkerSpin
    {
        get => TimeSpan.FromSeconds((double)WorkerPool.SpinTicks / Stopwatch.Frequency);
        set
        {
            if (value < TimeSpan.Zero || value > TimeSpan.FromSeconds(1))
                throw new ArgumentOutOfRangeException(nameof(value), value, "Use a spin time from zero to one second.");
            WorkerPool.SpinTicks = (long)(value.TotalSeconds * Stopwatch.Frequency);
        }
    }

    /// <summary>
    /// Whether the SIMD backends run their parallel ops on their own worker threads (true, the default) or on the .NET
    /// thread pool's <see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/> (false; what they did before
    /// 2026-12-07, kept for side-by-side comparisons such as the <c>kernels</c> job's <c>parallel_loop</c> rows). Results
    /// are bitwise the same either way.
    /// </summary>
    public static bool UseWorkerPool
    {
        get => SimdParallel.UseWorkerPool;
        set => SimdParallel.UseWorkerPool = value;
    }

    /// <summary>The widest vector width this machine accelerates.</summary>
    public static SimdWidth BestWidth =>
        Vector512.IsHardwareAccelerated ? SimdWidth.Vector512 : Vector256.IsHardwareAccelerated ? SimdWidth.Vector256 : SimdWidth.Vector128;

    /// <summary>Whether <paramref name="width"/> is hardware accelerated here (Vector128 is always available, in software if need be).</summary>
    /// <param name="width">The width.</param>
    /// <returns>True when the backend can be created with it.</returns>
    public static bool IsSupported(SimdWidth width) => width switch
    {
        SimdWidth.Vector512 => Vector512.IsHardwareAccelerated,
        SimdWidth.Vector256 => Vector256.IsHardwareAccelerated,
        SimdWidth.Vector128 => true,
        _ => false,
    };

    /// <inheritdoc />
    public override string ToString() => $"Simd({Width}, threads {(MaxDegreeOfParallelism < 0 ? Environment.ProcessorCount : MaxDegreeOfParallelism)})";

    internal RotationPlan Plan(RotationShape shape, int lanes) => plans.GetOrAdd((shape, lanes), key => new RotationPlan(key.Shape, key.Lanes));

    internal RowRotationPlan RowPlan(RotationShape shape) => rowPlans.GetOrAdd(shape, key => new RowRotationPlan(key));

    /// <summary>
    /// Runs the forward rotation (x·R, x·Rᵀ, Merge's diag(s)·W·Rᵀ) on a row-layout kernel when one applies: LaneRotation.cs for
    /// m = 1 and b = 2 or 4 on 256-bit vectors, else RowRotation.cs at the backend's width when b is a multiple of its lanes
    /// (not at narrower vectors: at 4 lanes on an 8-lane machine it measured 0.7-0.8× the tiled kernel; docs/02_Ops/simd-backend.md
    /// §Row kernels). False: the caller runs the tiled kernel.
    /// </summary>
    private bool TryRowKernels(RotationShape shape, SimdTensor input, SimdTensor blocks, bool transpose, SimdTensor? rowScale, SimdTensor output, int rowCount)
    {
        if (ForwardRotationKernel == SimdRotationKernel.Tiled)
            return false;
        if (UsesLaneKernel(shape))
        {
            LaneRotation.Forward(shape, input, blocks, transpose, rowScale, output, rowCount, Threads);
            return true;
        }
        if (!RowRotation.Applies(RowPlan(shape), (int)Width / 32, StreamingStores.RowBytes(input, output, rowCount, shape.FeatureCount)))
            return false;
        simd.Run(new RowRotateCall(this, shape, input, blocks, transpose, rowScale, output, rowCount));
        return true;
    }

    private bool UsesLaneKernel(RotationShape shape) => Width != SimdWidth.Vector128 && LaneRotation.Applies(shape);

    /// <summary>
    /// Rows in lanes wastes lanes when there are fewer rows than lanes (token-by-token inference): up to 4 rows use 4-lane
    /// and up to 8 rows 8-lane vectors (never wider than the backend's). The choice depends on the row count only.
    /// </summary>
    private SimdDispatch RotationDispatch(int rowCount) => rowCount <= 4 ? simd128 : rowCount <= 8 ? simd256 : simd;

    private int Threads => MaxDegreeOfParallelism;

    private static SimdTensor T(Tensor tensor) => (SimdTensor)tensor;

    private static SimdTensor? TOrNull(Tensor? tensor) => (SimdTensor?)tensor;

    /// <inheritdoc />
    protected override Tensor AllocateCore(int[] shape) => new SimdTensor(this, shape);

    /// <inheritdoc />
    protected override void SynchronizeCore()
    {
        // Every op completes before it returns.
    }

    /// <inheritdoc />
    protected override void CayleyForwardCore(CayleyShape shape, Tensor parameters, Tensor? identityMask, Tensor blocks) =>
        simd.Run(new CayleyForwardCall(shape, T(parameters), TOrNull(identityMask), T(blocks), Threads));

    private readonly record struct CayleyForwardCall(CayleyShape Shape, SimdTensor Parameters, SimdTensor? IdentityMask, SimdTensor Blocks, int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct => Cayley.Forward<TS, TV>(Shape, Parameters, IdentityMask, Blocks, Threads);
    }

    /// <inheritdoc />
    protected override void CayleyBackwardCore(CayleyShape shape, Tensor parameters, Tensor blocks, Tensor gradBlocks, Tensor? identityMask, Tensor gradParameters) =>
        simd.Run(new CayleyBackwardCall(shape, T(parameters), T(blocks), T(gradBlocks), TOrNull(identityMask), T(gradParameters), Threads));

    private readonly record struct CayleyBackwardCall(CayleyShape Shape, SimdTensor Parameters, SimdTensor Blocks, SimdTensor GradBlocks, SimdTensor? IdentityMask,
        SimdTensor GradParameters, int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            Cayley.Backward<TS, TV>(Shape, Parameters, Blocks, GradBlocks, IdentityMask, GradParameters, Threads);
    }

    /// <inheritdoc />
    protected override void CoftProjectCore(CayleyShape shape, double radius, Tensor parameters) =>
        Cayley.CoftProject(shape, radius, T(parameters), Threads);

    /// <inheritdoc />
    protected override void RotateCore(RotationShape shape, Tensor input, Tensor blocks, bool transpose, Tensor output, int rowCount)
    {
        // 16-bit tensors too: every kernel widens and rounds as it loads and stores (RowRotation.Group, Rotation.LoadTile / StoreTile).
        if (!TryRowKernels(shape, T(input), T(blocks), transpose, null, T(output), rowCount))
            RotationDispatch(rowCount).Run(new RotateCall(this, shape, T(input), T(blocks), transpose, T(output), rowCount));
    }

    private readonly record struct RowRotateCall(SimdBackend Backend, RotationShape Shape, SimdTensor Input, SimdTensor Blocks, bool Transpose, SimdTensor? RowScale,
        SimdTensor Output, int RowCount) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            RowRotation.Forward<TS, TV>(Backend.RowPlan(Shape), Input, Blocks, Transpose, RowScale, Output, RowCount, Backend.Threads);
    }

    private readonly record struct RotateCall(SimdBackend Backend, RotationShape Shape, SimdTensor Input, SimdTensor Blocks, bool Transpose, SimdTensor Output, int RowCount) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            Rotation.Forward<TS, TV>(Backend.Plan(Shape, TS.Count), Input, Blocks, Transpose, null, Output, RowCount, Backend.Threads);
    }

    /// <inheritdoc />
    protected override void RotateBackwardCore(RotationShape shape, Tensor input, Tensor blocks, Tensor gradOutput, Tensor gradInput, Tensor gradBlocks, int rowCount)
    {
        // OFT b = 2 or 4 (m = 1) in row layout, without the tiled kernel's transposes: the block gradients first, then
        // g_x = g_y·Cᵀ with the forward kernel (gradInput may alias gradOutput, which the block gradients read).
        if (ForwardRotationKernel != SimdRotationKernel.Tiled && UsesLaneKernel(shape))
        {
            LaneRotation.BlockGradients(shape, T(input), T(gradOutput), T(gradBlocks), rowCount, Threads);
            LaneRotation.Forward(shape, T(gradOutput), T(blocks), true, null, T(gradInput), rowCount, Threads);
            return;
        }
        // b a multiple of two vectors: in row layout too (RowRotation.Backward.cs), all m factors per staged batch of rows;
        // for one factor the block gradients only, then g_x = g_y·Cᵀ by the row forward (measured faster, see there).
        if (ForwardRotationKernel != SimdRotationKernel.Tiled && RowRotation.BackwardApplies(RowPlan(shape), (int)Width / 32))
        {
            bool oneFactor = shape.FactorCount == 1;
            simd.Run(new RowBackwardCall(this, shape, T(input), T(blocks), T(gradOutput), oneFactor ? null : T(gradInput), T(gradBlocks), rowCount));
            if (oneFactor)
                simd.Run(new RowRotateCall(this, shape, T(gradOutput), T(blocks), true, null, T(gradInput), rowCount));
            return;
        }
        RotationDispatch(rowCount).Run(new RotateBackwardCall(this, shape, T(input), T(blocks), T(gradOutput), T(gradInput), T(gradBlocks), rowCount));
    }

    private readonly record struct RowBackwardCall(SimdBackend Backend, RotationShape Shape, SimdTensor Input, SimdTensor Blocks, SimdTensor GradOutput,
        SimdTensor? GradInput, SimdTensor GradBlocks, int RowCount) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            RowRotation.Backward<TS, TV>(Backend.RowPlan(Shape), Input, Blocks, GradOutput, GradInput, GradBlocks, RowCount, Backend.Threads);
    }

    private readonly record struct RotateBackwardCall(SimdBackend Backend, RotationShape Shape, SimdTensor Input, SimdTensor Blocks, SimdTensor GradOutput, SimdTensor GradInput,
        SimdTensor GradBlocks, int RowCount) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            Rotation.Backward<TS, TV>(Backend.Plan(Shape, TS.Count), Input, Blocks, GradOutput, GradInput, GradBlocks, RowCount, Backend.Threads);
    }

    /// <inheritdoc />
    protected override void MergeCore(RotationShape shape, Tensor weight, Tensor blocks, Tensor? scale, Tensor output, int outFeatureCount)
    {
        // A 16-bit weight too: the rotation widens W0, scales in float32 and rounds W' once as it stores.
        if (!TryRowKernels(shape, T(weight), T(blocks), true, TOrNull(scale), T(output), outFeatureCount))
            RotationDispatch(outFeatureCount).Run(new MergeCall(this, shape, T(weight), T(blocks), TOrNull(scale), T(output), outFeatureCount));
    }

    private readonly record struct MergeCall(SimdBackend Backend, RotationShape Shape, SimdTensor Weight, SimdTensor Blocks, SimdTensor? Scale, SimdTensor Output, int OutFeatureCount) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            Simd.Merge.Forward<TS, TV>(Backend.Plan(Shape, TS.Count), Weight, Blocks, Scale, Output, OutFeatureCount, Backend.Threads);
    }

    /// <inheritdoc />
    protected override void ScaleBiasCore(Tensor input, Tensor? scale, Tensor? bias, Tensor output, int rowCount, int featureCount)
    {
        if (input.ElementType.IsSixteenBit())
            ScaleBiasSixteenBit(T(input), TOrNull(scale), TOrNull(bias), T(output), rowCount, featureCount);
        else
            simd.Run(new ScaleBiasCall(T(input), TOrNull(scale), TOrNull(bias), T(output), rowCount, featureCount, Threads));
    }

    private readonly record struct ScaleBiasCall(SimdTensor Input, SimdTensor? Scale, SimdTensor? Bias, SimdTensor Output, int RowCount, int FeatureCount, int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            Simd.ScaleBias.Forward<TS, TV>(Input, Scale, Bias, Output, RowCount, FeatureCount, Threads);
    }

    /// <inheritdoc />
    protected override void ScaleBiasBackwardCore(Tensor input, Tensor? scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, Tensor? gradBias, int rowCount, int featureCount)
    {
        if (input.ElementType.IsSixteenBit())
            ScaleBiasBackwardSixteenBit(T(input), TOrNull(scale), T(gradOutput), TOrNull(gradInput), TOrNull(gradScale), TOrNull(gradBias), rowCount, featureCount);
        else
            simd.Run(new ScaleBiasBackwardCall(T(input), TOrNull(scale), T(gradOutput), TOrNull(gradInput), TOrNull(gradScale), TOrNull(gradBias), rowCount, featureCount, Threads));
    }

    private readonly record struct ScaleBiasBackwardCall(SimdTensor Input, SimdTensor? Scale, SimdTensor GradOutput, SimdTensor? GradInput, SimdTensor? GradScale, SimdTensor? GradBias,
        int RowCount, int FeatureCount, int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            Simd.ScaleBias.Backward<TS, TV>(Input, Scale, GradOutput, GradInput, GradScale, GradBias, RowCount, FeatureCount, Threads);
    }

    /// <inheritdoc />
    protected override void LinearCore(Tensor input, Tensor weight, Tensor output, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        if (input.ElementType.IsSixteenBit())
            LinearSixteenBit(T(input), T(weight), T(output), rowCount, inFeatureCount, outFeatureCount);
        else
            simd.Run(new LinearCall(T(input), T(weight), T(output), rowCount, inFeatureCount, outFeatureCount, Threads));
    }

    private readonly record struct LinearCall(SimdTensor Input, SimdTensor Weight, SimdTensor Output, int RowCount, int InFeatureCount, int OutFeatureCount, int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            Simd.Linear.Forward<TS, TV>(Input, Weight, Output, RowCount, InFeatureCount, OutFeatureCount, Threads);
    }

    /// <inheritdoc />
    protected override void LinearBackwardInputCore(Tensor gradOutput, Tensor weight, Tensor gradInput, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        if (gradOutput.ElementType.IsSixteenBit())
            LinearBackwardInputSixteenBit(T(gradOutput), T(weight), T(gradInput), rowCount, inFeatureCount, outFeatureCount);
        else
            simd.Run(new LinearBackwardInputCall(T(gradOutput), T(weight), T(gradInput), rowCount, inFeatureCount, outFeatureCount, Threads));
    }

    private readonly record struct LinearBackwardInputCall(SimdTensor GradOutput, SimdTensor Weight, SimdTensor GradInput, int RowCount, int InFeatureCount, int OutFeatureCount,
        int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            Simd.Linear.BackwardInput<TS, TV>(GradOutput, Weight, GradInput, RowCount, InFeatureCount, OutFeatureCount, Threads);
    }

    /// <inheritdoc />
    protected override void LinearBackwardWeightCore(Tensor gradOutput, Tensor input, Tensor gradWeight, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        if (gradOutput.ElementType.IsSixteenBit())
            LinearBackwardWeightSixteenBit(T(gradOutput), T(input), T(gradWeight), rowCount, inFeatureCount, outFeatureCount);
        else
            simd.Run(new LinearBackwardWeightCall(T(gradOutput), T(input), T(gradWeight), rowCount, inFeatureCount, outFeatureCount, Threads));
    }

    private readonly record struct LinearBackwardWeightCall(SimdTensor GradOutput, SimdTensor Input, SimdTensor GradWeight, int RowCount, int InFeatureCount, int OutFeatureCount,
        int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            Simd.Linear.BackwardWeight<TS, TV>(GradOutput, Input, GradWeight, RowCount, InFeatureCount, OutFeatureCount, Threads);
    }

    /// <inheritdoc />
    protected override void ReluCore(Tensor input, Tensor output)
    {
        if (input.ElementType.IsSixteenBit())
            ReluSixteenBit(T(input), T(output));
        else
            simd.Run(new ReluCall(T(input), T(output), Threads));
    }

    private readonly record struct ReluCall(SimdTensor Input, SimdTensor Output, int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct => Elementwise.Relu<TS, TV>(Input, Output, Threads);
    }

    /// <inheritdoc />
    protected override void ReluBackwardCore(Tensor input, Tensor gradOutput, Tensor gradInput)
    {
        if (input.ElementType.IsSixteenBit())
            ReluBackwardSixteenBit(T(input), T(gradOutput), T(gradInput));
        else
            simd.Run(new ReluBackwardCall(T(input), T(gradOutput), T(gradInput), Threads));
    }

    private readonly record struct ReluBackwardCall(SimdTensor Input, SimdTensor GradOutput, SimdTensor GradInput, int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct => Elementwise.ReluBackward<TS, TV>(Input, GradOutput, GradInput, Threads);
    }

    /// <inheritdoc />
    protected override double MseLossCore(Tensor prediction, Tensor target, Tensor? gradPrediction) =>
        Losses.MeanSquaredError(T(prediction), T(target), TOrNull(gradPrediction), Threads);

    /// <inheritdoc />
    protected override double SoftmaxCrossEntropyCore(Tensor logits, Tensor labels, Tensor? gradLogits, int rowCount, int classCount) =>
        Losses.SoftmaxCrossEntropy(T(logits), T(labels), TOrNull(gradLogits), rowCount, classCount, Threads);

    /// <inheritdoc />
    protected override void SgdStepCore(Tensor parameters, Tensor gradients, Tensor? momentumBuffer, SgdSettings settings, bool firstStep) =>
        simd.Run(new SgdCall(T(parameters), T(gradients), TOrNull(momentumBuffer), settings, firstStep, Threads));

    private readonly record struct SgdCall(SimdTensor Parameters, SimdTensor Gradients, SimdTensor? MomentumBuffer, SgdSettings Settings, bool FirstStep, int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct => Optimizers.Sgd<TS, TV>(Parameters, Gradients, MomentumBuffer, Settings, FirstStep, Threads);
    }

    /// <inheritdoc />
    protected override void AdamStepCore(Tensor parameters, Tensor gradients, Tensor firstMoment, Tensor secondMoment, AdamSettings settings, int step, double learningRate) =>
        simd.Run(new AdamCall(T(parameters), T(gradients), T(firstMoment), T(secondMoment), settings, step, learningRate, Threads));

    private readonly record struct AdamCall(SimdTensor Parameters, SimdTensor Gradients, SimdTensor FirstMoment, SimdTensor SecondMoment, AdamSettings Settings, int Step,
        double LearningRate, int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct =>
            Optimizers.Adam<TS, TV>(Parameters, Gradients, FirstMoment, SecondMoment, Settings, Step, LearningRate, Threads);
    }

    /// <inheritdoc />
    protected override void FillCore(Tensor tensor, float value)
    {
        if (tensor.ElementType.IsSixteenBit())
            T(tensor).Bits.Fill(ElementConversions.FromSingle(value, tensor.ElementType));
        else
            Elementwise.Fill(T(tensor), value, Threads);
    }

    /// <inheritdoc />
    protected override void ScaleCore(Tensor tensor, float factor) => simd.Run(new ScaleCall(T(tensor), factor, Threads));

    private readonly record struct ScaleCall(SimdTensor Tensor, float Factor, int Threads) : ISimdCall
    {
        public void Run<TS, TV>() where TS : struct, ISimd<TV> where TV : struct => Elementwise.Scale<TS, TV>(Tensor, Factor, Threads);
    }

    /// <inheritdoc />
    protected override void CopyCore(Tensor source, Tensor destination)
    {
        if (source.ElementType.IsSixteenBit())
            T(source).Bits.CopyTo(T(destination).Bits);
        else
            Elementwise.Copy(T(source), T(destination), Threads);
    }

    /// <inheritdoc />
    protected override double SumOfSquaresCore(Tensor tensor) =>
        tensor.ElementType.IsSixteenBit() ? SumOfSquaresSixteenBit(T(tensor)) : Elementwise.SumOfSquares(T(tensor), Threads);
}
