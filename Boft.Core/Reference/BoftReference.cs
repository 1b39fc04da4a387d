// The whole BOFT adapter on a frozen linear layer, double precision (docs/02_Ops/boft-layer.md).
//   C[i, j] = cayley((A[i, j] − A[i, j]ᵀ)/2), masked blocks := I;  u = x R (input-centric);  h = u W0ᵀ;  y = h ⊙ s + bias
//   merge: W' = diag(s) W0 Rᵀ;  unmerge (PEFT): W0 = diag(1/s) W' R  (transpose as inverse)
// Backward overwrites every output (=). An empty bias or mask span means none.

namespace Boft.Reference;

/// <summary>Reference BOFT adapter: blocks, dense R, layer forward and backward, merge and unmerge (PEFT <c>boft.layer.Linear</c>).</summary>
public static class BoftReference
{
    /// <summary>Orthogonal blocks from the raw parameters, with masked blocks set to I.</summary>
    /// <param name="shape">The BOFT shape.</param>
    /// <param name="boftR">Raw blocks A. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="identityMask">Shape: [factorCount, blockCount], or empty.</param>
    /// <param name="blocks">Output C. Same shape as <paramref name="boftR"/>.</param>
    public static void Blocks(BoftShape shape, ReadOnlySpan<double> boftR, ReadOnlySpan<double> identityMask, Span<double> blocks)
    {
        ArgumentNullException.ThrowIfNull(shape);
        Check.SameLength(boftR.Length, shape.RawParameterCount, nameof(boftR), shape.ToString());
        CayleyBatchReference.Forward(shape.Cayley, boftR, identityMask, blocks);
    }

