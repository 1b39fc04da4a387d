// The largest shapes the backends can hold, checked when a configuration is resolved: before any table or tensor is
// allocated, in 64-bit arithmetic, so a too-large shape fails in microseconds with a message naming d, b, m and the limit.

namespace Boft;

/// <summary>Size limits of resolved shapes.</summary>
public static class ShapeLimits
{
    /// <summary>
    /// The most elements one tensor or table may have: <see cref="Array.MaxLength"/> (2,147,483,591). The SIMD backend keeps
    /// tensors in .NET arrays and the ILGPU kernels index them with 32-bit integers, so neither can hold more.
    /// </summary>
    public const long MaxElementCount = 0x7FFFFFC7;

    /// <summary>Throws when <paramref name="count"/> (computed in 64-bit arithmetic) exceeds <see cref="MaxElementCount"/>.</summary>
    /// <param name="count">The element count.</param>
    /// <param name="what">What is counted, with its formula and the configuration (for the message).</param>
    /// <param name="parameterName">The configuration property to blame.</param>
    /// <exception cref="ArgumentException">The count is too large.</exception>
    internal static void Check(long count, string what, string parameterName)
    {
        if (count > MaxElementCount)
            throw new ArgumentException(
                $"{what} = {count:N0} elements, more than one tensor can hold on any backend (limit {MaxElementCount:N0} elements); " +
                "use a smaller block size or fewer butterfly factors, or adapt a smaller layer.", parameterName);
    }
}
