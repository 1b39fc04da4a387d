namespace Boft.Kernels.Ilgpu;

/// <summary>Thrown when a buffer, view or stream of one ILGPU accelerator is passed to kernels loaded on another.</summary>
public sealed class AcceleratorMismatchException : InvalidOperationException
{
    /// <summary>Creates the exception with a default message.</summary>
    public AcceleratorMismatchException()
        : base("A view or stream belongs to another accelerator.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public AcceleratorMismatchException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public AcceleratorMismatchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
