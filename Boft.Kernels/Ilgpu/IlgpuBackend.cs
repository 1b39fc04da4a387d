// The BoftBackend on ILGPU: every *Core hook of the contract runs on the device through BoftKernels. Tensors are IlgpuTensors
// (device buffers whose ArrayViews can be mixed with the caller's own kernels). Three ways to get one:
//   CreateCuda()            a CUDA GPU (Name "Cuda"); throws NotSupportedException when no CUDA device is present
//   CreateCpuSimulator(w)   ILGPU's CPU accelerator with warp size w (Name "IlgpuCpuWarp{w}"): a slow, exact simulator that
//                           runs the same explicitly grouped kernels as the GPU, used by the tests to break warp-size assumptions
//   new IlgpuBackend(acc)   the caller's own accelerator, not owned (not disposed with the backend), on its default stream
//   new IlgpuBackend(stream) the caller's accelerator and stream: every op, allocation and copy is enqueued on that stream
// Wrap(view, shape) makes a non-owning tensor over the caller's memory (no copy); Wrap(bits, type, shape) and Wrap(halves, shape)
// do the same for bfloat16/float16 memory. Every type is supported: the 16-bit ops (docs/09_Mixed-precision.md) run the same
// kernels instantiated for 16-bit storage (ElementCodecs.cs), and the contract (BoftBackend) has already checked the types. Which calls wait (docs/03_Kernels/pipeline.md):
// Synchronize, CopyFrom/CopyTo/Upload/ToArray, the losses and SumOfSquares (one scalar back to the host) wait for the
// backend's stream only; allocation does not wait; everything else only enqueues work on Stream.

using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Boft.Kernels.Ilgpu;

/// <summary>A <see cref="BoftBackend"/> whose ops run as ILGPU kernels (CUDA, or ILGPU's CPU simulator for tests).</summary>
public sealed partial class IlgpuBackend : BoftBackend
{
    private static readonly Lazy<int> CudaDeviceCount = new(CountCudaDevices);
    private readonly Context? ownedContext;
    private readonly Accelerator? ownedAccelerator;
    private readonly string name;

    /// <summary>Runs on <paramref name="accelerator"/>'s default stream; the caller keeps owning the accelerator (it is not
    /// disposed with the backend).</summary>
    /// <param name="accelerator">Any ILGPU accelerator.</param>
    /// <param name="name">The backend's name, or null for <c>Ilgpu{AcceleratorType}</c>.</param>
    /// <param name="options">Kernel launch settings, or null for the defaults.</param>
    public IlgpuBackend(Accelerator accelerator, string? name = null, BoftKernelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        Accelerator = accelerator;
        Stream = accelerator.DefaultStream;
        Kernels = new BoftKernels(accelerator, options);
        this.name = name ?? $"Ilgpu{accelerator.AcceleratorType}";
    }

    /// <summary>
    /// Runs inside the caller's pipeline: every op, allocation (zero-fill) and copy of this backend, and of the layers on it,
    /// is enqueued on <paramref name="stream"/>, in order with the caller's own work on that stream. The caller keeps owning
    /// the stream and its accelerator (neither is disposed with the backend) and must keep them alive until the backend is
    /// disposed.
    /// </summary>
    /// <param name="stream">A stream of the caller's accelerator.</param>
    /// <param name="name">The backend's name, or null for <c>Ilgpu{AcceleratorType}</c>.</param>
    /// <param name="options">Kernel launch settings, or null for the defaults.</param>
    /// <exception cref="ObjectDisposedException">The stream or its accelerator is disposed.</exception>
    public IlgpuBackend(AcceleratorStream stream, string? name = null, BoftKernelOptions? options = null)
        : this((stream ?? throw new ArgumentNullException(nameof(stream))).Accelerator, name, options)
    {
        ObjectDisposedException.ThrowIf(stream.IsDisposed, stream);
        Stream = stream;
    }

    private IlgpuBackend(Context context, Accelerator accelerator, string name, BoftKernelOptions? options)
        : this(accelerator, name, options)
    {
        ownedContext = context;
        ownedAccelerator = accelerator;
    }

    /// <inheritdoc />
    public override string Name => name;

    /// <summary>The accelerator the kernels run on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>The loaded kernels, for launching Boft ops on raw views in the same pipeline.</summary>
    public BoftKernels Kernels { get; }

    /// <summary>The stream every op, allocation and copy of this backend is enqueued on: the caller's stream, or the
    /// accelerator's default stream.</summary>
    public AcceleratorStream Stream { get; }

