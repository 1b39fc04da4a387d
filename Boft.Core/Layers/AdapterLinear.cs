// Shared machinery of BoftLinear and OftLinear: a frozen linear layer y = ((x R) W0ᵀ) ⊙ s + bias whose rotation R is
// built from trainable orthogonal blocks (docs/02_Ops/boft-layer.md, oft-layer.md). The forward runs entirely on the backend:
//   Cayley (raw params → blocks) → Rotate (x → u = x R, all factors fused) → Linear (h = u W0ᵀ) → ScaleBias (y = h ⊙ s + bias)
// and the backward reverses it, accumulating into the parameters' gradients. Workspaces are allocated once per input shape.
// Thread safety (docs/08_Guarantees.md): a layer holds per-call state (workspace, saved input), so training calls from two
// threads at once are detected and refused (ConcurrentLayerUseException); inference calls (IsTraining = false) on a shared
// layer are serialized by a lock and therefore safe. Merge and Unmerge are safe by default (AdapterLinear.Merge.cs).

using Boft.Backends;
using Boft.Training;

namespace Boft.Layers;

/// <summary>How adapter parameters are initialized (PEFT <c>init_weights</c>).</summary>
/// <param name="Identity">True (PEFT default): raw parameters 0 and scale 1, so the layer starts as the base layer.
/// False: raw parameters ~ N(0, 0.1²) and scale ~ N(1, 0.1²) from <paramref name="Seed"/> (PEFT <c>init_weights=False</c>).</param>
/// <param name="Seed">Seed of the random initialization.</param>
public sealed record AdapterInitialization(bool Identity = true, int Seed = 0)
{
    /// <summary>PEFT's default identity initialization.</summary>
    public static AdapterInitialization Default { get; } = new();
}

/// <summary>Base class of the adapted linear layers (<see cref="BoftLinear"/>, <see cref="OftLinear"/>).</summary>
public abstract partial class AdapterLinear : ILayer
{
    private readonly List<Parameter> parameters = [];
    private readonly Tensor blocks;
    private readonly Tensor gradBlocks;
    private Workspace? workspace;
    private Tensor? savedInput;
    private Tensor? activeMask;
    private bool disposed;
    private bool backwardDone;
    private readonly object gate = new();

