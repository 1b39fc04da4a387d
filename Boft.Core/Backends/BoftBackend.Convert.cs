// The backend contract, Convert: copying a tensor into one of another element type (docs/09_Mixed-precision.md). This is
// the one op whose operands may differ in type: it is how a model enters and leaves its 16-bit region (the float32 input
// into bf16 activations, 16-bit logits into a float32 loss) and how a trainable float32 master weight gets its 16-bit
// working copy for a forward pass. Widening is exact; narrowing rounds once, to nearest even.
// Each public method validates its arguments (ShapeChecks) and calls its protected *Core hook, declared right below it.

namespace Boft.Backends;

public abstract partial class BoftBackend
{
    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="destination"/>, converting between element types: float32 → 16-bit
    /// rounds to nearest even (overflow to ±infinity, NaN stays NaN), 16-bit → float32 is exact, bf16 ↔ fp16 rounds the exact
    /// value once. With equal types it is <see cref="Copy"/>.
    /// </summary>
    /// <param name="source">Any tensor of this backend.</param>
    /// <param name="destination">Same length as <paramref name="source"/>; any element type this backend supports.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    /// <exception cref="NotSupportedException">The backend has no storage of a 16-bit type given.</exception>
    public void Convert(Tensor source, Tensor destination)
    {
        CheckActivation(source, nameof(source));
        CheckActivation(destination, nameof(destination));
        RequireLength(destination, nameof(destination), source.Length, ShapeChecks.LikeShape(source, nameof(source)));
        if (source.ElementType == destination.ElementType)
            CopyCore(source, destination);
        else
            ConvertCore(source, destination);
    }

    /// <summary>See <see cref="Convert"/> (only called with two different element types). The default goes through host memory
    /// (download, then upload); the reference and SIMD backends override it with a direct conversion.</summary>
    /// <param name="source">Source.</param><param name="destination">Destination of another element type.</param>
    protected virtual void ConvertCore(Tensor source, Tensor destination)
    {
        // Only reached by a backend that supports a 16-bit type but does not override this hook (none today).
        float[] values = new float[source.Length];
        source.CopyTo(values);
        destination.CopyFrom(values);
    }
}
