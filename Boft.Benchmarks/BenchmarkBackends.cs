// Which backend a benchmark runs on. The SIMD backend is the default on a machine without a GPU; the lead's shared
// selection class will replace this factory once the ILGPU/CUDA backends land (docs/04_Benchmarking.md).

using Boft.Backends;
using Boft.Kernels.Simd;

namespace Boft.Benchmarks;

/// <summary>Creates a backend by name; an explicit choice is honoured or refused, never silently replaced.</summary>
internal static class BenchmarkBackends
{
    public const string Default = "simd";

    public static readonly string[] Names = ["simd", "simd512", "simd256", "simd128"];

    /// <summary>Creates the named backend with <paramref name="threads"/> threads (-1: all cores).</summary>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    /// <exception cref="PlatformNotSupportedException">The machine cannot run it.</exception>
    public static BoftBackend Create(string name, int threads = -1) => name.ToLowerInvariant() switch
    {
        "simd" => new SimdBackend(SimdBackend.BestWidth, threads),
        "simd512" => new SimdBackend(SimdWidth.Vector512, threads),
        "simd256" => new SimdBackend(SimdWidth.Vector256, threads),
        "simd128" => new SimdBackend(SimdWidth.Vector128, threads),
        _ => throw new ArgumentException($"Unknown backend '{name}'. Choose one of: {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>A short description for table headers, e.g. <c>Simd(Vector512, threads 2)</c>.</summary>
    public static string Describe(BoftBackend backend) => backend.ToString() ?? backend.Name;
}
