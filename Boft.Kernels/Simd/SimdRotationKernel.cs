namespace Boft.Kernels.Simd;

/// <summary>Which kernel the SIMD backend's forward rotation (Rotate, Merge), and the backward of OFT b = 2 or 4 and of b a
/// multiple of two vectors, use; a diagnostic for side-by-side benchmarks.</summary>
public enum SimdRotationKernel
{
    /// <summary>The row-layout kernels where they apply (m = 1 with b = 2 or 4, forward and backward; b a multiple of the
    /// vector's lanes, forward; b a multiple of two vectors, backward), else the tiled kernel.</summary>
    Auto,

    /// <summary>Always the tiled kernel (rows transposed into lanes and back).</summary>
    Tiled,
}