    /// <summary>Creates the frozen base layer on <paramref name="backend"/> from host values.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="rotation">The rotation shape.</param>
    /// <param name="cayley">The Cayley shape.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="baseWeight">W0, row-major. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="bias">Bias (shape [outFeatureCount]) or empty for none.</param>
    /// <param name="trainBias">Whether the bias is trainable (PEFT <c>bias="all"</c>/<c>"boft_only"</c>); frozen otherwise.</param>
    /// <param name="activationType">The element type of activations, W0 and a frozen bias (docs/09_Mixed-precision.md); a trainable
    /// bias is a float32 master whatever it is.</param>
    private protected AdapterLinear(BoftBackend backend, RotationShape rotation, CayleyShape cayley, int outFeatureCount,
        ReadOnlySpan<float> baseWeight, ReadOnlySpan<float> bias, bool trainBias, ElementType activationType = ElementType.Float32)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(rotation);
        ArgumentNullException.ThrowIfNull(cayley);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatureCount);
        int d = rotation.FeatureCount;
        if (baseWeight.Length != (long)outFeatureCount * d)
            throw new ArgumentException($"baseWeight has {baseWeight.Length} elements but the layer needs [{outFeatureCount}, {d}] = {(long)outFeatureCount * d}.", nameof(baseWeight));
        if (!bias.IsEmpty && bias.Length != outFeatureCount)
            throw new ArgumentException($"bias has {bias.Length} elements but the layer needs [{outFeatureCount}] (or none).", nameof(bias));
        if (activationType != ElementType.Float32 && !backend.Supports(activationType))
            throw new NotSupportedException($"The {backend.Name} backend has no {activationType} path yet; use the SIMD or reference backend for 16-bit layers.");
        Backend = backend;
        Rotation = rotation;
        Cayley = cayley;
        OutFeatureCount = outFeatureCount;
        ActivationType = activationType;
        BaseWeight = Add(new Parameter("base_layer.weight", backend.Upload(baseWeight, activationType, outFeatureCount, d), requiresGrad: false));
        if (!bias.IsEmpty)
            Bias = Add(new Parameter("base_layer.bias", backend.Upload(bias, trainBias ? ElementType.Float32 : activationType, outFeatureCount), trainBias));
        blocks = backend.Allocate(cayley.BlockCount, cayley.BlockSize, cayley.BlockSize);
        gradBlocks = backend.Allocate(cayley.BlockCount, cayley.BlockSize, cayley.BlockSize);
    }

    /// <summary>The backend.</summary>
    public BoftBackend Backend { get; }

    /// <summary>
    /// The element type of the layer's activations (input, output and their gradients), of the frozen W0 and of a frozen bias;
    /// the adapter's parameters and gradients are float32 masters whatever it is (docs/09_Mixed-precision.md).
    /// </summary>
    public ElementType ActivationType { get; }

    /// <inheritdoc />
    public ElementType InputElementType => ActivationType;

    /// <inheritdoc />
    public ElementType OutputElementType => ActivationType;

    /// <summary>The rotation shape.</summary>
    public RotationShape Rotation { get; }

    /// <summary>The Cayley shape.</summary>
    public CayleyShape Cayley { get; }

    /// <inheritdoc />
    public int InFeatureCount => Rotation.FeatureCount;

    /// <inheritdoc />
    public int OutFeatureCount { get; }

    /// <summary>The frozen base weight W0 (or the merged weight W' while <see cref="IsMerged"/>). Shape: [OutFeatureCount, InFeatureCount].</summary>
    public Parameter BaseWeight { get; }

    /// <summary>The base bias, or null: float32 when trainable (a master), else in <see cref="ActivationType"/>.</summary>
    public Parameter? Bias { get; }

    /// <summary>The trainable raw adapter parameters (BOFT <c>boft_R</c>, OFT <c>oft_R.weight</c>).</summary>
    public abstract Parameter Rotations { get; }

    /// <summary>The trainable per-output scale (BOFT <c>boft_s</c>), or null (OFT).</summary>
    public abstract Parameter? ScaleParameter { get; }

    /// <inheritdoc />
    public IReadOnlyList<Parameter> Parameters => parameters;

    /// <summary>The trainable parameters.</summary>
    public IEnumerable<Parameter> TrainableParameters => parameters.Where(p => p.RequiresGrad);

    /// <inheritdoc />
    public bool IsTraining { get; set; } = true;

    /// <summary>Whether the adapter is merged into <see cref="BaseWeight"/> (zero-overhead inference; no backward).</summary>
    public bool IsMerged { get; private set; }

    /// <summary>Safe merge (PEFT <c>safe_merge</c>, but on by default): <see cref="Merge"/> and <see cref="Unmerge"/> check the scale,
    /// the blocks and the result first and refuse, changing nothing, when the operation would lose the base weight. Set false only to
    /// reproduce PEFT's unchecked behaviour.</summary>
    public bool SafeMerge { get; set; } = true;

    /// <summary>The orthogonal blocks of the last forward (or merge). Shape: [blockCount, blockSize, blockSize].</summary>
    public Tensor Blocks => blocks;

    /// <inheritdoc />
    /// <exception cref="ConcurrentLayerUseException">In training mode, another thread is running Forward, Backward, Merge or Unmerge
    /// on this layer. (In inference mode, <see cref="IsTraining"/> = false, concurrent calls wait for each other instead.)</exception>
    /// <exception cref="NonFiniteValueException">Anomaly detection is on (<see cref="AnomalyDetection.Enable"/>) and an op produced NaN or ±Inf.</exception>
    public void Forward(Tensor input, Tensor output)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        if (!IsTraining)
        {
            lock (gate)
                ForwardCore(input, output);
            return;
        }
        EnterExclusive(nameof(Forward));
        try
        {
            ForwardCore(input, output);
        }
        finally
        {
            Monitor.Exit(gate);
        }
    }

    private void ForwardCore(Tensor input, Tensor output)
    {
        Workspace ws = PrepareWorkspace(input, output);
        bool anomaly = AnomalyDetection.IsEnabled;
        if (anomaly)
            AnomalyDetection.Check(input, Describe("Forward"), "input (non-finite before this layer)");
        if (IsMerged)
        {
            Backend.Linear(input, BaseWeight.Value, output);
            if (Bias is not null)
                Backend.ScaleBias(output, null, Bias.Value, output);
            savedInput = null;
            return;
        }
        BeforeForward();
        activeMask = BuildIdentityMask();
        Backend.CayleyForward(Cayley, Rotations.Value, activeMask, blocks);
        if (anomaly)
            AnomalyDetection.Check(blocks, Describe("Forward"), "CayleyForward (blocks)");
        Backend.Rotate(Rotation, input, blocks, transpose: false, ws.Rotated);
        if (anomaly)
            AnomalyDetection.Check(ws.Rotated, Describe("Forward"), "Rotate (x R)");
        Backend.Linear(ws.Rotated, BaseWeight.Value, ws.PreScale);
        if (anomaly)
            AnomalyDetection.Check(ws.PreScale, Describe("Forward"), "Linear ((x R) W0ᵀ)");
        Backend.ScaleBias(ws.PreScale, ScaleParameter?.Value, Bias?.Value, output);
        if (anomaly)
            AnomalyDetection.Check(output, Describe("Forward"), "ScaleBias (output)");
        savedInput = input;
        backwardDone = false;
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">No Forward preceded it, or Backward already ran for the last Forward (a second call
    /// would add the gradients twice).</exception>
    /// <exception cref="ConcurrentLayerUseException">Another thread is running Forward, Backward, Merge or Unmerge on this layer.</exception>
    public void Backward(Tensor gradOutput, Tensor? gradInput)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(gradOutput);
        EnterExclusive(nameof(Backward));
        try
        {
            BackwardCore(gradOutput, gradInput);
        }
        finally
        {
            Monitor.Exit(gate);
        }
    }

    private void BackwardCore(Tensor gradOutput, Tensor? gradInput)
    {
        if (IsMerged)
            throw new InvalidOperationException("The adapter is merged into the base weight; call Unmerge() before training.");
        if (savedInput is null || workspace is null)
            throw new InvalidOperationException("Backward needs a preceding Forward of this layer.");
        if (backwardDone)
            throw new InvalidOperationException(
                $"{Describe("Backward")}: Backward already ran for the last Forward; a second call would add the gradients twice. " +
                "Run Forward again before each Backward (to accumulate over several batches, run Forward and Backward once per batch).");
        if (savedInput.IsDisposed)
            throw new ObjectDisposedException("input", $"input ({savedInput.ShapeString}), the tensor passed to the last Forward, has been disposed; Backward needs it, so keep it alive until Backward.");
        Workspace ws = workspace;
        if (!gradOutput.Shape.SequenceEqual(ws.OutputShape))
            throw new ArgumentException($"gradOutput has shape {gradOutput.ShapeString} but the last output had shape {Tensor.FormatShape(ws.OutputShape)}.", nameof(gradOutput));
        if (gradInput is not null && !gradInput.Shape.SequenceEqual(savedInput.Shape))
            throw new ArgumentException($"gradInput has shape {gradInput.ShapeString} but the last input had shape {savedInput.ShapeString}.", nameof(gradInput));
        bool anomaly = AnomalyDetection.IsEnabled;
        if (anomaly)
            AnomalyDetection.Check(gradOutput, Describe("Backward"), "gradOutput (non-finite before this layer)");
        Tensor gradPreScale = gradOutput;
        if (ScaleParameter is not null)
        {
            Backend.ScaleBiasBackward(ws.PreScale, ScaleParameter.Value, gradOutput, ws.GradPreScale, ScaleParameter.Gradient, Bias?.Gradient);
            gradPreScale = ws.GradPreScale;
        }
        else if (Bias?.Gradient is not null)
        {
            Backend.ScaleBiasBackward(ws.PreScale, null, gradOutput, null, null, Bias.Gradient);
        }
        if (anomaly && ScaleParameter is not null)
        {
            AnomalyDetection.Check(ws.GradPreScale, Describe("Backward"), "ScaleBiasBackward (gradient of (x R) W0ᵀ)");
            if (ScaleParameter.Gradient is not null)
                AnomalyDetection.Check(ScaleParameter.Gradient, Describe("Backward"), $"ScaleBiasBackward (gradient of {ScaleParameter.Name})");
        }
        Backend.LinearBackwardInput(gradPreScale, BaseWeight.Value, ws.GradRotated);
        if (anomaly)
            AnomalyDetection.Check(ws.GradRotated, Describe("Backward"), "LinearBackwardInput (gradient of x R)");
        Backend.RotateBackward(Rotation, savedInput, blocks, ws.GradRotated, gradInput ?? ws.GradInput, gradBlocks);
        if (anomaly)
        {
            AnomalyDetection.Check(gradInput ?? ws.GradInput, Describe("Backward"), "RotateBackward (gradInput)");
            AnomalyDetection.Check(gradBlocks, Describe("Backward"), "RotateBackward (gradient of the blocks)");
        }
        if (Rotations.Gradient is not null)
        {
            Backend.CayleyBackward(Cayley, Rotations.Value, blocks, gradBlocks, activeMask, Rotations.Gradient);
            if (anomaly)
                AnomalyDetection.Check(Rotations.Gradient, Describe("Backward"), $"CayleyBackward (gradient of {Rotations.Name})");
        }
        backwardDone = true;
    }

    /// <summary>Takes the layer's lock for a training call, or throws when another thread holds it.</summary>
    /// <param name="operation">The call, for the message.</param>
    private void EnterExclusive(string operation)
    {
        if (!Monitor.TryEnter(gate))
            throw new ConcurrentLayerUseException(
                $"{Describe(operation)}: another thread is running Forward, Backward, Merge or Unmerge on this layer. A layer keeps per-call state " +
                "(saved input, activations), so training calls must come from one thread at a time: use one layer (or model) per thread, or " +
                "lock around Forward+Backward. Inference (IsTraining = false) on a shared layer is safe; such calls wait for each other.");
    }

    /// <summary>The lock every call takes (tests hold it to collide deterministically).</summary>
    internal object CallGate => gate;

    /// <summary>The layer and operation, for messages.</summary>
    private protected string Describe(string operation) => $"{GetType().Name}(in {InFeatureCount}, out {OutFeatureCount}).{operation}";

    /// <summary>Frees every tensor of the layer.</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        foreach (Parameter p in parameters)
            p.Dispose();
        blocks.Dispose();
        gradBlocks.Dispose();
        workspace?.Dispose();
        DisposeAdapterState();
        GC.SuppressFinalize(this);
    }

    /// <summary>Registers a parameter.</summary>
    /// <param name="parameter">The parameter.</param>
    /// <returns>The same parameter.</returns>
    private protected Parameter Add(Parameter parameter)
    {
        parameters.Add(parameter);
        return parameter;
    }

    /// <summary>Runs before each forward and merge (OFT: COFT projection).</summary>
    private protected virtual void BeforeForward()
    {
    }

    /// <summary>The identity mask of this forward (dropout, interpolation), uploaded, or null.</summary>
    /// <returns>The mask tensor or null.</returns>
    private protected virtual Tensor? BuildIdentityMask() => null;

    /// <summary>The identity mask used by <see cref="Merge"/> (no dropout), or null.</summary>
    /// <returns>The mask tensor or null.</returns>
    private protected virtual Tensor? BuildMergeMask() => null;

    /// <summary>Computes the unmerged base weight in double precision.</summary>
    /// <param name="merged">W'.</param>
    /// <param name="baseWeight">Output W0.</param>
    private protected abstract void UnmergeOnHost(double[] merged, double[] baseWeight);

    /// <summary>Frees adapter-specific state.</summary>
    private protected virtual void DisposeAdapterState()
    {
    }

    /// <summary>Throws when disposed.</summary>
    private protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    private Workspace PrepareWorkspace(Tensor input, Tensor output)
    {
        if (input.ElementType != ActivationType)
            throw new ArgumentException($"input is {input.ElementType} but the layer's activations are {ActivationType}.", nameof(input));
        if (output.ElementType != ActivationType)
            throw new ArgumentException($"output is {output.ElementType} but the layer's activations are {ActivationType}.", nameof(output));
        if (input.Rank == 0 || input.LastDimension != InFeatureCount)
            throw new ArgumentException($"input has shape {input.ShapeString} but its last dimension must be the layer's in-features {InFeatureCount}.", nameof(input));
        int[] outputShape = input.Shape.ToArray();
        outputShape[^1] = OutFeatureCount;
        if (!output.Shape.SequenceEqual(outputShape))
            throw new ArgumentException($"output has shape {output.ShapeString} but input {input.ShapeString} needs output {Tensor.FormatShape(outputShape)}.", nameof(output));
        if (workspace is null || !workspace.InputShape.AsSpan().SequenceEqual(input.Shape))
        {
            workspace?.Dispose();
            workspace = new Workspace(Backend, input.Shape.ToArray(), outputShape, ActivationType);
        }
        return workspace;
    }

    /// <summary>Activations and gradient scratch for one input shape.</summary>
    private sealed class Workspace : IDisposable
    {
        public Workspace(BoftBackend backend, int[] inputShape, int[] outputShape, ElementType type)
        {
            InputShape = inputShape;
            OutputShape = outputShape;
            Rotated = backend.Allocate(type, inputShape);
            PreScale = backend.Allocate(type, outputShape);
            GradPreScale = backend.Allocate(type, outputShape);
            GradRotated = backend.Allocate(type, inputShape);
            GradInput = backend.Allocate(type, inputShape);
        }

        public int[] InputShape { get; }

        public int[] OutputShape { get; }

        public Tensor Rotated { get; }

        public Tensor PreScale { get; }

        public Tensor GradPreScale { get; }

        public Tensor GradRotated { get; }

        public Tensor GradInput { get; }

        public void Dispose()
        {
            Rotated.Dispose();
            PreScale.Dispose();
            GradPreScale.Dispose();
            GradRotated.Dispose();
            GradInput.Dispose();
        }
    }
}
