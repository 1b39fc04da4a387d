// Non-finite guards (docs/08_Guarantees.md, "Non-finite policy"): the exception they throw, the optimizer's policy for
// gradients that hold NaN or ±Inf, and the opt-in anomaly mode that names the first op whose output became non-finite.

using Boft.Backends;

namespace Boft.Training;

/// <summary>Thrown when a NaN or infinity reaches a parameter, a gradient or (with <see cref="AnomalyDetection"/>) an op's output.</summary>
public sealed class NonFiniteValueException : ArithmeticException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What held the value and what to do.</param>
    public NonFiniteValueException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public NonFiniteValueException()
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public NonFiniteValueException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>What <see cref="Optimizer.Step(double?)"/> does when a gradient holds NaN or ±Inf (no parameter is changed either way).</summary>
public enum NonFiniteGradientPolicy
{
    /// <summary>Throw a <see cref="NonFiniteValueException"/> naming the parameter (default).</summary>
    Throw,

    /// <summary>Skip the step (parameters and optimizer state unchanged) and count it in <see cref="Optimizer.SkippedStepCount"/>.</summary>
    SkipStep,
}

/// <summary>
/// Opt-in anomaly mode: while enabled (on the current thread and the tasks it starts), the adapter layers check the output of
/// every op and throw a <see cref="NonFiniteValueException"/> naming the first op whose output holds NaN or ±Inf. Each check
/// reads the tensor once (a sum of squares), so it costs about one extra pass over every activation; use it to debug.
/// </summary>
public static class AnomalyDetection
{
    private static readonly AsyncLocal<int> Depth = new();

    /// <summary>Whether anomaly mode is on for the current thread or task.</summary>
    public static bool IsEnabled => Depth.Value > 0;

    /// <summary>Turns anomaly mode on until the returned scope is disposed.</summary>
    /// <returns>The scope.</returns>
    public static IDisposable Enable()
    {
        Depth.Value++;
        return new Scope();
    }

    /// <summary>Throws when <paramref name="tensor"/> holds a NaN or infinity.</summary>
    /// <param name="tensor">The op's output.</param>
    /// <param name="where">The layer and call.</param>
    /// <param name="op">The op and the output's meaning.</param>
    /// <exception cref="NonFiniteValueException">The tensor is not finite.</exception>
    internal static void Check(Tensor tensor, string where, string op)
    {
        if (!IsFinite(tensor))
            throw new NonFiniteValueException($"Anomaly detection: in {where}, {op} holds NaN or infinite values {tensor.ShapeString}; this is the first op whose output is not finite.");
    }

    /// <summary>Whether every value of <paramref name="tensor"/> is finite: the double sum of squares of finite floats is finite.</summary>
    internal static bool IsFinite(Tensor tensor) => double.IsFinite(tensor.Backend.SumOfSquares(tensor));

    private sealed class Scope : IDisposable
    {
        private bool disposed;

        public void Dispose()
        {
            if (disposed)
                return;
            disposed = true;
            Depth.Value--;
        }
    }
}
