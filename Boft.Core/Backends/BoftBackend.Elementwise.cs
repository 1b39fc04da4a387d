// The backend contract, Elementwise: Element-wise ops: ReLU and its backward, fill, scale, copy.
// Each public method validates its arguments (ShapeChecks) and calls its protected *Core hook, declared right below it.

namespace Boft.Backends;

public abstract partial class BoftBackend
{
    /// <summary><c>output = max(input, 0)</c> element-wise; <paramref name="output"/> may alias <paramref name="input"/>.</summary>
    /// <param name="input">Any shape.</param>
    /// <param name="output">Same shape.</param>
    public void Relu(Tensor input, Tensor output)
    {
        CheckActivation(input, nameof(input));
        RequireSixteenBitPath(SixteenBitOperation.Relu, input, nameof(input));
        CheckActivation(output, nameof(output), input, nameof(input));
        RequireSameShape(output, nameof(output), input, nameof(input));
        ReluCore(input, output);
    }

    /// <summary>See <see cref="Relu"/>.</summary>
    /// <param name="input">Input.</param><param name="output">Output.</param>
    protected abstract void ReluCore(Tensor input, Tensor output);

    /// <summary><c>gradInput = gradOutput ⊙ [input &gt; 0]</c> (overwritten); may alias <paramref name="gradOutput"/>.</summary>
    /// <param name="input">The forward's input (or output: the sign is the same).</param>
    /// <param name="gradOutput">Same shape.</param>
    /// <param name="gradInput">Same shape.</param>
    public void ReluBackward(Tensor input, Tensor gradOutput, Tensor gradInput)
    {
        CheckActivation(input, nameof(input));
        RequireSixteenBitPath(SixteenBitOperation.Relu, input, nameof(input));
        CheckActivation(gradOutput, nameof(gradOutput), input, nameof(input));
        RequireSameShape(gradOutput, nameof(gradOutput), input, nameof(input));
        CheckActivation(gradInput, nameof(gradInput), input, nameof(input));
        RequireSameShape(gradInput, nameof(gradInput), input, nameof(input));
        ReluBackwardCore(input, gradOutput, gradInput);
    }

    /// <summary>See <see cref="ReluBackward"/>.</summary>
    /// <param name="input">Input.</param><param name="gradOutput">Gradient of output.</param><param name="gradInput">Gradient of input.</param>
    protected abstract void ReluBackwardCore(Tensor input, Tensor gradOutput, Tensor gradInput);

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    /// <param name="tensor">Any tensor of this backend.</param>
    /// <param name="value">The value.</param>
    public void Fill(Tensor tensor, float value)
    {
        CheckActivation(tensor, nameof(tensor));
        FillCore(tensor, value);
    }

    /// <summary>See <see cref="Fill"/>.</summary>
    /// <param name="tensor">Tensor.</param><param name="value">Value.</param>
    protected abstract void FillCore(Tensor tensor, float value);

    /// <summary>Multiplies every element by <paramref name="factor"/> in place.</summary>
    /// <param name="tensor">Any tensor of this backend.</param>
    /// <param name="factor">The factor.</param>
    public void Scale(Tensor tensor, float factor)
    {
        Check(tensor, nameof(tensor));
        ScaleCore(tensor, factor);
    }

    /// <summary>See <see cref="Scale"/>.</summary>
    /// <param name="tensor">Tensor.</param><param name="factor">Factor.</param>
    protected abstract void ScaleCore(Tensor tensor, float factor);

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/> (same length).</summary>
    /// <param name="source">The source.</param>
    /// <param name="destination">The destination.</param>
    public void Copy(Tensor source, Tensor destination)
    {
        CheckActivation(source, nameof(source));
        CheckActivation(destination, nameof(destination), source, nameof(source));
        RequireLength(destination, nameof(destination), source.Length, ShapeChecks.LikeShape(source, nameof(source)));
        CopyCore(source, destination);
    }

    /// <summary>See <see cref="Copy"/>.</summary>
    /// <param name="source">Source.</param><param name="destination">Destination.</param>
    protected abstract void CopyCore(Tensor source, Tensor destination);
}
