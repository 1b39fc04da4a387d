// Compile-time sizes for ILGPU kernels and small host helpers shared by every op.
// A kernel generic over IKernelSize reads its size as default(TSize).Of(runtimeValue): the fixed structs return a
// constant, which ILGPU folds (divisions and remainders by b become shifts; loops over b get constant trip counts), and
// AnySize returns the runtime value (one compiled kernel for every other size). This replaces SpecializedValue<int>,
// whose specialization happens inside Accelerator.LoadKernel and so cannot be compiled to PTX without a GPU; a generic
// instantiation is an ordinary MethodInfo that PTXBackend compiles anywhere (see KernelCatalog).

using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("ILGPURuntime")] // ILGPU's generated launchers must see the internal kernels and parameter structs.

namespace Boft.Kernels.Ilgpu;

/// <summary>A size known at kernel compile time (fixed structs) or at launch (<see cref="AnySize"/>).</summary>
internal interface IKernelSize
{
    /// <summary>The size: a constant for the fixed structs, else <paramref name="runtimeValue"/>.</summary>
    int Of(int runtimeValue);
}

/// <summary>The size passed at launch.</summary>
internal readonly struct AnySize : IKernelSize
{
    public int Of(int runtimeValue) => runtimeValue;
}

/// <summary>Constant 1.</summary>
internal readonly struct Size1 : IKernelSize
{
    public int Of(int runtimeValue) => 1;
}

/// <summary>Constant 2.</summary>
internal readonly struct Size2 : IKernelSize
{
    public int Of(int runtimeValue) => 2;
}

/// <summary>Constant 4.</summary>
internal readonly struct Size4 : IKernelSize
{
    public int Of(int runtimeValue) => 4;
}

/// <summary>Constant 8.</summary>
internal readonly struct Size8 : IKernelSize
{
    public int Of(int runtimeValue) => 8;
}

/// <summary>Constant 16.</summary>
internal readonly struct Size16 : IKernelSize
{
    public int Of(int runtimeValue) => 16;
}

/// <summary>Constant 32.</summary>
internal readonly struct Size32 : IKernelSize
{
    public int Of(int runtimeValue) => 32;
}

/// <summary>Maps a runtime size to the <see cref="IKernelSize"/> struct a kernel is instantiated with.</summary>
internal static class KernelSizes
{
    /// <summary>Block sizes with their own compiled kernels; every other b in 1..32 uses <see cref="AnySize"/>.</summary>
    public static readonly int[] Specialized = [1, 2, 4, 8, 16, 32];

    /// <summary>The struct type for <paramref name="size"/>: a fixed struct when specialized, else <see cref="AnySize"/>.</summary>
    [return: DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)]
    public static Type For(int size) => size switch
    {
        1 => typeof(Size1),
        2 => typeof(Size2),
        4 => typeof(Size4),
        8 => typeof(Size8),
        16 => typeof(Size16),
        32 => typeof(Size32),
        _ => typeof(AnySize),
    };

    /// <summary>Every struct type a kernel generic over a block size is instantiated with.</summary>
    public static IEnumerable<Type> AllTypes()
    {
        foreach (int size in Specialized)
            yield return For(size);
        yield return typeof(AnySize);
    }

    /// <summary>The key under which a kernel for <paramref name="size"/> is cached (0 = <see cref="AnySize"/>).</summary>
    public static int CacheKey(int size) => For(size) == typeof(AnySize) ? 0 : size;
}

/// <summary>Host-side launch arithmetic.</summary>
internal static class LaunchMath
{
    /// <summary>⌈a / b⌉ for non-negative a and positive b.</summary>
    public static int CeilDiv(int a, int b) => (int)(((long)a + b - 1) / b);

    /// <summary>⌈a / b⌉ for non-negative a and positive b.</summary>
    public static long CeilDiv(long a, long b) => (a + b - 1) / b;

    /// <summary>The largest power of two ≤ <paramref name="value"/> (value ≥ 1).</summary>
    public static int FloorPowerOfTwo(int value)
    {
        int p = 1;
        while (p <= value / 2)
            p *= 2;
        return p;
    }
}
