namespace Boft.Kernels.Simd;

/// <summary>Which kernel the SIMD backend's forward rotation (Rotate, Merge) uses; a diagnostic for side-by-side benchmarks.</summary>
public enum SimdRotationKernel
{
    /// <summary>The row-layout kernels where they apply (m = 1 with b = 2 or 4, or b a multiple of the vector's lanes), else the tiled kernel.</summary>
    Auto,

    /// <summary>Always the tiled kernel (rows transposed into lanes and back).</summary>
    Tiled,
}
