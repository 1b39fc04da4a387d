// A plain linear layer y = x Wᵀ + b (trainable or frozen), for the networks around adapters and full finetuning.

using Boft.Backends;
using Boft.Training;

namespace Boft.Layers;

/// <summary>A plain linear layer <c>y = x·Wᵀ + b</c> with weight shape [outFeatureCount, inFeatureCount] (PyTorch layout).</summary>
/// <remarks>With 16-bit activations (docs/09_Mixed-precision.md) a frozen W and b are stored in the activation type; a trainable
/// W and b are float32 masters, and each forward converts W into a 16-bit working copy (one rounding per element).</remarks>
public sealed class Linear : ILayer
{
    private readonly List<Parameter> parameters = [];
    private readonly Tensor? workingWeight;
    private Tensor? savedInput;
    private int[]? lastOutputShape;
    private bool disposed;

    /// <summary>Creates the layer from host values.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="weight">W, row-major. Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="bias">b (shape [outFeatureCount]) or empty for none.</param>
    /// <param name="trainable">Whether weight and bias are trainable.</param>
    /// <param name="activationType">The element type of the input and output (and of W and b when frozen).</param>
    /// <exception cref="ArgumentException">A size does not match.</exception>
    /// <exception cref="NotSupportedException">A 16-bit <paramref name="activationType"/> on a backend without it.</exception>
    public Linear(BoftBackend backend, int inFeatureCount, int outFeatureCount, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, bool trainable,
        ElementType activationType = ElementType.Float32)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatureCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatureCount);
        if (weight.Length != (long)inFeatureCount * outFeatureCount)
            throw new ArgumentException($"weight has {weight.Length} elements but the layer needs [{outFeatureCount}, {inFeatureCount}].", nameof(weight));
        if (!bias.IsEmpty && bias.Length != outFeatureCount)
            throw new ArgumentException($"bias has {bias.Length} elements but the layer needs [{outFeatureCount}] (or none).", nameof(bias));
        if (activationType != ElementType.Float32 && !backend.Supports(activationType))
            throw new NotSupportedException($"The {backend.Name} backend has no {activationType} path yet; use the SIMD or reference backend for 16-bit layers.");
        Backend = backend;
        InFeatureCount = inFeatureCount;
        OutFeatureCount = outFeatureCount;
        ActivationType = activationType;
        ElementType stored = trainable ? ElementType.Float32 : activationType;
        Weight = new Parameter("weight", backend.Upload(weight, stored, outFeatureCount, inFeatureCount), trainable);
        parameters.Add(Weight);
        if (!bias.IsEmpty)
        {
            Bias = new Parameter("bias", backend.Upload(bias, stored, outFeatureCount), trainable);
            parameters.Add(Bias);
        }
        if (stored != activationType)
            workingWeight = backend.Allocate(activationType, outFeatureCount, inFeatureCount);
    }

    /// <summary>Creates a layer with PyTorch's default initialization <c>U(−1/√d, 1/√d)</c> for weight and bias.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="random">The random source.</param>
    /// <param name="withBias">Whether to have a bias.</param>
    /// <returns>A trainable layer.</returns>
    public static Linear CreateRandom(BoftBackend backend, int inFeatureCount, int outFeatureCount, Random random, bool withBias = true)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatureCount);
        double bound = 1.0 / Math.Sqrt(inFeatureCount);
        var weight = new float[inFeatureCount * outFeatureCount];
        for (int i = 0; i < weight.Length; i++)
            weight[i] = (float)((2 * random.NextDouble() - 1) * bound);
        var bias = new float[withBias ? outFeatureCount : 0];
        for (int i = 0; i < bias.Length; i++)
            bias[i] = (float)((2 * random.NextDouble() - 1) * bound);
        return new Linear(backend, inFeatureCount, outFeatureCount, weight, bias, trainable: true);
    }

    /// <summary>The backend.</summary>
    public BoftBackend Backend { get; }

    /// <summary>The element type of the input, the output and their gradients.</summary>
    public ElementType ActivationType { get; }

    /// <inheritdoc />
    public ElementType InputElementType => ActivationType;

    /// <inheritdoc />
    public ElementType OutputElementType => ActivationType;

    /// <inheritdoc />
    public int InFeatureCount { get; }

    /// <inheritdoc />
    public int OutFeatureCount { get; }

    /// <summary>W (a float32 master when trainable). Shape: [OutFeatureCount, InFeatureCount].</summary>
    public Parameter Weight { get; }

    /// <summary>b, or null.</summary>
    public Parameter? Bias { get; }

    /// <inheritdoc />
    public IReadOnlyList<Parameter> Parameters => parameters;

    /// <inheritdoc />
    public bool IsTraining { get; set; } = true;

    /// <inheritdoc />
    public void Forward(Tensor input, Tensor output)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        if (workingWeight is not null)
            Backend.Convert(Weight.Value, workingWeight);
        Backend.Linear(input, workingWeight ?? Weight.Value, output);
        if (Bias is not null)
            Backend.ScaleBias(output, null, Bias.Value, output);
        savedInput = input;
        lastOutputShape = output.Shape.ToArray();
    }

    /// <inheritdoc />
    public void Backward(Tensor gradOutput, Tensor? gradInput)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (savedInput is null || lastOutputShape is null)
            throw new InvalidOperationException("Backward needs a preceding Forward of this layer.");
        if (!gradOutput.Shape.SequenceEqual(lastOutputShape))
            throw new ArgumentException($"gradOutput has shape {gradOutput.ShapeString} but the last output had shape {Tensor.FormatShape(lastOutputShape)}.", nameof(gradOutput));
        if (Bias?.Gradient is not null)
            Backend.ScaleBiasBackward(gradOutput, null, gradOutput, null, null, Bias.Gradient);
        if (Weight.Gradient is not null)
            Backend.LinearBackwardWeight(gradOutput, savedInput, Weight.Gradient);
        if (gradInput is not null)
            Backend.LinearBackwardInput(gradOutput, workingWeight ?? Weight.Value, gradInput);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        foreach (Parameter p in parameters)
            p.Dispose();
        workingWeight?.Dispose();
    }
}

