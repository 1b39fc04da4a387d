// The backend contract, Merge: Merging the adapter into a weight, W' = diag(s) W Rᵀ (docs/02_Ops/boft-layer.md).
// Each public method validates its arguments (ShapeChecks) and calls its protected *Core hook, declared right below it.

namespace Boft.Backends;

public abstract partial class BoftBackend
{
    /// <summary>
    /// Merges the adapter into a weight: <c>output = diag(scale) · weight · Rᵀ</c>, by applying the factors to the rows of
    /// <paramref name="weight"/> (never forming R). <paramref name="output"/> may be the same tensor as <paramref name="weight"/>.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="weight">Base weight. Shape: [outFeatureCount, featureCount]. Float32 or a 16-bit type: the merge computes
    /// in float32 (double on the reference) and rounds each merged element once to the weight's type.</param>
    /// <param name="blocks">Blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="scale">Optional per-output scale. Shape: [outFeatureCount] or [outFeatureCount, 1].</param>
    /// <param name="output">Merged weight. Shape and element type: those of <paramref name="weight"/>.</param>
    /// <exception cref="ArgumentException">A shape or element type does not match (blocks and scale must be float32).</exception>
    public void Merge(RotationShape shape, Tensor weight, Tensor blocks, Tensor? scale, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int outFeatures = RequireRows(weight, nameof(weight), shape.FeatureCount, ShapeChecks.RotationRowsReason(shape), activation: true);
        RequireSixteenBitPath(SixteenBitOperation.Merge, weight, nameof(weight));
        CheckBlocks(shape, blocks, nameof(blocks));
        if (scale is not null)
        {
            Check(scale, nameof(scale));
            RequireLength(scale, nameof(scale), outFeatures, ShapeChecks.PerRowShape(outFeatures, weight));
        }
        CheckActivation(output, nameof(output), weight, nameof(weight));
        RequireSameShape(output, nameof(output), weight, nameof(weight));
        MergeCore(shape, weight, blocks, scale, output, outFeatures);
    }

    /// <summary>See <see cref="Merge"/>.</summary>
    /// <param name="shape">Shape.</param><param name="weight">Weight.</param><param name="blocks">Blocks.</param>
    /// <param name="scale">Scale.</param><param name="output">Output.</param><param name="outFeatureCount">Rows of weight.</param>
    protected abstract void MergeCore(RotationShape shape, Tensor weight, Tensor blocks, Tensor? scale, Tensor output, int outFeatureCount);
}
