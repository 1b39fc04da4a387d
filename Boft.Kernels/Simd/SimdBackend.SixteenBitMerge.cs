// Merge of a 16-bit base weight on the SIMD backend (docs/09_Mixed-precision.md): W' = diag(s) · W0 · Rᵀ with W0 and W' in
// the base weight's type, computed in float32. Rows of W0 are widened (exactly) chunk by chunk into a float32 staging buffer
// (SimdBackend.SixteenBitTraining.cs), merged there by the unchanged float32 kernel (Merge.cs: the fused transposed rotation with
// the per-row scale applied as the tile is written), and each merged element is rounded once (RNE) as it is stored. The per-row
// scale of a chunk is staged beside it. Output may alias weight: every chunk is read before it is written.

using Boft.Backends;

namespace Boft.Kernels.Simd;

public sealed partial class SimdBackend
{
    private void MergeSixteenBit(RotationShape shape, SimdTensor weight, SimdTensor blocks, SimdTensor? scale, SimdTensor output, int outFeatureCount)
    {
        int d = shape.FeatureCount;
        int chunk = StagingRows(d);
        using SimdTensor? chunkScale = scale is null ? null : new SimdTensor(this, [Math.Min(chunk, outFeatureCount)]);
        StageChunks(2, outFeatureCount, d, (s, row0, rows) =>
        {
            StageIn(weight, row0, rows, d, s[0]);
            if (scale is not null)
                scale.Span.Slice(row0, rows).CopyTo(chunkScale!.Span);
            MergeCore(shape, s[0], blocks, chunkScale, s[1], rows);
            StageOut(s[1], output, row0, rows, d);
        });
    }
}
