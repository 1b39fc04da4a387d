namespace Boft.Layers;

/// <summary>Thrown when a layer is used for training from two threads at once (docs/08_Guarantees.md, "Thread safety").</summary>
public sealed class ConcurrentLayerUseException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">Which call collided and what to do instead.</param>
    public ConcurrentLayerUseException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ConcurrentLayerUseException()
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ConcurrentLayerUseException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