/// <summary>Element-wise <c>max(x, 0)</c> as a layer (no parameters).</summary>
public sealed class Relu : ILayer
{
    private Tensor? savedInput;

    /// <summary>Creates the activation for <paramref name="featureCount"/> features.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="featureCount">Features in and out.</param>
    /// <param name="activationType">The element type of the input, the output and their gradients.</param>
    public Relu(BoftBackend backend, int featureCount, ElementType activationType = ElementType.Float32)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(featureCount);
        Backend = backend;
        InFeatureCount = featureCount;
        ActivationType = activationType;
    }

    /// <summary>The backend.</summary>
    public BoftBackend Backend { get; }

    /// <summary>The element type of the input, the output and their gradients.</summary>
    public ElementType ActivationType { get; }

    /// <inheritdoc />
    public ElementType InputElementType => ActivationType;

    /// <inheritdoc />
    public ElementType OutputElementType => ActivationType;

    /// <inheritdoc />
    public int InFeatureCount { get; }

    /// <inheritdoc />
    public int OutFeatureCount => InFeatureCount;

    /// <inheritdoc />
    public IReadOnlyList<Parameter> Parameters => [];

    /// <inheritdoc />
    public bool IsTraining { get; set; } = true;

    /// <inheritdoc />
    public void Forward(Tensor input, Tensor output)
    {
        Backend.Relu(input, output);
        savedInput = input;
    }

    /// <inheritdoc />
    public void Backward(Tensor gradOutput, Tensor? gradInput)
    {
        if (savedInput is null)
            throw new InvalidOperationException("Backward needs a preceding Forward of this layer.");
        if (gradInput is not null)
            Backend.ReluBackward(savedInput, gradOutput, gradInput);
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
