// Backend selection: CUDA when a device is present, otherwise the managed SIMD backend. ILGPU's CPU simulator and the
// double-precision reference only when asked for. An explicit choice is honoured or refused with a clear exception; nothing
// falls back silently to another backend.

using Boft.Backends;
using Boft.Kernels.Ilgpu;
using Boft.Kernels.Simd;

namespace Boft.Kernels;

/// <summary>The backends Boft ships.</summary>
public enum BackendKind
{
    /// <summary>CUDA when a device is present, else <see cref="Simd"/>.</summary>
    Default,

    /// <summary>Managed SIMD on the CPU (Vector512/256/128, all cores): the default without a GPU.</summary>
    Simd,

    /// <summary>ILGPU kernels on an NVIDIA GPU.</summary>
    Cuda,

    /// <summary>ILGPU kernels on ILGPU's CPU accelerator, a slow simulator for tests and debugging (warp size 4).</summary>
    IlgpuCpuSimulator,

    /// <summary>The double-precision reference (single-threaded, slow): an oracle for debugging.</summary>
    Reference,
}

/// <summary>Creates backends by kind or name.</summary>
public static class BoftBackends
{
    /// <summary>The names <see cref="Create(string, int)"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["default", "simd", "simd512", "simd256", "simd128", "cuda", "ilgpu-cpu", "ilgpu-cpu4", "ilgpu-cpu32", "reference"];

    /// <summary>Whether ILGPU sees a CUDA device on this machine.</summary>
    public static bool IsCudaAvailable => IlgpuBackend.IsCudaAvailable;

    /// <summary>What <see cref="BackendKind.Default"/> resolves to here: <see cref="BackendKind.Cuda"/> or <see cref="BackendKind.Simd"/>.</summary>
    public static BackendKind DefaultKind => IsCudaAvailable ? BackendKind.Cuda : BackendKind.Simd;

    /// <summary>Creates the default backend: CUDA when a device is present, otherwise SIMD.</summary>
    /// <returns>A new backend; dispose it after its tensors.</returns>
    public static BoftBackend CreateDefault() => Create(BackendKind.Default);

    /// <summary>Creates a backend of the given kind.</summary>
    /// <param name="kind">The kind.</param>
    /// <param name="threads">CPU threads for <see cref="BackendKind.Simd"/> (−1: all cores); ignored otherwise.</param>
    /// <returns>A new backend.</returns>
    /// <exception cref="NotSupportedException"><see cref="BackendKind.Cuda"/> was asked for but no CUDA device is present.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Unknown kind.</exception>
    public static BoftBackend Create(BackendKind kind, int threads = -1) => kind switch
    {
        BackendKind.Default => Create(DefaultKind, threads),
        BackendKind.Simd => new SimdBackend(SimdBackend.BestWidth, threads),
        BackendKind.Cuda => IlgpuBackend.CreateCuda(),
        BackendKind.IlgpuCpuSimulator => IlgpuBackend.CreateCpuSimulator(4),
        BackendKind.Reference => new ReferenceBackend(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown backend kind."),
    };

    /// <summary>Creates a backend by name (case-insensitive): one of <see cref="Names"/>.</summary>
    /// <param name="name">e.g. <c>default</c>, <c>simd</c>, <c>simd256</c>, <c>cuda</c>, <c>ilgpu-cpu32</c>, <c>reference</c>.</param>
    /// <param name="threads">CPU threads for the SIMD backends (−1: all cores).</param>
    /// <returns>A new backend.</returns>
    /// <exception cref="ArgumentException">Unknown name (the message lists the known ones).</exception>
    /// <exception cref="NotSupportedException"><c>cuda</c> was asked for but no CUDA device is present.</exception>
    /// <exception cref="PlatformNotSupportedException">A SIMD width this CPU does not accelerate was asked for.</exception>
    public static BoftBackend Create(string name, int threads = -1)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Trim().ToLowerInvariant() switch
        {
            "default" => Create(BackendKind.Default, threads),
            "simd" => Create(BackendKind.Simd, threads),
            "simd512" => new SimdBackend(SimdWidth.Vector512, threads),
            "simd256" => new SimdBackend(SimdWidth.Vector256, threads),
            "simd128" => new SimdBackend(SimdWidth.Vector128, threads),
            "cuda" => Create(BackendKind.Cuda),
            "ilgpu-cpu" or "ilgpu-cpu4" => IlgpuBackend.CreateCpuSimulator(4),
            "ilgpu-cpu32" => IlgpuBackend.CreateCpuSimulator(32),
            "reference" => Create(BackendKind.Reference),
            _ => throw new ArgumentException($"Unknown backend '{name}'. Choose one of: {string.Join(", ", Names)}.", nameof(name)),
        };
    }
}
