// A chain of layers with activations allocated once per input shape.

using Boft.Backends;
using Boft.Training;

namespace Boft.Layers;

/// <summary>Layers applied one after another; owns (and disposes) its layers and their intermediate activations.</summary>
public sealed class Sequential : ILayer
{
    private readonly ILayer[] layers;
    private readonly BoftBackend backend;
    private Tensor[] activations = [];
    private Tensor[] gradients = [];
    private int[]? inputShape;
    private bool disposed;

    /// <summary>Creates the chain; consecutive layers must agree on feature counts.</summary>
    /// <param name="backend">The backend of every layer's tensors.</param>
    /// <param name="layers">The layers, first applied first.</param>
    /// <exception cref="ArgumentException">No layers, or a feature count mismatch between neighbours.</exception>
    public Sequential(BoftBackend backend, params ILayer[] layers)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Length == 0)
            throw new ArgumentException("A Sequential needs at least one layer.", nameof(layers));
        for (int i = 1; i < layers.Length; i++)
            if (layers[i - 1].OutFeatureCount != layers[i].InFeatureCount)
                throw new ArgumentException($"layer {i - 1} outputs {layers[i - 1].OutFeatureCount} features but layer {i} takes {layers[i].InFeatureCount}.", nameof(layers));
        for (int i = 1; i < layers.Length; i++)
            if (layers[i - 1].OutputElementType != layers[i].InputElementType)
                throw new ArgumentException($"layer {i - 1} outputs {layers[i - 1].OutputElementType} but layer {i} takes {layers[i].InputElementType}; put a Cast layer between them.", nameof(layers));
        this.backend = backend;
        this.layers = (ILayer[])layers.Clone();
    }

    /// <summary>The layers.</summary>
    public IReadOnlyList<ILayer> Layers => layers;

    /// <inheritdoc />
    public int InFeatureCount => layers[0].InFeatureCount;

    /// <inheritdoc />
    public int OutFeatureCount => layers[^1].OutFeatureCount;

    /// <inheritdoc />
    public ElementType InputElementType => layers[0].InputElementType;

    /// <inheritdoc />
    public ElementType OutputElementType => layers[^1].OutputElementType;

    /// <inheritdoc />
    public IReadOnlyList<Parameter> Parameters => layers.SelectMany(l => l.Parameters).ToArray();

    /// <inheritdoc />
    public bool IsTraining
    {
        get => layers[0].IsTraining;
        set
        {
            foreach (ILayer layer in layers)
                layer.IsTraining = value;
        }
    }

    /// <inheritdoc />
    public void Forward(Tensor input, Tensor output)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        if (input.Rank == 0 || input.LastDimension != InFeatureCount)
            throw new ArgumentException($"input has shape {input.ShapeString} but its last dimension must be {InFeatureCount}.", nameof(input));
        EnsureActivations(input.Shape.ToArray());
        Tensor current = input;
        for (int i = 0; i < layers.Length; i++)
        {
            Tensor next = i == layers.Length - 1 ? output : activations[i];
            layers[i].Forward(current, next);
            current = next;
        }
    }

    /// <inheritdoc />
    public void Backward(Tensor gradOutput, Tensor? gradInput)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (inputShape is null)
            throw new InvalidOperationException("Backward needs a preceding Forward.");
        Tensor current = gradOutput;
        for (int i = layers.Length - 1; i >= 0; i--)
        {
            Tensor? next = i == 0 ? gradInput : gradients[i - 1];
            layers[i].Backward(current, next);
            if (next is null)
                break;
            current = next;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        foreach (ILayer layer in layers)
            layer.Dispose();
        foreach (Tensor t in activations.Concat(gradients))
            t.Dispose();
    }

    private void EnsureActivations(int[] shape)
    {
        if (inputShape is not null && inputShape.AsSpan().SequenceEqual(shape))
            return;
        foreach (Tensor t in activations.Concat(gradients))
            t.Dispose();
        activations = new Tensor[layers.Length - 1];
        gradients = new Tensor[layers.Length - 1];
        for (int i = 0; i < layers.Length - 1; i++)
        {
            int[] s = (int[])shape.Clone();
            s[^1] = layers[i].OutFeatureCount;
            activations[i] = backend.Allocate(layers[i].OutputElementType, s);
            gradients[i] = backend.Allocate(layers[i].OutputElementType, s);
        }
        inputShape = shape;
    }
}