    /// <summary>The dense rotation R.</summary>
    /// <param name="shape">The BOFT shape.</param>
    /// <param name="boftR">Raw blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="identityMask">Shape: [factorCount, blockCount], or empty.</param>
    /// <param name="rotation">Output R. Shape: [featureCount, featureCount].</param>
    public static void Rotation(BoftShape shape, ReadOnlySpan<double> boftR, ReadOnlySpan<double> identityMask, Span<double> rotation)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var blocks = new double[shape.RawParameterCount];
        Blocks(shape, boftR, identityMask, blocks);
        RotationReference.Dense(shape.Rotation, blocks, rotation);
    }

    /// <summary>Layer forward <c>y = ((x R) W0ᵀ) ⊙ s + bias</c>.</summary>
    /// <param name="shape">The BOFT shape.</param>
    /// <param name="input">x. Shape: [rowCount, featureCount].</param>
    /// <param name="baseWeight">W0. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="bias">Shape: [outFeatureCount], or empty.</param>
    /// <param name="boftR">Raw blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="boftS">Scale s. Shape: [outFeatureCount].</param>
    /// <param name="identityMask">Shape: [factorCount, blockCount], or empty.</param>
    /// <param name="output">y. Shape: [rowCount, outFeatureCount].</param>
    public static void Forward(BoftShape shape, ReadOnlySpan<double> input, ReadOnlySpan<double> baseWeight, ReadOnlySpan<double> bias,
        ReadOnlySpan<double> boftR, ReadOnlySpan<double> boftS, ReadOnlySpan<double> identityMask, Span<double> output)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int d = shape.FeatureCount;
        int n = Check.Rows(baseWeight.Length, d, nameof(baseWeight));
        Check.SameLength(boftS.Length, n, nameof(boftS), "outFeatureCount");
        var blocks = new double[shape.RawParameterCount];
        Blocks(shape, boftR, identityMask, blocks);
        var u = new double[input.Length];
        RotationReference.Forward(shape.Rotation, input, blocks, transpose: false, u);
        LinearReference.Forward(u, baseWeight, d, output);
        LinearReference.ScaleBias(output, boftS, bias, n, output);
    }

    /// <summary>Closed-form backward of <see cref="Forward"/> for upstream gradient <paramref name="gradOutput"/> (boft-spec §5).</summary>
    /// <param name="shape">The BOFT shape.</param>
    /// <param name="input">x. Shape: [rowCount, featureCount].</param>
    /// <param name="baseWeight">W0. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="boftR">Raw blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="boftS">Shape: [outFeatureCount].</param>
    /// <param name="identityMask">Shape: [factorCount, blockCount], or empty.</param>
    /// <param name="gradOutput">∂L/∂y. Shape: [rowCount, outFeatureCount].</param>
    /// <param name="gradBoftR">Output ∂L/∂A (skew-symmetric per block). Same shape as <paramref name="boftR"/>.</param>
    /// <param name="gradBoftS">Output ∂L/∂s. Shape: [outFeatureCount].</param>
    /// <param name="gradInput">Output ∂L/∂x, or empty.</param>
    /// <param name="gradBias">Output ∂L/∂bias = Σ_rows G, or empty.</param>
    public static void Backward(BoftShape shape, ReadOnlySpan<double> input, ReadOnlySpan<double> baseWeight,
        ReadOnlySpan<double> boftR, ReadOnlySpan<double> boftS, ReadOnlySpan<double> identityMask, ReadOnlySpan<double> gradOutput,
        Span<double> gradBoftR, Span<double> gradBoftS, Span<double> gradInput, Span<double> gradBias)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int d = shape.FeatureCount, b = shape.BlockSize;
        int n = Check.Rows(baseWeight.Length, d, nameof(baseWeight));
        int rows = Check.Rows(input.Length, d, nameof(input));
        Check.SameLength(gradOutput.Length, rows * n, nameof(gradOutput), "rowCount·outFeatureCount");
        Check.SameLength(gradBoftR.Length, boftR.Length, nameof(gradBoftR), nameof(boftR));
        var blocks = new double[boftR.Length];
        Blocks(shape, boftR, identityMask, blocks);
        var u = new double[input.Length];
        RotationReference.Forward(shape.Rotation, input, blocks, transpose: false, u);
        var h = new double[rows * n];
        LinearReference.Forward(u, baseWeight, d, h);
        var gradH = new double[rows * n];
        LinearReference.ScaleBiasBackward(h, boftS, gradOutput, n, gradH, gradBoftS, gradBias);
        var gradU = new double[input.Length];
        LinearReference.BackwardInput(gradH, baseWeight, d, gradU);
        var gradX = new double[input.Length];
        var gradBlocks = new double[boftR.Length];
        RotationReference.Backward(shape.Rotation, input, blocks, gradU, gradX, gradBlocks);
        if (!gradInput.IsEmpty)
            gradX.CopyTo(gradInput);
        CayleyBatchReference.Backward(shape.Cayley, boftR, gradBlocks, identityMask, gradBoftR);
    }

    /// <summary>Merged weight <c>W' = diag(s) W0 Rᵀ</c>, by rotating the rows of W0 (R is never formed).</summary>
    /// <param name="shape">The BOFT shape.</param>
    /// <param name="baseWeight">W0. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="boftR">Raw blocks.</param>
    /// <param name="boftS">Shape: [outFeatureCount].</param>
    /// <param name="identityMask">Shape: [factorCount, blockCount], or empty.</param>
    /// <param name="merged">Output W'. Same shape as <paramref name="baseWeight"/>.</param>
    public static void Merge(BoftShape shape, ReadOnlySpan<double> baseWeight, ReadOnlySpan<double> boftR, ReadOnlySpan<double> boftS,
        ReadOnlySpan<double> identityMask, Span<double> merged)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int n = Check.Rows(baseWeight.Length, shape.FeatureCount, nameof(baseWeight));
        Check.SameLength(boftS.Length, n, nameof(boftS), "outFeatureCount");
        var blocks = new double[shape.RawParameterCount];
        Blocks(shape, boftR, identityMask, blocks);
        RotationReference.Forward(shape.Rotation, baseWeight, blocks, transpose: true, merged);
        ScaleRows(merged, shape.FeatureCount, boftS, invert: false);
    }

    /// <summary>PEFT's unmerge <c>W0 = diag(1/s) W' R</c> (the transpose serves as the inverse; exact for the exact Cayley map).</summary>
    /// <param name="shape">The BOFT shape.</param>
    /// <param name="merged">W'. Shape: [outFeatureCount, featureCount].</param>
    /// <param name="boftR">Raw blocks.</param>
    /// <param name="boftS">Shape: [outFeatureCount].</param>
    /// <param name="identityMask">The mask the merge used (shape [factorCount, blockCount]), or empty.</param>
    /// <param name="baseWeight">Output W0. Same shape as <paramref name="merged"/>.</param>
    public static void Unmerge(BoftShape shape, ReadOnlySpan<double> merged, ReadOnlySpan<double> boftR, ReadOnlySpan<double> boftS,
        ReadOnlySpan<double> identityMask, Span<double> baseWeight)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int n = Check.Rows(merged.Length, shape.FeatureCount, nameof(merged));
        Check.SameLength(boftS.Length, n, nameof(boftS), "outFeatureCount");
        var blocks = new double[shape.RawParameterCount];
        Blocks(shape, boftR, identityMask, blocks);
        RotationReference.Forward(shape.Rotation, merged, blocks, transpose: false, baseWeight);
        ScaleRows(baseWeight, shape.FeatureCount, boftS, invert: true);
    }

    /// <summary>Row o of <paramref name="matrix"/> times s[o] (or divided by it): the <c>diag(s)·W</c> of merge and unmerge.</summary>
    private static void ScaleRows(Span<double> matrix, int columnCount, ReadOnlySpan<double> scale, bool invert)
    {
        for (int o = 0; o < scale.Length; o++)
            foreach (ref double v in matrix.Slice(o * columnCount, columnCount))
                v = invert ? v / scale[o] : v * scale[o];
    }
}
