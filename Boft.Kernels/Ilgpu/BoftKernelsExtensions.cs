// accelerator.CreateBoftKernels(): the ILGPU-style way (cf. accelerator.CreateReduction) to load Boft's kernels on an accelerator.

using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>Extension methods on ILGPU accelerators.</summary>
public static class BoftKernelsExtensions
{
    /// <summary>Loads Boft's kernels on <paramref name="accelerator"/> (same as <c>new BoftKernels(accelerator, options)</c>).</summary>
    /// <param name="accelerator">The caller's accelerator; it stays owned by the caller.</param>
    /// <param name="options">Launch settings, or null for the defaults.</param>
    /// <returns>The kernels; dispose them before the accelerator.</returns>
    public static BoftKernels CreateBoftKernels(this Accelerator accelerator, BoftKernelOptions? options = null) => new(accelerator, options);
}
