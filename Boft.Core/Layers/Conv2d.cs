// A plain 2-D convolution layer y = conv2d(x, W) + b (trainable or frozen), for the networks around conv adapters and for
// full finetuning. An ILayer over flattened NCHW images ([N, C_in·H·W] → [N, C_out·H_out·W_out]; 4-D tensors work too).

using Boft.Backends;
using Boft.Training;

namespace Boft.Layers;

/// <summary>A plain 2-D convolution layer with weight [C_out, C_in/groups, kh, kw] (PyTorch layout) and optional bias.</summary>
public sealed class Conv2d : ILayer
{
    private readonly List<Parameter> parameters = [];
    private Tensor? savedInput;
    private int[]? lastOutputShape;
    private bool disposed;

    /// <summary>Creates the layer from host values.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="convolution">The geometry.</param>
    /// <param name="weight">W, row-major. Shape: [C_out, C_in/groups, kh, kw].</param>
    /// <param name="bias">b (shape [C_out]) or empty for none.</param>
    /// <param name="trainable">Whether weight and bias are trainable.</param>
    /// <exception cref="ArgumentException">A size does not match.</exception>
    public Conv2d(BoftBackend backend, Conv2dShape convolution, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, bool trainable)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(convolution);
        if (weight.Length != convolution.WeightLength)
            throw new ArgumentException($"weight has {weight.Length} elements but {convolution} needs [{convolution.OutChannels}, {convolution.GroupInChannels}, {convolution.KernelHeight}, {convolution.KernelWidth}] = {convolution.WeightLength}.", nameof(weight));
        if (!bias.IsEmpty && bias.Length != convolution.OutChannels)
            throw new ArgumentException($"bias has {bias.Length} elements but {convolution} needs [{convolution.OutChannels}] (or none).", nameof(bias));
        Backend = backend;
        Convolution = convolution;
        Weight = new Parameter("weight", backend.Upload(weight, convolution.WeightDimensions), trainable);
        parameters.Add(Weight);
        if (!bias.IsEmpty)
        {
            Bias = new Parameter("bias", backend.Upload(bias, convolution.OutChannels), trainable);
            parameters.Add(Bias);
        }
    }

    /// <summary>A trainable layer with PyTorch's default initialization <c>U(−1/√fan_in, 1/√fan_in)</c> (fan_in = (C_in/groups)·kh·kw).</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="convolution">The geometry.</param>
    /// <param name="random">The random source.</param>
    /// <param name="withBias">Whether to have a bias.</param>
    /// <returns>The layer.</returns>
    public static Conv2d CreateRandom(BoftBackend backend, Conv2dShape convolution, Random random, bool withBias = true)
    {
        ArgumentNullException.ThrowIfNull(convolution);
        ArgumentNullException.ThrowIfNull(random);
        double bound = 1.0 / Math.Sqrt(convolution.FilterDimension);
        var weight = new float[convolution.WeightLength];
        for (int i = 0; i < weight.Length; i++)
            weight[i] = (float)((2 * random.NextDouble() - 1) * bound);
        var bias = new float[withBias ? convolution.OutChannels : 0];
        for (int i = 0; i < bias.Length; i++)
            bias[i] = (float)((2 * random.NextDouble() - 1) * bound);
        return new Conv2d(backend, convolution, weight, bias, trainable: true);
    }

    /// <summary>The backend.</summary>
    public BoftBackend Backend { get; }

    /// <summary>The geometry.</summary>
    public Conv2dShape Convolution { get; }

    /// <summary>C_in·H·W.</summary>
    public int InFeatureCount => Convolution.InputImageLength;

    /// <summary>C_out·H_out·W_out.</summary>
    public int OutFeatureCount => Convolution.OutputImageLength;

    /// <summary>W. Shape: [C_out, C_in/groups, kh, kw].</summary>
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
        Backend.Conv2d(Convolution, input, Weight.Value, Bias?.Value, output);
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
        Backend.Conv2dBackwardWeight(Convolution, gradOutput, savedInput, Weight.Gradient, Bias?.Gradient);
        if (gradInput is not null)
            Backend.Conv2dBackwardInput(Convolution, gradOutput, Weight.Value, gradInput);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        foreach (Parameter p in parameters)
            p.Dispose();
    }
}
