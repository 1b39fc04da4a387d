// Merging the adapter into the frozen weight on the CPU: W' = diag(s) · W0 · Rᵀ. docs/02_Ops/simd-backend.md.
// Shapes: weight and output [n, d] (output may alias weight); blocks [m, k, b, b]; scale [n] or [n, 1] (optional).
// The rows of W0 are rotated by Rᵀ with the fused tiled rotation kernel (Rotation.cs, transposed variant) and each output
// row is scaled while its tile is written back; R is never formed. There is no backward (merging is not trained through).

namespace Boft.Kernels.Simd;

/// <summary>The merge kernel.</summary>
internal static class Merge
{
    public static void Forward<TS, TV>(RotationPlan plan, SimdTensor weight, SimdTensor blocks, SimdTensor? scale, SimdTensor output, int outFeatureCount, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct =>
        Rotation.Forward<TS, TV>(plan, weight, blocks, transpose: true, scale, output, outFeatureCount, maxDegreeOfParallelism);
}
