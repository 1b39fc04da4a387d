// The managed SIMD backend: the default CPU backend (no GPU needed). Every op of BoftBackend with Vector512 kernels and
// Vector256 / Vector128 fallbacks, Parallel.For over tiles and blocks, deterministic reductions. Validation is done by
// BoftBackend before any *Core hook runs. Design: docs/02_Ops/simd-backend.md; kernels: one file per op family here.
// Gradient convention (BoftBackend): parameter gradients accumulate (+=), activation gradients are overwritten (=).

using System.Collections.Concurrent;
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
    private readonly IKernels kernels;
    private readonly ConcurrentDictionary<(RotationShape Shape, int Lanes), RotationPlan> plans = new();

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
        kernels = width switch
        {
            SimdWidth.Vector512 => new Kernels<Simd512, Vector512<float>>(this),
            SimdWidth.Vector256 => new Kernels<Simd256, Vector256<float>>(this),
            SimdWidth.Vector128 => new Kernels<Simd128, Vector128<float>>(this),
            _ => throw new ArgumentOutOfRangeException(nameof(width), width, "Unknown vector width."),
        };
    }

    /// <inheritdoc />
    public override string Name => "Simd";

    /// <summary>The vector width in use.</summary>
    public SimdWidth Width { get; }

    /// <summary>Threads per op (-1: all cores).</summary>
    public int MaxDegreeOfParallelism { get; }

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

    /// <summary>
    /// Rows in lanes wastes lanes when there are fewer rows than lanes (token-by-token inference): up to 4 rows use 4-lane
    /// and up to 8 rows 8-lane vectors (never wider than the backend's). The choice depends on the row count only.
    /// </summary>
    private SimdWidth RotationWidth(int rowCount) =>
        rowCount <= 4 ? SimdWidth.Vector128 : rowCount <= 8 && Width != SimdWidth.Vector128 ? SimdWidth.Vector256 : Width;

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
        kernels.CayleyForward(shape, T(parameters), TOrNull(identityMask), T(blocks));

    /// <inheritdoc />
    protected override void CayleyBackwardCore(CayleyShape shape, Tensor parameters, Tensor blocks, Tensor gradBlocks, Tensor? identityMask, Tensor gradParameters) =>
        kernels.CayleyBackward(shape, T(parameters), T(blocks), T(gradBlocks), TOrNull(identityMask), T(gradParameters));

    /// <inheritdoc />
    protected override void CoftProjectCore(CayleyShape shape, double radius, Tensor parameters) =>
        Cayley.CoftProject(shape, radius, T(parameters), MaxDegreeOfParallelism);

    /// <inheritdoc />
    protected override void RotateCore(RotationShape shape, Tensor input, Tensor blocks, bool transpose, Tensor output, int rowCount) =>
        kernels.Rotate(shape, T(input), T(blocks), transpose, T(output), rowCount);

    /// <inheritdoc />
    protected override void RotateBackwardCore(RotationShape shape, Tensor input, Tensor blocks, Tensor gradOutput, Tensor gradInput, Tensor gradBlocks, int rowCount) =>
        kernels.RotateBackward(shape, T(input), T(blocks), T(gradOutput), T(gradInput), T(gradBlocks), rowCount);

    /// <inheritdoc />
    protected override void MergeCore(RotationShape shape, Tensor weight, Tensor blocks, Tensor? scale, Tensor output, int outFeatureCount) =>
        kernels.Merge(shape, T(weight), T(blocks), TOrNull(scale), T(output), outFeatureCount);

    /// <inheritdoc />
    protected override void ScaleBiasCore(Tensor input, Tensor? scale, Tensor? bias, Tensor output, int rowCount, int featureCount) =>
        kernels.ScaleBias(T(input), TOrNull(scale), TOrNull(bias), T(output), rowCount, featureCount);

    /// <inheritdoc />
    protected override void ScaleBiasBackwardCore(Tensor input, Tensor? scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, Tensor? gradBias, int rowCount, int featureCount) =>
        kernels.ScaleBiasBackward(T(input), TOrNull(scale), T(gradOutput), TOrNull(gradInput), TOrNull(gradScale), TOrNull(gradBias), rowCount, featureCount);

    /// <inheritdoc />
    protected override void LinearCore(Tensor input, Tensor weight, Tensor output, int rowCount, int inFeatureCount, int outFeatureCount) =>
        kernels.Linear(T(input), T(weight), T(output), rowCount, inFeatureCount, outFeatureCount);

    /// <inheritdoc />
    protected override void LinearBackwardInputCore(Tensor gradOutput, Tensor weight, Tensor gradInput, int rowCount, int inFeatureCount, int outFeatureCount) =>
        kernels.LinearBackwardInput(T(gradOutput), T(weight), T(gradInput), rowCount, inFeatureCount, outFeatureCount);

    /// <inheritdoc />
    protected override void LinearBackwardWeightCore(Tensor gradOutput, Tensor input, Tensor gradWeight, int rowCount, int inFeatureCount, int outFeatureCount) =>
        kernels.LinearBackwardWeight(T(gradOutput), T(input), T(gradWeight), rowCount, inFeatureCount, outFeatureCount);

    /// <inheritdoc />
    protected override void ReluCore(Tensor input, Tensor output) => kernels.Relu(T(input), T(output));

    /// <inheritdoc />
    protected override void ReluBackwardCore(Tensor input, Tensor gradOutput, Tensor gradInput) => kernels.ReluBackward(T(input), T(gradOutput), T(gradInput));

    /// <inheritdoc />
    protected override double MseLossCore(Tensor prediction, Tensor target, Tensor? gradPrediction) =>
        Losses.MeanSquaredError(T(prediction), T(target), TOrNull(gradPrediction), MaxDegreeOfParallelism);

    /// <inheritdoc />
    protected override double SoftmaxCrossEntropyCore(Tensor logits, Tensor labels, Tensor? gradLogits, int rowCount, int classCount) =>
        Losses.SoftmaxCrossEntropy(T(logits), T(labels), TOrNull(gradLogits), rowCount, classCount, MaxDegreeOfParallelism);

    /// <inheritdoc />
    protected override void SgdStepCore(Tensor parameters, Tensor gradients, Tensor? momentumBuffer, SgdSettings settings, bool firstStep) =>
        kernels.Sgd(T(parameters), T(gradients), TOrNull(momentumBuffer), settings, firstStep);

    /// <inheritdoc />
    protected override void AdamStepCore(Tensor parameters, Tensor gradients, Tensor firstMoment, Tensor secondMoment, AdamSettings settings, int step, double learningRate) =>
        kernels.Adam(T(parameters), T(gradients), T(firstMoment), T(secondMoment), settings, step, learningRate);

    /// <inheritdoc />
    protected override void FillCore(Tensor tensor, float value) => Elementwise.Fill(T(tensor), value, MaxDegreeOfParallelism);

    /// <inheritdoc />
    protected override void ScaleCore(Tensor tensor, float factor) => kernels.Scale(T(tensor), factor);

    /// <inheritdoc />
    protected override void CopyCore(Tensor source, Tensor destination) => Elementwise.Copy(T(source), T(destination), MaxDegreeOfParallelism);

    /// <inheritdoc />
    protected override double SumOfSquaresCore(Tensor tensor) => Elementwise.SumOfSquares(T(tensor), MaxDegreeOfParallelism);

    /// <summary>The width-specific entry points (one implementation per vector type; see SimdMath.cs).</summary>
    private interface IKernels
    {
        void CayleyForward(CayleyShape shape, SimdTensor parameters, SimdTensor? identityMask, SimdTensor blocks);

        void CayleyBackward(CayleyShape shape, SimdTensor parameters, SimdTensor blocks, SimdTensor gradBlocks, SimdTensor? identityMask, SimdTensor gradParameters);

        void Rotate(RotationShape shape, SimdTensor input, SimdTensor blocks, bool transpose, SimdTensor output, int rowCount);

        void RotateBackward(RotationShape shape, SimdTensor input, SimdTensor blocks, SimdTensor gradOutput, SimdTensor gradInput, SimdTensor gradBlocks, int rowCount);

        void Merge(RotationShape shape, SimdTensor weight, SimdTensor blocks, SimdTensor? scale, SimdTensor output, int outFeatureCount);

        void ScaleBias(SimdTensor input, SimdTensor? scale, SimdTensor? bias, SimdTensor output, int rowCount, int featureCount);

        void ScaleBiasBackward(SimdTensor input, SimdTensor? scale, SimdTensor gradOutput, SimdTensor? gradInput, SimdTensor? gradScale, SimdTensor? gradBias, int rowCount, int featureCount);

        void Linear(SimdTensor input, SimdTensor weight, SimdTensor output, int rowCount, int inFeatureCount, int outFeatureCount);

        void LinearBackwardInput(SimdTensor gradOutput, SimdTensor weight, SimdTensor gradInput, int rowCount, int inFeatureCount, int outFeatureCount);

        void LinearBackwardWeight(SimdTensor gradOutput, SimdTensor input, SimdTensor gradWeight, int rowCount, int inFeatureCount, int outFeatureCount);

        void Relu(SimdTensor input, SimdTensor output);

        void ReluBackward(SimdTensor input, SimdTensor gradOutput, SimdTensor gradInput);

        void Sgd(SimdTensor parameters, SimdTensor gradients, SimdTensor? momentumBuffer, SgdSettings settings, bool firstStep);

        void Adam(SimdTensor parameters, SimdTensor gradients, SimdTensor firstMoment, SimdTensor secondMoment, AdamSettings settings, int step, double learningRate);

        void Scale(SimdTensor tensor, float factor);
    }

    private sealed class Kernels<TS, TV>(SimdBackend backend) : IKernels
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        private int Threads => backend.MaxDegreeOfParallelism;

        public void CayleyForward(CayleyShape shape, SimdTensor parameters, SimdTensor? identityMask, SimdTensor blocks) =>
            Cayley.Forward<TS, TV>(shape, parameters, identityMask, blocks, Threads);

        public void CayleyBackward(CayleyShape shape, SimdTensor parameters, SimdTensor blocks, SimdTensor gradBlocks, SimdTensor? identityMask, SimdTensor gradParameters) =>
            Cayley.Backward<TS, TV>(shape, parameters, blocks, gradBlocks, identityMask, gradParameters, Threads);

        public void Rotate(RotationShape shape, SimdTensor input, SimdTensor blocks, bool transpose, SimdTensor output, int rowCount)
        {
            switch (backend.RotationWidth(rowCount))
            {
                case SimdWidth.Vector128 when TS.Count != 4:
                    Rotation.Forward<Simd128, Vector128<float>>(backend.Plan(shape, 4), input, blocks, transpose, null, output, rowCount, Threads);
                    break;
                case SimdWidth.Vector256 when TS.Count != 8:
                    Rotation.Forward<Simd256, Vector256<float>>(backend.Plan(shape, 8), input, blocks, transpose, null, output, rowCount, Threads);
                    break;
                default:
                    Rotation.Forward<TS, TV>(backend.Plan(shape, TS.Count), input, blocks, transpose, null, output, rowCount, Threads);
                    break;
            }
        }

        public void RotateBackward(RotationShape shape, SimdTensor input, SimdTensor blocks, SimdTensor gradOutput, SimdTensor gradInput, SimdTensor gradBlocks, int rowCount)
        {
            switch (backend.RotationWidth(rowCount))
            {
                case SimdWidth.Vector128 when TS.Count != 4:
                    Rotation.Backward<Simd128, Vector128<float>>(backend.Plan(shape, 4), input, blocks, gradOutput, gradInput, gradBlocks, rowCount, Threads);
                    break;
                case SimdWidth.Vector256 when TS.Count != 8:
                    Rotation.Backward<Simd256, Vector256<float>>(backend.Plan(shape, 8), input, blocks, gradOutput, gradInput, gradBlocks, rowCount, Threads);
                    break;
                default:
                    Rotation.Backward<TS, TV>(backend.Plan(shape, TS.Count), input, blocks, gradOutput, gradInput, gradBlocks, rowCount, Threads);
                    break;
            }
        }

        public void Merge(RotationShape shape, SimdTensor weight, SimdTensor blocks, SimdTensor? scale, SimdTensor output, int outFeatureCount)
        {
            switch (backend.RotationWidth(outFeatureCount))
            {
                case SimdWidth.Vector128 when TS.Count != 4:
                    Simd.Merge.Forward<Simd128, Vector128<float>>(backend.Plan(shape, 4), weight, blocks, scale, output, outFeatureCount, Threads);
                    break;
                case SimdWidth.Vector256 when TS.Count != 8:
                    Simd.Merge.Forward<Simd256, Vector256<float>>(backend.Plan(shape, 8), weight, blocks, scale, output, outFeatureCount, Threads);
                    break;
                default:
                    Simd.Merge.Forward<TS, TV>(backend.Plan(shape, TS.Count), weight, blocks, scale, output, outFeatureCount, Threads);
                    break;
            }
        }

        public void ScaleBias(SimdTensor input, SimdTensor? scale, SimdTensor? bias, SimdTensor output, int rowCount, int featureCount) =>
            Simd.ScaleBias.Forward<TS, TV>(input, scale, bias, output, rowCount, featureCount, Threads);

        public void ScaleBiasBackward(SimdTensor input, SimdTensor? scale, SimdTensor gradOutput, SimdTensor? gradInput, SimdTensor? gradScale, SimdTensor? gradBias, int rowCount, int featureCount) =>
            Simd.ScaleBias.Backward<TS, TV>(input, scale, gradOutput, gradInput, gradScale, gradBias, rowCount, featureCount, Threads);

        public void Linear(SimdTensor input, SimdTensor weight, SimdTensor output, int rowCount, int inFeatureCount, int outFeatureCount) =>
            Simd.Linear.Forward<TS, TV>(input, weight, output, rowCount, inFeatureCount, outFeatureCount, Threads);

        public void LinearBackwardInput(SimdTensor gradOutput, SimdTensor weight, SimdTensor gradInput, int rowCount, int inFeatureCount, int outFeatureCount) =>
            Simd.Linear.BackwardInput<TS, TV>(gradOutput, weight, gradInput, rowCount, inFeatureCount, outFeatureCount, Threads);

        public void LinearBackwardWeight(SimdTensor gradOutput, SimdTensor input, SimdTensor gradWeight, int rowCount, int inFeatureCount, int outFeatureCount) =>
            Simd.Linear.BackwardWeight<TS, TV>(gradOutput, input, gradWeight, rowCount, inFeatureCount, outFeatureCount, Threads);

        public void Relu(SimdTensor input, SimdTensor output) => Elementwise.Relu<TS, TV>(input, output, Threads);

        public void ReluBackward(SimdTensor input, SimdTensor gradOutput, SimdTensor gradInput) => Elementwise.ReluBackward<TS, TV>(input, gradOutput, gradInput, Threads);

        public void Sgd(SimdTensor parameters, SimdTensor gradients, SimdTensor? momentumBuffer, SgdSettings settings, bool firstStep) =>
            Optimizers.Sgd<TS, TV>(parameters, gradients, momentumBuffer, settings, firstStep, Threads);

        public void Adam(SimdTensor parameters, SimdTensor gradients, SimdTensor firstMoment, SimdTensor secondMoment, AdamSettings settings, int step, double learningRate) =>
            Optimizers.Adam<TS, TV>(parameters, gradients, firstMoment, secondMoment, settings, step, learningRate, Threads);

        public void Scale(SimdTensor tensor, float factor) => Elementwise.Scale<TS, TV>(tensor, factor, Threads);
    }
}