    /// <summary>
    /// A tensor over the caller's memory, without a copy: ops read and write <paramref name="view"/> directly, the caller
    /// keeps ownership (disposing the tensor does not free the memory; free it after the last op that uses it has run).
    /// </summary>
    /// <param name="view">Dense float32 memory of this backend's accelerator, row-major.</param>
    /// <param name="shape">The dimensions; their product must equal the view's length.</param>
    /// <returns>A non-owning tensor (<see cref="IlgpuTensor.OwnsMemory"/> is false).</returns>
    /// <exception cref="ArgumentException">The view is <c>default</c>, or its length does not match the shape.</exception>
    /// <exception cref="BackendMismatchException">The view belongs to another accelerator.</exception>
    /// <exception cref="ObjectDisposedException">The backend or the view's buffer is disposed.</exception>
    public IlgpuTensor Wrap(ArrayView<float> view, params int[] shape)
    {
        int[] dimensions = CheckWrap(view, shape);
        return new IlgpuTensor(this, view, dimensions);
    }

    /// <summary>
    /// A 16-bit tensor over the caller's memory, without a copy: <paramref name="view"/> holds the raw bits of
    /// <paramref name="elementType"/> (bfloat16: the upper 16 bits of a float32; float16: IEEE binary16), and ops read and write it
    /// directly. The caller keeps ownership, as for <see cref="Wrap(ArrayView{float}, int[])"/>.
    /// </summary>
    /// <param name="view">Dense 16-bit memory of this backend's accelerator, row-major.</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>.</param>
    /// <param name="shape">The dimensions; their product must equal the view's length.</param>
    /// <returns>A non-owning tensor of <paramref name="elementType"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">The view is <c>default</c>, or its length does not match the shape.</exception>
    /// <exception cref="BackendMismatchException">The view belongs to another accelerator.</exception>
    /// <exception cref="ObjectDisposedException">The backend or the view's buffer is disposed.</exception>
    public IlgpuTensor Wrap(ArrayView<ushort> view, ElementType elementType, params int[] shape)
    {
        if (!Enum.IsDefined(elementType) || !elementType.IsSixteenBit())
            throw new ArgumentOutOfRangeException(nameof(elementType), elementType, "A 16-bit view holds BFloat16 or Float16 bits; wrap float32 memory with Wrap(ArrayView<float>, shape).");
        int[] dimensions = CheckWrap(view, shape);
        return new IlgpuTensor(this, view, elementType, dimensions);
    }

    /// <summary>
    /// A <see cref="ElementType.Float16"/> tensor over the caller's <see cref="ILGPU.Half"/> memory, without a copy (the same as
    /// <see cref="Wrap(ArrayView{ushort}, ElementType, int[])"/> with the view's bits).
    /// </summary>
    /// <param name="view">Dense float16 memory of this backend's accelerator, row-major.</param>
    /// <param name="shape">The dimensions; their product must equal the view's length.</param>
    /// <returns>A non-owning float16 tensor.</returns>
    /// <exception cref="ArgumentException">The view is <c>default</c>, or its length does not match the shape.</exception>
    /// <exception cref="BackendMismatchException">The view belongs to another accelerator.</exception>
    /// <exception cref="ObjectDisposedException">The backend or the view's buffer is disposed.</exception>
    public IlgpuTensor Wrap(ArrayView<ILGPU.Half> view, params int[] shape)
    {
        int[] dimensions = CheckWrap(view, shape);
        return new IlgpuTensor(this, view.Cast<ushort>(), ElementType.Float16, dimensions);
    }

