// The double-precision expectations of the backend ops from Boft.Core/Reference (the oracle verified against the 38 golden
// cases; the batched Cayley op is CayleyBatchReference), seeded random data, and the tolerance rule every backend test uses.

using Boft.Backends;
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

    /// <summary>Expected <c>CayleyForward</c> output. Shape: [blockCount, b, b].</summary>
    public static double[] CayleyForward(CayleyShape shape, double[] parameters, double[]? mask)
    {
        var blocks = new double[shape.BlocksLength];
        CayleyBatchReference.Forward(shape, parameters, mask ?? [], blocks);
        return blocks;
    }

    /// <summary>Expected increment of <c>gradParameters</c> from <c>CayleyBackward</c>. Shape: [parameterBlockCount, parameterBlockLength].</summary>
    public static double[] CayleyBackward(CayleyShape shape, double[] parameters, double[] gradBlocks, double[]? mask)
    {
        var result = new double[shape.ParametersLength];
        CayleyBatchReference.Backward(shape, parameters, gradBlocks, mask ?? [], result);
        return result;
    }

    /// <summary>Forward op <paramref name="op"/> of a rotation into a fresh <paramref name="type"/> tensor filled with NaN
    /// (so an unwritten output shows): 0 x·R, 1 x·Rᵀ, 2 Merge's diag(s)·W·Rᵀ. Returns the output's values.</summary>
    public static float[] RunForward(BoftBackend backend, RotationShape shape, Tensor x, Tensor blocks, Tensor scale, ElementType type, int op)
    {
        using Tensor y = backend.Allocate(type, x.Shape[0], x.Shape[1]);
        backend.Fill(y, float.NaN);
        if (op == 2)
            backend.Merge(shape, x, blocks, scale, y);
        else
            backend.Rotate(shape, x, blocks, op == 1, y);
        return y.ToArray();
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
