// The batched Cayley op over a CayleyShape, double precision: what BoftBackend.CayleyForward/CayleyBackward compute
// (docs/02_Ops/cayley.md). Composes the skew map (BOFT half difference or OFT packed triangle), the exact Cayley map or the
// Cayley–Neumann series, block sharing (every output block uses parameter block 0) and the identity mask.
//   forward:  C_j = map(skew(params[ParameterBlockOf(j)])), then C_j := I where mask_j = 1
//   backward: G_j := 0 where mask_j = 1;  G_p = Σ_{j: ParameterBlockOf(j) = p} G_j;  ∂params_p = skewᵀ(mapᵀ(G_p))
// Outputs are overwritten (=).

namespace Boft.Reference;

/// <summary>Reference batched Cayley map over a <see cref="CayleyShape"/>: the oracle of the backends' Cayley kernels.</summary>
public static class CayleyBatchReference
{
    /// <summary>The skew blocks of every parameter block.</summary>
    /// <param name="shape">The Cayley shape.</param>
    /// <param name="parameters">Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <param name="skew">Output. Shape: [parameterBlockCount, blockSize, blockSize].</param>
    public static void Skew(CayleyShape shape, ReadOnlySpan<double> parameters, Span<double> skew)
    {
        ArgumentNullException.ThrowIfNull(shape);
        Check.SameLength(parameters.Length, shape.ParametersLength, nameof(parameters), shape.ToString());
        Check.SameLength(skew.Length, shape.ParameterBlockCount * shape.BlockSize * shape.BlockSize, nameof(skew), "parameterBlockCount·b²");
        if (shape.Skew == SkewKind.HalfDifference)
            SkewReference.HalfDifference(parameters, shape.BlockSize, skew);
        else
            SkewReference.FromPacked(parameters, shape.BlockSize, skew);
    }

    /// <summary>The blocks: Cayley (or Cayley–Neumann) of each parameter block's skew matrix, shared blocks repeated, masked blocks I.</summary>
    /// <param name="shape">The Cayley shape.</param>
    /// <param name="parameters">Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <param name="identityMask">Shape: [blockCount] (0 or 1), or empty for none.</param>
    /// <param name="blocks">Output. Shape: [blockCount, blockSize, blockSize].</param>
    public static void Forward(CayleyShape shape, ReadOnlySpan<double> parameters, ReadOnlySpan<double> identityMask, Span<double> blocks)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int b = shape.BlockSize, bb = b * b;
        Check.SameLength(blocks.Length, shape.BlocksLength, nameof(blocks), shape.ToString());
        if (!identityMask.IsEmpty)
            Check.SameLength(identityMask.Length, shape.BlockCount, nameof(identityMask), "blockCount");
        var skew = new double[shape.ParameterBlockCount * bb];
        Skew(shape, parameters, skew);
        var own = new double[skew.Length];
        if (shape.IsExact)
            CayleyReference.Forward(skew, b, own);
        else
            CayleyNeumannReference.Forward(skew, shape.NeumannCoefficients, b, own);
        for (int j = 0; j < shape.BlockCount; j++)
            own.AsSpan(shape.ParameterBlockOf(j) * bb, bb).CopyTo(blocks.Slice(j * bb, bb));
        if (!identityMask.IsEmpty)
            IdentityMaskReference.Apply(identityMask, b, blocks);
    }

    /// <summary>Backward of <see cref="Forward"/>: <c>gradParameters = ∂L/∂parameters</c> given <c>gradBlocks = ∂L/∂C</c>.</summary>
    /// <param name="shape">The Cayley shape.</param>
    /// <param name="parameters">Shape: [parameterBlockCount, parameterBlockLength].</param>
    /// <param name="gradBlocks">Shape: [blockCount, blockSize, blockSize].</param>
    /// <param name="identityMask">The forward's mask, or empty.</param>
    /// <param name="gradParameters">Output. Shape: [parameterBlockCount, parameterBlockLength].</param>
    public static void Backward(CayleyShape shape, ReadOnlySpan<double> parameters, ReadOnlySpan<double> gradBlocks, ReadOnlySpan<double> identityMask,
        Span<double> gradParameters)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int b = shape.BlockSize, bb = b * b;
        Check.SameLength(gradBlocks.Length, shape.BlocksLength, nameof(gradBlocks), shape.ToString());
        Check.SameLength(gradParameters.Length, shape.ParametersLength, nameof(gradParameters), shape.ToString());
        double[] masked = gradBlocks.ToArray();
        if (!identityMask.IsEmpty)
            IdentityMaskReference.ApplyBackward(identityMask, b, masked);
        var perParameter = new double[shape.ParameterBlockCount * bb];
        for (int j = 0; j < shape.BlockCount; j++)
        {
            int p = shape.ParameterBlockOf(j);
            for (int e = 0; e < bb; e++)
                perParameter[p * bb + e] += masked[j * bb + e];
        }
        var skew = new double[perParameter.Length];
        Skew(shape, parameters, skew);
        var gradSkew = new double[perParameter.Length];
        if (shape.IsExact)
            CayleyReference.Backward(skew, perParameter, b, gradSkew);
        else
            CayleyNeumannReference.Backward(skew, shape.NeumannCoefficients, perParameter, b, gradSkew);
        if (shape.Skew == SkewKind.HalfDifference)
            SkewReference.HalfDifferenceBackward(gradSkew, b, gradParameters);
        else
            SkewReference.FromPackedBackward(gradSkew, b, gradParameters);
    }
}