    private int[] CheckWrap<T>(ArrayView<T> view, int[] shape)
        where T : unmanaged
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(shape);
        int[] dimensions = (int[])shape.Clone();
        int length = BoftKernels.OwnedBy(Accelerator, view, nameof(view));
        long expected = 1;
        foreach (int dimension in dimensions)
            expected *= Math.Max(0, dimension);
        ShapeChecks.Length(nameof(view), $"[{length}]", length, expected, Tensor.FormatShape(dimensions));
        return dimensions;
    }

    /// <summary>Whether a CUDA device is visible to ILGPU on this machine (probed once).</summary>
    public static bool IsCudaAvailable => CudaDeviceCount.Value > 0;

    /// <summary>A backend on CUDA device <paramref name="deviceIndex"/>, owning its ILGPU context and accelerator.</summary>
    /// <param name="deviceIndex">Index among ILGPU's CUDA devices.</param>
    /// <param name="options">Kernel launch settings, or null for the defaults.</param>
    /// <returns>The backend (Name "Cuda").</returns>
    /// <exception cref="NotSupportedException">No CUDA device (or driver) is present.</exception>
    /// <exception cref="ArgumentOutOfRangeException">There is no device with that index.</exception>
    public static IlgpuBackend CreateCuda(int deviceIndex = 0, BoftKernelOptions? options = null)
    {
        if (!IsCudaAvailable)
            throw new NotSupportedException("No CUDA device is available to ILGPU on this machine (no NVIDIA driver, or no GPU); use the SIMD backend or IlgpuBackend.CreateCpuSimulator for tests.");
        Context context = Context.Create(b => b.Cuda().EnableAlgorithms());
        try
        {
            int count = context.GetCudaDevices().Count;
            if ((uint)deviceIndex >= (uint)count)
                throw new ArgumentOutOfRangeException(nameof(deviceIndex), deviceIndex, $"There are {count} CUDA devices.");
            CudaAccelerator accelerator = context.CreateCudaAccelerator(deviceIndex);
            try
            {
                return new IlgpuBackend(context, accelerator, "Cuda", options);
            }
            catch
            {
                accelerator.Dispose();
                throw;
            }
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A backend on ILGPU's CPU accelerator with <paramref name="warpSize"/> threads per warp, max(1, 16/warpSize) warps per group
    /// (groups of max(16, warpSize) threads) and 2 multiprocessors that run groups concurrently (Name "IlgpuCpuWarp{warpSize}"),
    /// with ILGPU assertions enabled (kernel <c>Debug.Assert</c>s of a Debug build report through <c>Trace</c> listeners).
    /// A correctness simulator, 20–250× slower than managed code: keep shapes tiny. Each simulated thread is an OS thread, so
    /// small groups keep launches and barriers cheap (measured: a training step of d = 96 took about half as long with 16-thread
    /// groups as with 32 or 64).
    /// </summary>
    /// <param name="warpSize">A power of two in [1, 64]; the tests use 4 and 32.</param>
    /// <param name="options">Kernel launch settings, or null for the defaults.</param>
    /// <returns>The backend.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The warp size is not a power of two in [1, 64].</exception>
    public static IlgpuBackend CreateCpuSimulator(int warpSize, BoftKernelOptions? options = null)
    {
        if (warpSize < 1 || warpSize > 64 || (warpSize & (warpSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(warpSize), warpSize, "The warp size must be a power of two in [1, 64].");
        var device = new CPUDevice(warpSize, Math.Max(1, 16 / warpSize), 2);
        // Assertions on: Debug.Assert in kernels and ILGPU's own checks report through Trace listeners (the tests record them).
        Context context = Context.Create(b => b.CPU(device).EnableAlgorithms().Assertions());
        try
        {
            CPUAccelerator accelerator = context.GetCPUDevice(0).CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel);
            try
            {
                return new IlgpuBackend(context, accelerator, $"IlgpuCpuWarp{warpSize}", options);
            }
            catch
            {
                accelerator.Dispose();
                throw;
            }
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    private static int CountCudaDevices()
    {
        try
        {
            using Context context = Context.Create(b => b.Cuda());
            return context.GetCudaDevices().Count;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or CudaException or NotSupportedException or InvalidOperationException)
        {
            return 0;
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && !IsDisposed)
        {
            if (ownedAccelerator is not null && !ownedAccelerator.IsDisposed)
                ownedAccelerator.Synchronize();
            else if (!Accelerator.IsDisposed && !Stream.IsDisposed)
                Stream.Synchronize(); // the caller's stream: Boft's tables and workspace must outlive the work queued on it
            Kernels.Dispose();
            ownedAccelerator?.Dispose();
            ownedContext?.Dispose();
        }
        base.Dispose(disposing);
    }

    private static ArrayView<float> V(Tensor tensor) => ((IlgpuTensor)tensor).UncheckedView;

    /// <summary>The view of an optional tensor, or <c>default</c> (= omitted for BoftKernels) when it is null.</summary>
    private static ArrayView<float> VOrNone(Tensor? tensor) => tensor is null ? default : ((IlgpuTensor)tensor).UncheckedView;

    /// <summary>The 16-bit view of a tensor.</summary>
    private static ArrayView<ushort> B(Tensor tensor) => ((IlgpuTensor)tensor).UncheckedBits;

    /// <summary>The 16-bit view of an optional tensor, or <c>default</c> when it is null.</summary>
    private static ArrayView<ushort> BOrNone(Tensor? tensor) => tensor is null ? default : ((IlgpuTensor)tensor).UncheckedBits;

    /// <inheritdoc />
    public override bool Supports(ElementType elementType) => Enum.IsDefined(elementType);

    /// <inheritdoc />
    /// <remarks>ILGPU runs every family in 16-bit: the rotation, the frozen GEMM and its weight gradient, scale and bias (frozen
    /// or a float32 master), ReLU, Merge of a 16-bit weight and the Conv2d family, with kernels instantiated for the 16-bit codecs
    /// (ElementCodecs.cs): widened at load, float32 sums, one rounding at the store.</remarks>
    public override bool HasSixteenBitPath(SixteenBitOperation operation) => Enum.IsDefined(operation);

    /// <inheritdoc />
    protected override Tensor AllocateCore(int[] shape) => new IlgpuTensor(this, shape);

    /// <inheritdoc />
    protected override Tensor AllocateCore(int[] shape, ElementType elementType) => new IlgpuTensor(this, shape, elementType);

    /// <inheritdoc />
    protected override void SynchronizeCore() => Stream.Synchronize();

    /// <inheritdoc />
    protected override void CayleyForwardCore(CayleyShape shape, Tensor parameters, Tensor? identityMask, Tensor blocks) =>
        Kernels.CayleyForward(shape, V(parameters), VOrNone(identityMask), V(blocks), Stream);

    /// <inheritdoc />
    protected override void CayleyBackwardCore(CayleyShape shape, Tensor parameters, Tensor blocks, Tensor gradBlocks, Tensor? identityMask, Tensor gradParameters) =>
        Kernels.CayleyBackward(shape, V(parameters), V(blocks), V(gradBlocks), VOrNone(identityMask), V(gradParameters), Stream);

    /// <inheritdoc />
    protected override void CoftProjectCore(CayleyShape shape, double radius, Tensor parameters) =>
        Kernels.CoftProject(shape, (float)radius, V(parameters), Stream);

    /// <inheritdoc />
    protected override void RotateCore(RotationShape shape, Tensor input, Tensor blocks, bool transpose, Tensor output, int rowCount)
    {
        if (input.ElementType.IsSixteenBit())
            Kernels.Rotate(shape, B(input), input.ElementType, V(blocks), transpose, B(output), Stream);
        else
            Kernels.Rotate(shape, V(input), V(blocks), transpose, V(output), Stream);
    }

    /// <inheritdoc />
    protected override void RotateBackwardCore(RotationShape shape, Tensor input, Tensor blocks, Tensor gradOutput, Tensor gradInput, Tensor gradBlocks, int rowCount)
    {
        if (input.ElementType.IsSixteenBit())
            Kernels.RotateBackward(shape, B(input), input.ElementType, V(blocks), B(gradOutput), B(gradInput), V(gradBlocks), Stream);
        else
            Kernels.RotateBackward(shape, V(input), V(blocks), V(gradOutput), V(gradInput), V(gradBlocks), Stream);
    }

    /// <inheritdoc />
    protected override void MergeCore(RotationShape shape, Tensor weight, Tensor blocks, Tensor? scale, Tensor output, int outFeatureCount)
    {
        if (weight.ElementType.IsSixteenBit())
            Kernels.Merge(shape, B(weight), weight.ElementType, V(blocks), VOrNone(scale), B(output), Stream);
        else
            Kernels.Merge(shape, V(weight), V(blocks), VOrNone(scale), V(output), Stream);
    }

    /// <inheritdoc />
    protected override void ScaleBiasCore(Tensor input, Tensor? scale, Tensor? bias, Tensor output, int rowCount, int featureCount)
    {
        if (input.ElementType.IsSixteenBit() && bias is { ElementType: ElementType.Float32 })
            Kernels.ScaleBiasWithFloat32Bias(B(input), input.ElementType, featureCount, VOrNone(scale), V(bias), B(output), Stream);
        else if (input.ElementType.IsSixteenBit())
            Kernels.ScaleBias(B(input), input.ElementType, featureCount, VOrNone(scale), BOrNone(bias), B(output), Stream);
        else
            Kernels.ScaleBias(V(input), featureCount, VOrNone(scale), VOrNone(bias), V(output), Stream);
    }

    /// <inheritdoc />
    protected override void ScaleBiasBackwardCore(Tensor input, Tensor? scale, Tensor gradOutput, Tensor? gradInput, Tensor? gradScale, Tensor? gradBias, int rowCount, int featureCount)
    {
        if (input.ElementType.IsSixteenBit())
            Kernels.ScaleBiasBackward(B(input), input.ElementType, featureCount, VOrNone(scale), B(gradOutput), BOrNone(gradInput), VOrNone(gradScale), VOrNone(gradBias), Stream);
        else
            Kernels.ScaleBiasBackward(V(input), featureCount, VOrNone(scale), V(gradOutput), VOrNone(gradInput), VOrNone(gradScale), VOrNone(gradBias), Stream);
    }

    /// <inheritdoc />
    protected override void LinearCore(Tensor input, Tensor weight, Tensor output, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        if (input.ElementType.IsSixteenBit())
            Kernels.Linear(B(input), input.ElementType, B(weight), inFeatureCount, outFeatureCount, B(output), Stream);
        else
            Kernels.Linear(V(input), V(weight), inFeatureCount, outFeatureCount, V(output), Stream);
    }

    /// <inheritdoc />
    protected override void LinearBackwardInputCore(Tensor gradOutput, Tensor weight, Tensor gradInput, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        if (gradOutput.ElementType.IsSixteenBit())
            Kernels.LinearBackwardInput(B(gradOutput), gradOutput.ElementType, B(weight), inFeatureCount, outFeatureCount, B(gradInput), Stream);
        else
            Kernels.LinearBackwardInput(V(gradOutput), V(weight), inFeatureCount, outFeatureCount, V(gradInput), Stream);
    }

    /// <inheritdoc />
    protected override void LinearBackwardWeightCore(Tensor gradOutput, Tensor input, Tensor gradWeight, int rowCount, int inFeatureCount, int outFeatureCount)
    {
        if (gradOutput.ElementType.IsSixteenBit())
            Kernels.LinearBackwardWeight(B(gradOutput), gradOutput.ElementType, B(input), inFeatureCount, outFeatureCount, V(gradWeight), Stream);
        else
            Kernels.LinearBackwardWeight(V(gradOutput), V(input), inFeatureCount, outFeatureCount, V(gradWeight), Stream);
    }

    /// <inheritdoc />
    protected override void ReluCore(Tensor input, Tensor output)
    {
        if (input.ElementType.IsSixteenBit())
            Kernels.Relu(B(input), input.ElementType, B(output), Stream);
        else
            Kernels.Relu(V(input), V(output), Stream);
    }

    /// <inheritdoc />
    protected override void ReluBackwardCore(Tensor input, Tensor gradOutput, Tensor gradInput)
    {
        if (input.ElementType.IsSixteenBit())
            Kernels.ReluBackward(B(input), input.ElementType, B(gradOutput), B(gradInput), Stream);
        else
            Kernels.ReluBackward(V(input), V(gradOutput), V(gradInput), Stream);
    }

    /// <inheritdoc />
    protected override double MseLossCore(Tensor prediction, Tensor target, Tensor? gradPrediction) =>
        Kernels.MseLoss(V(prediction), V(target), VOrNone(gradPrediction), Stream);

    /// <inheritdoc />
    protected override double SoftmaxCrossEntropyCore(Tensor logits, Tensor labels, Tensor? gradLogits, int rowCount, int classCount) =>
        Kernels.SoftmaxCrossEntropy(V(logits), V(labels), classCount, VOrNone(gradLogits), Stream);

    /// <inheritdoc />
    protected override void SgdStepCore(Tensor parameters, Tensor gradients, Tensor? momentumBuffer, SgdSettings settings, bool firstStep) =>
        Kernels.SgdStep(V(parameters), V(gradients), VOrNone(momentumBuffer), settings, firstStep, Stream);

    /// <inheritdoc />
    protected override void AdamStepCore(Tensor parameters, Tensor gradients, Tensor firstMoment, Tensor secondMoment, AdamSettings settings, int step, double learningRate) =>
        Kernels.AdamStep(V(parameters), V(gradients), V(firstMoment), V(secondMoment), settings, step, learningRate, Stream);

    /// <inheritdoc />
    protected override void FillCore(Tensor tensor, float value)
    {
        if (tensor.ElementType.IsSixteenBit())
            Kernels.Fill(B(tensor), tensor.ElementType, value, Stream);
        else
            Kernels.Fill(V(tensor), value, Stream);
    }

    /// <inheritdoc />
    protected override void ScaleCore(Tensor tensor, float factor) => Kernels.Scale(V(tensor), factor, Stream);

    /// <inheritdoc />
    protected override void CopyCore(Tensor source, Tensor destination)
    {
        if (source.ElementType.IsSixteenBit())
            Kernels.Copy(B(source), B(destination), Stream);
        else
            Kernels.Copy(V(source), V(destination), Stream);
    }

    /// <inheritdoc />
    protected override double SumOfSquaresCore(Tensor tensor) =>
        tensor.ElementType.IsSixteenBit() ? Kernels.SumOfSquares(B(tensor), tensor.ElementType, Stream) : Kernels.SumOfSquares(V(tensor), Stream);
}
