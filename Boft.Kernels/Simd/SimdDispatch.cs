// Width dispatch of the SIMD backend, chosen once at creation: a kernel call is a small readonly struct with one generic
// Run<TS, TV>() (written once, next to its *Core hook in SimdBackend.cs), and SimdDispatch<TS, TV> is the one generic
// instantiation per vector width that runs it. So adding an op touches one place in the backend: its hook and its call.
// The dispatch is a generic virtual call with a struct type argument (no allocation, no boxing; a cached lookup of a few
// tens of nanoseconds, small against the microseconds of the smallest op).

using System.Runtime.Intrinsics;

namespace Boft.Kernels.Simd;

/// <summary>A kernel call written once for every vector width.</summary>
internal interface ISimdCall
{
    /// <summary>Runs the call's kernels compiled for the vector width <typeparamref name="TS"/>.</summary>
    void Run<TS, TV>()
        where TS : struct, ISimd<TV>
        where TV : struct;
}

/// <summary>Runs <see cref="ISimdCall"/>s at one vector width.</summary>
internal abstract class SimdDispatch
{
    private protected SimdDispatch(SimdWidth width) => Width = width;

    /// <summary>The width this dispatch compiles calls for.</summary>
    public SimdWidth Width { get; }

    /// <summary>Runs <paramref name="call"/> at <see cref="Width"/>.</summary>
    public abstract void Run<TCall>(in TCall call)
        where TCall : struct, ISimdCall;

    /// <summary>The dispatch of <paramref name="width"/>.</summary>
    public static SimdDispatch For(SimdWidth width) => width switch
    {
        SimdWidth.Vector512 => new SimdDispatch<Simd512, Vector512<float>>(width),
        SimdWidth.Vector256 => new SimdDispatch<Simd256, Vector256<float>>(width),
        SimdWidth.Vector128 => new SimdDispatch<Simd128, Vector128<float>>(width),
        _ => throw new ArgumentOutOfRangeException(nameof(width), width, "Unknown vector width."),
    };
}

/// <summary>The dispatch of one width.</summary>
internal sealed class SimdDispatch<TS, TV>(SimdWidth width) : SimdDispatch(width)
    where TS : struct, ISimd<TV>
    where TV : struct
{
    /// <inheritdoc />
    public override void Run<TCall>(in TCall call) => call.Run<TS, TV>();
}
