namespace Boft.Backends;

/// <summary>Thrown when a tensor that belongs to one backend (accelerator) is passed to another.</summary>
public sealed class BackendMismatchException : InvalidOperationException
{
    /// <summary>Creates the exception with a default message.</summary>
    public BackendMismatchException()
        : base("A tensor was passed to a backend that does not own it.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public BackendMismatchException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public BackendMismatchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
