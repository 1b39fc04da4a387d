// Which op families a backend runs over 16-bit tensors (docs/09_Mixed-precision.md). Storage (Allocate, Upload, CopyTo,
// Fill, Copy, Convert, SumOfSquares) comes with BoftBackend.Supports(type); each family below is a path of its own, and a
// backend without one refuses a 16-bit tensor there before any work, naming the argument, its type, the backend and the op.

namespace Boft.Backends;

/// <summary>An op family that may have a 16-bit path on a backend (<see cref="BoftBackend.HasSixteenBitPath"/>).</summary>
public enum SixteenBitOperation
{
    /// <summary><see cref="BoftBackend.Rotate"/> and <see cref="BoftBackend.RotateBackward"/>.</summary>
    Rotation,

    /// <summary><see cref="BoftBackend.Linear"/> and <see cref="BoftBackend.LinearBackwardInput"/> (16-bit W0).</summary>
    Linear,

    /// <summary><see cref="BoftBackend.LinearBackwardWeight"/> from 16-bit rows into a float32 gradient.</summary>
    LinearBackwardWeight,

    /// <summary><see cref="BoftBackend.ScaleBias"/> and its backward with a bias in the activation type (or none).</summary>
    ScaleBias,

    /// <summary><see cref="BoftBackend.ScaleBias"/> of 16-bit rows with a float32 (trainable, master) bias.</summary>
    ScaleBiasWithFloat32Bias,

    /// <summary><see cref="BoftBackend.Relu"/> and <see cref="BoftBackend.ReluBackward"/>.</summary>
    Relu,

    /// <summary><see cref="BoftBackend.Merge"/> of a 16-bit base weight.</summary>
    Merge,

    /// <summary>The Conv2d family over 16-bit images.</summary>
    Conv2d,
}
