// The double-precision expectations of the backend ops, composed from Boft.Core/Reference (the oracle verified against
// the 38 golden cases): the reference has no single "Cayley op over a CayleyShape", so its skew map, Cayley / Neumann
// map, identity mask and block sharing are composed here exactly as BoftBackend documents CayleyForward/Backward.
// Also: seeded random data and the tolerance rule every backend test uses.

using Boft.Reference;

namespace Boft.Tests.BackendOps;

internal static class BackendOracle
{
    /// <summary>Uniform values in [−scale, scale) from a seeded generator.</summary>
    public static double[] Random(Random random, int length, double scale = 1.0)
    {
        var values = new double[length];
        for (int i = 0; i < length; i++)
            values[i] = (random.NextDouble() * 2 - 1) * scale;
        return values;
    }

    /// <summary>Rounds to float and back, so the reference sees exactly the inputs the float32 backend sees.</summary>
    public static double[] AsFloat(double[] values) => Array.ConvertAll(values, v => (double)(float)v);

    /// <summary>The skew blocks of every parameter block. Shape: [parameterBlockCount, b, b].</summary>
    public static double[] Skew(CayleyShape shape, double[] parameters)
    {
        int b = shape.BlockSize;
        var skew = new double[shape.ParameterBlockCount * b * b];
        if (shape.Skew == SkewKind.HalfDifference)
            SkewReference.HalfDifference(parameters, b, skew);
        else
            SkewReference.FromPacked(parameters, b, skew);
        return skew;
    }

    /// <summary>Expected <c>CayleyForward</c> output. Shape: [blockCount, b, b].</summary>
    public static double[] CayleyForward(CayleyShape shape, double[] parameters, double[]? mask)
    {
        int b = shape.BlockSize, bb = b * b;
        double[] skew = Skew(shape, parameters);
        var own = new double[skew.Length];
        if (shape.IsExact)
            CayleyReference.Forward(skew, b, own);
        else
            CayleyNeumannReference.Forward(skew, shape.NeumannCoefficients, b, own);
        var blocks = new double[shape.BlocksLength];
        for (int j = 0; j < shape.BlockCount; j++)
            own.AsSpan(shape.ParameterBlockOf(j) * bb, bb).CopyTo(blocks.AsSpan(j * bb, bb));
        if (mask is not null)
            IdentityMaskReference.Apply(mask, b, blocks);
        return blocks;
    }

    /// <summary>Expected increment of <c>gradParameters</c> from <c>CayleyBackward</c>. Shape: [parameterBlockCount, parameterBlockLength].</summary>
    public static double[] CayleyBackward(CayleyShape shape, double[] parameters, double[] gradBlocks, double[]? mask)
    {
        int b = shape.BlockSize, bb = b * b;
        double[] skew = Skew(shape, parameters);
        var masked = (double[])gradBlocks.Clone();
        if (mask is not null)
            IdentityMaskReference.ApplyBackward(mask, b, masked);
        var perParameter = new double[shape.ParameterBlockCount * bb];
        for (int j = 0; j < shape.BlockCount; j++)
        {
            int p = shape.ParameterBlockOf(j);
            for (int e = 0; e < bb; e++)
                perParameter[p * bb + e] += masked[j * bb + e];
        }
        var gradSkew = new double[perParameter.Length];
        if (shape.IsExact)
            CayleyReference.Backward(skew, perParameter, b, gradSkew);
        else
            CayleyNeumannReference.Backward(skew, shape.NeumannCoefficients, perParameter, b, gradSkew);
        var result = new double[shape.ParametersLength];
        if (shape.Skew == SkewKind.HalfDifference)
            SkewReference.HalfDifferenceBackward(gradSkew, b, result);
        else
            SkewReference.FromPackedBackward(gradSkew, b, result);
        return result;
    }

    /// <summary>Random orthogonal blocks for a rotation shape (exact Cayley of random skew blocks, like a trained adapter).</summary>
    public static double[] OrthogonalBlocks(Random random, RotationShape shape, double scale = 0.5)
    {
        int b = shape.BlockSize;
        var raw = Random(random, shape.BlocksLength, scale);
        var skew = new double[raw.Length];
        SkewReference.HalfDifference(raw, b, skew);
        var blocks = new double[raw.Length];
        CayleyReference.Forward(skew, b, blocks);
        return AsFloat(blocks);
    }

    /// <summary>
    /// The tolerance used for float32 results against the double reference: |actual − expected| ≤ atol + 1e-5·|expected| with
    /// atol = 2e-6·sqrt(reductionLength)·max(1, max|expected|). Rationale: each output is a sum of reductionLength float32
    /// products (unit round-off 6e-8) whose rounding errors add like a random walk, so the error grows like sqrt(length);
    /// 2e-6 leaves a margin of ~30× over the observed errors while a wrong index or a missing term (errors ≥ 1e-2 with
    /// these O(1) data) still fails by orders of magnitude.
    /// </summary>
    public static (double Atol, double Rtol) Tolerance(double[] expected, double reductionLength)
    {
        double scale = Math.Max(1.0, Infrastructure.Compare.MaxAbs(expected));
        return (2e-6 * Math.Sqrt(Math.Max(1.0, reductionLength)) * scale, 1e-5);
    }
}
