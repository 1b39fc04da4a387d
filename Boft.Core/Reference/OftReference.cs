// The whole OFT (PEFT ≥ 0.16 "OFTv2") adapter on a frozen linear layer, double precision (docs/02_Ops/oft-layer.md).
//   Q = U − Uᵀ from the packed weight;  C = exact Cayley or Cayley–Neumann;  block_share repeats block 0 r times;
//   u = x · blockdiag(C);  y = u W0ᵀ + bias (no scale);  merge W' = W0 Rᵀ;  unmerge W0 = W' R⁻ᵀ (true inverse, PEFT ≥ 0.18).
// COFT is not applied here: callers project the weight first (CoftReference.Project), as PEFT does before each forward.

namespace Boft.Reference;

/// <summary>Reference OFT adapter: blocks, dense R, layer forward and backward, merge and unmerge (PEFT <c>oft.layer.Linear</c>).</summary>
public static class OftReference
{
    /// <summary>The r blocks (block 0 repeated when shared).</summary>
    /// <param name="shape">The OFT shape.</param>
    /// <param name="weight">Packed parameters. Shape: [parameterBlockCount, blockSize·(blockSize−1)/2].</param>
    /// <param name="blocks">Output. Shape: [blockCount, blockSize, blockSize].</param>
    public static void Blocks(OftShape shape, ReadOnlySpan<double> weight, Span<double> blocks)
    {
        ArgumentNullException.ThrowIfNull(shape);
        Check.SameLength(weight.Length, shape.StoredParameterCount, nameof(weight), shape.ToString());
        CayleyBatchReference.Forward(shape.Cayley, weight, [], blocks);
    }

    /// <summary>The dense rotation R = blockdiag(C).</summary>
    /// <param name="shape">The OFT shape.</param>
    /// <param name="weight">Packed parameters.</param>
    /// <param name="rotation">Output. Shape: [featureCount, featureCount].</param>
    public static void Rotation(OftShape shape, ReadOnlySpan<double> weight, Span<double> rotation)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var blocks = new double[shape.BlockCount * shape.BlockSize * shape.BlockSize];
        Blocks(shape, weight, blocks);
        RotationReference.Dense(shape.Rotation, blocks, rotation);
    }

    /// <summary>Layer forward <c>y = (x R) W0ᵀ + bias</c>.</summary>
    /// <param name="shape">The OFT shape.</param>
    /// <param name="input">x. Shape: [rowCount, featureCount].</param>
    /// <param name="baseWeight">W0. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="bias">Shape: [outFeatureCount], or empty.</param>
    /// <param name="weight">Packed parameters.</param>
    /// <param name="output">y. Shape: [rowCount, outFeatureCount].</param>
    public static void Forward(OftShape shape, ReadOnlySpan<double> input, ReadOnlySpan<double> baseWeight, ReadOnlySpan<double> bias,
        ReadOnlySpan<double> weight, Span<double> output)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int d = shape.FeatureCount;
        int n = Check.Rows(baseWeight.Length, d, nameof(baseWeight));
        var blocks = new double[shape.BlockCount * shape.BlockSize * shape.BlockSize];
        Blocks(shape, weight, blocks);
        var u = new double[input.Length];
        RotationReference.Forward(shape.Rotation, input, blocks, transpose: false, u);
        LinearReference.Forward(u, baseWeight, d, output);
        LinearReference.ScaleBias(output, [], bias, n, output);
    }

    /// <summary>Closed-form backward of <see cref="Forward"/> (boft-spec §5); shared blocks sum their copies' gradients.</summary>
    /// <param name="shape">The OFT shape.</param>
    /// <param name="input">x. Shape: [rowCount, featureCount].</param>
    /// <param name="baseWeight">W0. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="weight">Packed parameters.</param>
    /// <param name="gradOutput">∂L/∂y. Shape: [rowCount, outFeatureCount].</param>
    /// <param name="gradWeight">Output ∂L/∂weight. Same shape as <paramref name="weight"/>.</param>
    /// <param name="gradInput">Output ∂L/∂x, or empty.</param>
    /// <param name="gradBias">Output Σ_rows G, or empty.</param>
    public static void Backward(OftShape shape, ReadOnlySpan<double> input, ReadOnlySpan<double> baseWeight, ReadOnlySpan<double> weight,
        ReadOnlySpan<double> gradOutput, Span<double> gradWeight, Span<double> gradInput, Span<double> gradBias)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int d = shape.FeatureCount, b = shape.BlockSize, bb = b * b;
        int n = Check.Rows(baseWeight.Length, d, nameof(baseWeight));
        int rows = Check.Rows(input.Length, d, nameof(input));
        Check.SameLength(gradOutput.Length, rows * n, nameof(gradOutput), "rowCount·outFeatureCount");
        Check.SameLength(gradWeight.Length, weight.Length, nameof(gradWeight), nameof(weight));
        var blocks = new double[shape.BlockCount * bb];
        Blocks(shape, weight, blocks);
        LinearReference.ScaleBiasBackward(gradOutput, [], gradOutput, n, [], [], gradBias);
        var gradU = new double[input.Length];
        LinearReference.BackwardInput(gradOutput, baseWeight, d, gradU);
        var gradX = new double[input.Length];
        var gradBlocks = new double[blocks.Length];
        RotationReference.Backward(shape.Rotation, input, blocks, gradU, gradX, gradBlocks);
        if (!gradInput.IsEmpty)
            gradX.CopyTo(gradInput);
        CayleyBatchReference.Backward(shape.Cayley, weight, gradBlocks, [], gradWeight);
    }

    /// <summary>Merged weight <c>W' = W0 Rᵀ</c>.</summary>
    /// <param name="shape">The OFT shape.</param>
    /// <param name="baseWeight">W0. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="weight">Packed parameters.</param>
    /// <param name="merged">Output. Same shape as <paramref name="baseWeight"/>.</param>
    public static void Merge(OftShape shape, ReadOnlySpan<double> baseWeight, ReadOnlySpan<double> weight, Span<double> merged)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var blocks = new double[shape.BlockCount * shape.BlockSize * shape.BlockSize];
        Blocks(shape, weight, blocks);
        RotationReference.Forward(shape.Rotation, baseWeight, blocks, transpose: true, merged);
    }

    /// <summary>PEFT ≥ 0.18 unmerge <c>W0 = W' R⁻ᵀ</c> with the true block inverses (the Neumann R is not orthogonal).</summary>
    /// <param name="shape">The OFT shape.</param>
    /// <param name="merged">W'. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="weight">Packed parameters.</param>
    /// <param name="baseWeight">Output W0. Same shape as <paramref name="merged"/>.</param>
    /// <exception cref="ArithmeticException">A block is singular (possible for a divergent Neumann series).</exception>
    public static void Unmerge(OftShape shape, ReadOnlySpan<double> merged, ReadOnlySpan<double> weight, Span<double> baseWeight)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int b = shape.BlockSize, bb = b * b;
        var blocks = new double[shape.BlockCount * bb];
        Blocks(shape, weight, blocks);
        var inverse = new double[blocks.Length];
        for (int j = 0; j < shape.BlockCount; j++)
            MatrixReference.Invert(blocks.AsSpan(j * bb, bb), b, inverse.AsSpan(j * bb, bb));
        RotationReference.Forward(shape.Rotation, merged, inverse, transpose: true, baseWeight);
    }
}
