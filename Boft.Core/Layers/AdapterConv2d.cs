// Shared machinery of BoftConv2d and OftConv2d: a frozen 2-D convolution whose weight, viewed as the matrix
// W0 [C_out, d] with d = (C_in/G)·kh·kw in feature order (c, i, j), is rotated on its input side (docs/02_Ops/conv2d.md):
//   W' = diag(s) · W0 · Rᵀ = ((R · W0ᵀ)ᵀ ⊙ s)       (PEFT's merged Conv2d; OFT: no s)
//   y  = conv2d(x, W') + bias                       (the base's stride, padding, dilation and groups)
// Forward on the backend: Cayley (raw → blocks) → Merge (W0 → W', s folded in) → Conv2d. Backward:
//   gW' = Conv2dBackwardWeight(gy, x)   (gradBias too when the bias trains)     gx = Conv2dBackwardInput(gy, W')
//   BOFT: Wr = W0·Rᵀ (Rotate, transposed); G = diag(s)·gW', g_s += rowdot(gW', Wr) (RowScaleBackward); OFT: G = gW'
//   g_blocks = RotateBackward(input = G, gradOutput = W0)   (∂/∂R of Σ G ⊙ (W0 Rᵀ) = Gᵀ W0, the same as for rows G·R vs W0)
//   g_raw += CayleyBackward(g_blocks)
// 16-bit images (activationType): W0 and a frozen bias are stored in that type; each forward widens W0 (exact) into a float32
// copy, so W', its gradients and every rotation above are float32 (W' is never rounded: the conv reads a float32 weight); merge
// rounds W' once into W0's type. Only the images and their gradients are 16-bit (docs/09_Mixed-precision.md).
// The layer is an ILayer over flattened images ([N, C_in·H·W] → [N, C_out·H_out·W_out]; [N, C, H, W] tensors work too), so it
// composes with Sequential and Trainer. Scratch of the weight's size is allocated once.

using Boft.Backends;
using Boft.Training;

namespace Boft.Layers;

/// <summary>Base class of the adapted convolutions (<see cref="BoftConv2d"/>, <see cref="OftConv2d"/>).</summary>
public abstract class AdapterConv2d : ILayer
{
    private readonly List<Parameter> parameters = [];
    private readonly Tensor blocks;
    private readonly Tensor gradBlocks;
    private readonly Tensor adaptedWeight;
    private readonly Tensor gradAdaptedWeight;
    private readonly Tensor rotatedBase;
    private readonly Tensor scaledGrad;
    private readonly Tensor? wideBase;
    private Tensor? savedInput;
    private int[]? lastOutputShape;
    private Tensor? activeMask;
    private bool disposed;

