// Merge: W' = diag(s) · W0 · Rᵀ, by applying the factors to the rows of W0 (row o of W' is s_o · (W0[o, :] · Rᵀ)); R is never
// formed. The device code is the fused rotation kernel (RotationKernels.ApplyTiles) run in the transposed direction with its
// per-row scale enabled, so a merge costs one rotation pass over n rows of d plus nothing else. Merging is an inference-time
// operation; it has no backward. Output may alias the weight (each group reads its tile before writing it).
// A 16-bit W0 (bfloat16/float16 bits) runs the same kernel instantiated for its codec (ElementCodecs.cs): each element is widened
// as its tile loads, rotated and scaled in float32, and rounded once (RNE) into the weight's type as it is stored.
// Docs: docs/03_Kernels/merge.md

using System.Globalization;
using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>Launcher of the merge op.</summary>
public sealed partial class BoftKernels
{
    /// <summary>
    /// Merges the adapter into a weight: <c>output = diag(scale) · weight · Rᵀ</c>, by rotating the rows of <paramref name="weight"/>.
    /// <paramref name="output"/> may be the same view as <paramref name="weight"/>.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="weight">Base weight W0. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="blocks">Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="scale">Optional per-output scale (<c>default</c> = none). Shape: [outFeatureCount].</param>
    /// <param name="output">Merged weight. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch (<see cref="RotateWorkspaceLength"/> with outFeatureCount rows), or null for the internal one.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view, the stream or the workspace belongs to another accelerator.</exception>
    /// <exception cref="ObjectDisposedException">These kernels, the accelerator or a buffer are disposed.</exception>
    public void Merge(RotationShape shape, ArrayView<float> weight, ArrayView<float> blocks, ArrayView<float> scale, ArrayView<float> output,
        AcceleratorStream? stream = null, BoftWorkspace? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        MergeCore(rotationFloat32, shape, weight, blocks, scale, output, StreamOf(stream), workspace);
    }

    /// <summary>
    /// Merges the adapter into a 16-bit weight of <paramref name="elementType"/>: <c>output = diag(scale) · weight · Rᵀ</c>, computed in
    /// float32 (blocks and scale are float32) and rounded once into the weight's type. <paramref name="output"/> may be the same view as
    /// <paramref name="weight"/>.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="weight">Base weight W0, 16-bit bits. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="blocks">Float32. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="scale">Optional float32 per-output scale (<c>default</c> = none). Shape: [outFeatureCount].</param>
    /// <param name="output">Merged weight, 16-bit bits. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch (<see cref="RotateWorkspaceLength"/> with outFeatureCount rows), or null for the internal one.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view, the stream or the workspace belongs to another accelerator.</exception>
    /// <exception cref="ObjectDisposedException">These kernels, the accelerator or a buffer are disposed.</exception>
    public void Merge(RotationShape shape, ArrayView<ushort> weight, ElementType elementType, ArrayView<float> blocks, ArrayView<float> scale, ArrayView<ushort> output,
        AcceleratorStream? stream = null, BoftWorkspace? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        MergeCore(RotationSixteenBit(elementType), shape, weight, blocks, scale, output, s, workspace);
    }

    /// <summary>The checks and the launch of both Merge overloads (the weight's storage type is <typeparamref name="TStore"/>).</summary>
    private void MergeCore<TStore>(RotationSet<TStore> kernels, RotationShape shape, ArrayView<TStore> weight, ArrayView<float> blocks, ArrayView<float> scale,
        ArrayView<TStore> output, AcceleratorStream stream, BoftWorkspace? workspace)
        where TStore : unmanaged
    {
        int outFeatures = RequireRows(weight, nameof(weight), shape.FeatureCount, ShapeChecks.RotationRowsReason(shape));
        RequireLength(blocks, nameof(blocks), shape.BlocksLength, ShapeChecks.RotationBlocksShape(shape));
        bool hasScale = Optional(scale, nameof(scale));
        if (hasScale)
            RequireLength(scale, nameof(scale), outFeatures, ShapeChecks.PerRowShape(outFeatures, shape.FeatureCount));
        RequireSameRows(output, nameof(output), weight, nameof(weight), shape.FeatureCount);
        LaunchRotation(kernels, shape, weight, blocks, transpose: true, hasScale ? scale : None, hasScale, output, outFeatures, stream, workspace);
    }
}
