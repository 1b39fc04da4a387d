// Which backend a benchmark runs on: the names of Boft.Kernels.BoftBackends ("default" = CUDA when present, else SIMD).
// An explicit choice is honoured or refused, never silently replaced.

using Boft.Backends;
using Boft.Kernels;

namespace Boft.Benchmarks;

/// <summary>Creates benchmark backends through <see cref="BoftBackends"/>.</summary>
internal static class BenchmarkBackends
{
    public const string Default = "default";

    public static IReadOnlyList<string> Names => BoftBackends.Names;

    /// <summary>Creates the named backend with <paramref name="threads"/> CPU threads (-1: all cores).</summary>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    /// <exception cref="NotSupportedException">CUDA was asked for without a device.</exception>
    /// <exception cref="PlatformNotSupportedException">The machine cannot run it.</exception>
    public static BoftBackend Create(string name, int threads = -1) => BoftBackends.Create(name, threads);

    /// <summary>The backends of the BDN suites: <c>simd</c>, plus <c>cuda</c> when a device is present.</summary>
    public static IEnumerable<string> Available()
    {
        yield return "simd";
        if (BoftBackends.IsCudaAvailable)
            yield return "cuda";
    }

    /// <summary>A short description for table headers, e.g. <c>Simd(Vector512, threads 2)</c>.</summary>
    public static string Describe(BoftBackend backend) => backend.ToString() ?? backend.Name;
}