    /// <summary>Creates the frozen base convolution on <paramref name="backend"/> from host values.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="convolution">The base convolution's geometry.</param>
    /// <param name="rotation">The rotation shape (d = the convolution's filter dimension).</param>
    /// <param name="cayley">The Cayley shape.</param>
    /// <param name="baseWeight">W0, row-major. Shape: [C_out, C_in/G, kh, kw].</param>
    /// <param name="bias">Bias (shape [C_out]) or empty for none.</param>
    /// <param name="trainBias">Whether the bias is trainable; frozen otherwise.</param>
    /// <param name="activationType">Type of the images, W0 and a frozen bias.</param>
    private protected AdapterConv2d(BoftBackend backend, Conv2dShape convolution, RotationShape rotation, CayleyShape cayley,
        ReadOnlySpan<float> baseWeight, ReadOnlySpan<float> bias, bool trainBias, ElementType activationType)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(convolution);
        ArgumentNullException.ThrowIfNull(rotation);
        ArgumentNullException.ThrowIfNull(cayley);
        if (rotation.FeatureCount != convolution.FilterDimension)
            throw new ArgumentException($"The rotation has d = {rotation.FeatureCount} but the convolution's kernel dimension (C_in/groups·kh·kw) is {convolution.FilterDimension} ({convolution}).", nameof(rotation));
        int o = convolution.OutChannels, d = convolution.FilterDimension;
        if (baseWeight.Length != convolution.WeightLength)
            throw new ArgumentException($"baseWeight has {baseWeight.Length} elements but {convolution} needs [{o}, {convolution.GroupInChannels}, {convolution.KernelHeight}, {convolution.KernelWidth}] = {convolution.WeightLength}.", nameof(baseWeight));
        if (!bias.IsEmpty && bias.Length != o)
            throw new ArgumentException($"bias has {bias.Length} elements but {convolution} needs [{o}] (or none).", nameof(bias));
        if (activationType.IsSixteenBit() && !backend.Supports(activationType))
            throw new NotSupportedException($"The {backend.Name} backend has no {activationType} storage (activationType); use Float32 or a backend with a 16-bit path (docs/09_Mixed-precision.md).");
        if (activationType.IsSixteenBit() && !backend.HasSixteenBitPath(SixteenBitOperation.Conv2d))
            throw new NotSupportedException($"The {backend.Name} backend has no 16-bit Conv2d path (activationType {activationType}); use Float32 or the SIMD or reference backend (docs/09_Mixed-precision.md).");
        Backend = backend;
        ActivationType = activationType;
        Convolution = convolution;
        Rotation = rotation;
        Cayley = cayley;
        BaseWeight = Add(new Parameter("base_layer.weight", backend.Upload(baseWeight, activationType, o, d), requiresGrad: false));
        if (!bias.IsEmpty)
            Bias = Add(new Parameter("base_layer.bias", backend.Upload(bias, trainBias ? ElementType.Float32 : activationType, o), trainBias));
        blocks = backend.Allocate(cayley.BlockCount, cayley.BlockSize, cayley.BlockSize);
        gradBlocks = backend.Allocate(cayley.BlockCount, cayley.BlockSize, cayley.BlockSize);
        adaptedWeight = backend.Allocate(o, d);
        gradAdaptedWeight = backend.Allocate(o, d);
        rotatedBase = backend.Allocate(o, d);
        scaledGrad = backend.Allocate(o, d);
        if (activationType.IsSixteenBit())
            wideBase = backend.Allocate(o, d);
    }

    /// <summary>The element type of the images, the frozen W0 and a frozen bias (float32 unless given at construction).</summary>
    public ElementType ActivationType { get; }

    /// <summary>W0 in float32 for the adapter's math: W0 itself, or (16-bit W0) its exact float32 copy made by this forward.</summary>
    private Tensor FloatBase => wideBase ?? BaseWeight.Value;

    /// <summary>The backend.</summary>
    public BoftBackend Backend { get; }

    /// <summary>The base convolution's geometry.</summary>
    public Conv2dShape Convolution { get; }

    /// <summary>The rotation shape (d = <see cref="Conv2dShape.FilterDimension"/>).</summary>
    public RotationShape Rotation { get; }

    /// <summary>The Cayley shape.</summary>
    public CayleyShape Cayley { get; }

    /// <summary>C_in·H·W: one flattened input image.</summary>
    public int InFeatureCount => Convolution.InputImageLength;

    /// <summary>C_out·H_out·W_out: one flattened output image.</summary>
    public int OutFeatureCount => Convolution.OutputImageLength;

    /// <summary>The frozen base weight W0 as the matrix [C_out, d] (or the merged W' while <see cref="IsMerged"/>); its row-major data is
    /// the [C_out, C_in/G, kh, kw] conv weight.</summary>
    public Parameter BaseWeight { get; }

    /// <summary>The base bias, or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>The trainable raw adapter parameters (BOFT <c>boft_R</c>, OFT <c>oft_R.weight</c>).</summary>
    public abstract Parameter Rotations { get; }

    /// <summary>The trainable per-output-channel scale (BOFT <c>boft_s</c>, stored [1, C_out] as PEFT does for Conv2d), or null (OFT).</summary>
    public abstract Parameter? ScaleParameter { get; }

    /// <inheritdoc />
    public IReadOnlyList<Parameter> Parameters => parameters;

    /// <summary>The trainable parameters.</summary>
    public IEnumerable<Parameter> TrainableParameters => parameters.Where(p => p.RequiresGrad);

    /// <inheritdoc />
    public bool IsTraining { get; set; } = true;

    /// <summary>Whether the adapter is merged into <see cref="BaseWeight"/> (plain convolution at inference; no backward).</summary>
    public bool IsMerged { get; private set; }

    /// <summary>The orthogonal blocks of the last forward (or merge). Shape: [blockCount, blockSize, blockSize].</summary>
    public Tensor Blocks => blocks;

    /// <summary>The adapted weight W' of the last unmerged forward. Shape: [C_out, d].</summary>
    public Tensor AdaptedWeight => adaptedWeight;

    /// <inheritdoc />
    public void Forward(Tensor input, Tensor output)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        if (IsMerged)
        {
            Backend.Conv2d(Convolution, input, BaseWeight.Value, Bias?.Value, output);
            savedInput = null;
            return;
        }
        BeforeForward();
        activeMask = BuildIdentityMask();
        Backend.CayleyForward(Cayley, Rotations.Value, activeMask, blocks);
        if (wideBase is not null)
            Backend.Convert(BaseWeight.Value, wideBase);
        Backend.Merge(Rotation, FloatBase, blocks, ScaleParameter?.Value, adaptedWeight);
        Backend.Conv2d(Convolution, input, adaptedWeight, Bias?.Value, output);
        savedInput = input;
        lastOutputShape = output.Shape.ToArray();
    }

    /// <inheritdoc />
    public void Backward(Tensor gradOutput, Tensor? gradInput)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (IsMerged)
            throw new InvalidOperationException("The adapter is merged into the base weight; call Unmerge() before training.");
        if (savedInput is null || lastOutputShape is null)
            throw new InvalidOperationException("Backward needs a preceding Forward of this layer.");
        if (savedInput.IsDisposed)
            throw new ObjectDisposedException(nameof(gradOutput), "The input of the last Forward has been disposed; Backward needs it.");
        if (!gradOutput.Shape.SequenceEqual(lastOutputShape))
            throw new ArgumentException($"gradOutput has shape {gradOutput.ShapeString} but the last output had shape {Tensor.FormatShape(lastOutputShape)}.", nameof(gradOutput));
        if (gradInput is not null && !gradInput.Shape.SequenceEqual(savedInput.Shape))
            throw new ArgumentException($"gradInput has shape {gradInput.ShapeString} but the last input had shape {savedInput.ShapeString}.", nameof(gradInput));
        Backend.Fill(gradAdaptedWeight, 0f);
        Backend.Conv2dBackwardWeight(Convolution, gradOutput, savedInput, gradAdaptedWeight, Bias?.Gradient);
        if (gradInput is not null)
            Backend.Conv2dBackwardInput(Convolution, gradOutput, adaptedWeight, gradInput);
        if (Rotations.Gradient is null && ScaleParameter?.Gradient is null)
            return;
        Tensor gradRotatedRows = gradAdaptedWeight;
        if (ScaleParameter is not null)
        {
            Backend.Rotate(Rotation, FloatBase, blocks, transpose: true, rotatedBase);
            Backend.RowScaleBackward(rotatedBase, ScaleParameter.Value, gradAdaptedWeight, scaledGrad, ScaleParameter.Gradient);
            gradRotatedRows = scaledGrad;
        }
        if (Rotations.Gradient is null)
            return;
        Backend.RotateBackward(Rotation, gradRotatedRows, blocks, FloatBase, rotatedBase, gradBlocks);
        Backend.CayleyBackward(Cayley, Rotations.Value, blocks, gradBlocks, activeMask, Rotations.Gradient);
    }

    /// <summary>Merges the adapter into the base weight (<c>W' = diag(s) W0 Rᵀ</c>, PEFT's merged Conv2d).</summary>
    /// <exception cref="InvalidOperationException">Already merged.</exception>
    public void Merge()
    {
        ThrowIfDisposed();
        if (IsMerged)
            throw new InvalidOperationException("The adapter is already merged.");
        BeforeForward();
        Backend.CayleyForward(Cayley, Rotations.Value, BuildMergeMask(), blocks);
        if (wideBase is not null)
            Backend.Convert(BaseWeight.Value, wideBase);
        Backend.Merge(Rotation, FloatBase, blocks, ScaleParameter?.Value, adaptedWeight);
        // W' in the base weight's type, computed in float32 and rounded once (RNE) for a 16-bit W0.
        Backend.Convert(adaptedWeight, BaseWeight.Value);
        IsMerged = true;
        savedInput = null;
    }

    /// <summary>Restores the base weight with PEFT's formula (BOFT: <c>W0 = diag(1/s) W' R</c>; OFT: <c>W0 = W' R⁻ᵀ</c>), in double
    /// precision on the host.</summary>
    /// <exception cref="InvalidOperationException">Not merged.</exception>
    public void Unmerge()
    {
        ThrowIfDisposed();
        if (!IsMerged)
            throw new InvalidOperationException("The adapter is not merged.");
        double[] merged = Array.ConvertAll(BaseWeight.Value.ToArray(), v => (double)v);
        var restored = new double[merged.Length];
        UnmergeOnHost(merged, restored);
        BaseWeight.Value.CopyFrom(Array.ConvertAll(restored, v => (float)v));
        IsMerged = false;
    }

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
        adaptedWeight.Dispose();
        gradAdaptedWeight.Dispose();
        rotatedBase.Dispose();
        scaledGrad.Dispose();
        wideBase?.Dispose();
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

    /// <summary>Computes the unmerged base weight [C_out, d] in double precision.</summary>
    /// <param name="merged">W'.</param>
    /// <param name="baseWeight">Output W0.</param>
    private protected abstract void UnmergeOnHost(double[] merged, double[] baseWeight);

    /// <summary>Frees adapter-specific state.</summary>
    private protected virtual void DisposeAdapterState()
    {
    }

    /// <summary>Throws when disposed.</summary>
    private protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    /// <summary>Validates an adapter configuration's d against the convolution and rewrites PEFT's Linear wording ("in_features (d)")
    /// into its Conv2d wording ("Convolutional kernel dimension (d)", BOFTLayer/OFTLayer Conv2d.update_layer).</summary>
    /// <typeparam name="TShape">The resolved shape.</typeparam>
    /// <param name="convolution">The convolution.</param>
    /// <param name="featureCount">The configuration's FeatureCount (0 = take d from the convolution).</param>
    /// <param name="resolve">Resolves the configuration with the given d.</param>
    /// <returns>The resolved shape.</returns>
    /// <exception cref="ArgumentException">The configuration's d differs from the kernel dimension, or PEFT rejects the configuration.</exception>
    private protected static TShape ResolveForConvolution<TShape>(Conv2dShape convolution, int featureCount, Func<int, TShape> resolve)
    {
        ArgumentNullException.ThrowIfNull(convolution);
        int d = convolution.FilterDimension;
        if (featureCount != 0 && featureCount != d)
            throw new ArgumentException($"The configuration has FeatureCount {featureCount} but the convolutional kernel dimension (C_in/groups·kh·kw) of {convolution} is {d}; use {d} or 0.", "config");
        try
        {
            return resolve(d);
        }
        catch (ArgumentException e) when (e is not ArgumentOutOfRangeException)
        {
            throw new ArgumentException(ConvWording(e), e.ParamName, e);
        }
    }

    /// <summary>PEFT's Conv2d wording of a Linear configuration error.</summary>
    /// <param name="error">The Linear error.</param>
    /// <returns>The message with "in_features (d)" replaced.</returns>
    internal static string ConvWording(ArgumentException error)
    {
        string message = error.Message;
        string suffix = error.ParamName is null ? "" : $" (Parameter '{error.ParamName}')";
        if (suffix.Length > 0 && message.EndsWith(suffix, StringComparison.Ordinal))
            message = message[..^suffix.Length];
        return message
            .Replace("Invalid combination of in_features (", "Invalid combination of convolutional kernel dimension (", StringComparison.Ordinal)
            .Replace("in_features (", "Convolutional kernel dimension (", StringComparison.Ordinal);
    }
}
