// A named tensor with an optional gradient of the same shape (gradients accumulate: ZeroGrad is explicit).

using Boft.Backends;

namespace Boft.Training;

/// <summary>
/// A named parameter: a value tensor and, when trainable, a gradient tensor of the same shape. Backward passes
/// accumulate into <see cref="Gradient"/> (+=); call <see cref="ZeroGrad"/> (or <see cref="Optimizer.ZeroGrad"/>) between steps.
/// </summary>
public sealed class Parameter : IDisposable
{
    /// <summary>Creates a parameter that takes ownership of <paramref name="value"/>.</summary>
    /// <param name="name">The parameter's name (PEFT names for adapter parameters, e.g. <c>boft_R</c>).</param>
    /// <param name="value">The value tensor; disposed with the parameter.</param>
    /// <param name="requiresGrad">Whether a gradient is kept (trainable) or not (frozen).</param>
    /// <exception cref="ArgumentException">A trainable parameter whose value is not float32.</exception>
    public Parameter(string name, Tensor value, bool requiresGrad)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(value);
        if (requiresGrad && value.ElementType != ElementType.Float32)
            throw new ArgumentException($"Parameter '{name}' is {value.ElementType} but a trainable parameter must be Float32: it is a float32 master (docs/09_Mixed-precision.md); keep 16-bit values frozen (requiresGrad: false).", nameof(value));
        Name = name;
        Value = value;
        if (requiresGrad)
            Gradient = value.Backend.Allocate(value.Shape.ToArray());
    }

    /// <summary>The name.</summary>
    public string Name { get; }

    /// <summary>The value.</summary>
    public Tensor Value { get; }

    /// <summary>The accumulated gradient, or null for a frozen parameter.</summary>
    public Tensor? Gradient { get; }

    /// <summary>Whether the parameter is trainable.</summary>
    public bool RequiresGrad => Gradient is not null;

    /// <summary>The backend holding the tensors.</summary>
    public BoftBackend Backend => Value.Backend;

    /// <summary>The gradient, or an exception naming the parameter when it is frozen.</summary>
    /// <exception cref="InvalidOperationException">The parameter is frozen.</exception>
    public Tensor RequiredGradient => Gradient ?? throw new InvalidOperationException($"Parameter '{Name}' is frozen and has no gradient.");

    /// <summary>Sets the gradient to zero (no-op for frozen parameters).</summary>
    public void ZeroGrad()
    {
        if (Gradient is not null)
            Backend.Fill(Gradient, 0f);
    }

    /// <summary>Copies host values into the parameter.</summary>
    /// <param name="values">Row-major values, length of <see cref="Value"/>.</param>
    public void CopyFrom(ReadOnlySpan<float> values) => Value.CopyFrom(values);

    /// <summary>Disposes the value and gradient.</summary>
    public void Dispose()
    {
        Value.Dispose();
        Gradient?.Dispose();
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name}{Value.ShapeString}{(RequiresGrad ? "" : " (frozen)")}";
}
