// Every closed-form gradient of the reference against central finite differences in double precision on small random shapes.
// Tolerance: central differences with h = 1e-6 have truncation error O(h²·f''') ≈ 1e-12 and rounding error O(eps·|f|/h) ≈ 1e-10
// for |f| ~ 1, so |analytic − numeric| ≤ 1e-7 + 1e-6·|numeric| leaves ~1000x margin while a wrong formula (sign, transpose,
// missing factor ½) is off by O(|g|) and fails.

using Boft.Backends;
using Boft.Reference;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.Reference;

[TestFixture]
public sealed class FiniteDifferenceTests
{
    private const double Step = 1e-6, Atol = 1e-7, Rtol = 1e-6;

    /// <summary>Numeric gradient of L(p) = Σ weights ⊙ f(p) by central differences.</summary>
    private static double[] Numeric(double[] point, double[] weights, Action<double[], double[]> f, int outputLength)
    {
        var grad = new double[point.Length];
        var plus = new double[outputLength];
        var minus = new double[outputLength];
        for (int i = 0; i < point.Length; i++)
        {
            double saved = point[i];
            point[i] = saved + Step;
            f(point, plus);
            point[i] = saved - Step;
            f(point, minus);
            point[i] = saved;
            double sum = 0;
            for (int j = 0; j < outputLength; j++)
                sum += weights[j] * (plus[j] - minus[j]);
            grad[i] = sum / (2 * Step);
        }
        return grad;
    }

    private static double[] Random(Random random, int length, double scale = 1.0)
    {
        var v = new double[length];
        for (int i = 0; i < length; i++)
            v[i] = scale * (2 * random.NextDouble() - 1);
        return v;
    }

    [TestCase(1, 1)]
    [TestCase(2, 3)]
    [TestCase(5, 2)]
    [TestCase(8, 1)]
    public void CayleyBackward_MatchesFiniteDifferences(int blockSize, int blockCount)
    {
        var random = new Random(100 + blockSize);
        int bb = blockSize * blockSize;
        double[] raw = Random(random, blockCount * bb, 0.8);
        var skew = new double[raw.Length];
        SkewReference.HalfDifference(raw, blockSize, skew);
        double[] g = Random(random, raw.Length);
        var analytic = new double[raw.Length];
        CayleyReference.Backward(skew, g, blockSize, analytic);
        // Perturb S along skew directions only: differentiate through S = (A − Aᵀ)/2 and compare the projected gradients.
        double[] numeric = Numeric(raw, g, (a, output) =>
        {
            var s = new double[a.Length];
            SkewReference.HalfDifference(a, blockSize, s);
            CayleyReference.Forward(s, blockSize, output);
        }, raw.Length);
        var projected = new double[raw.Length];
        SkewReference.HalfDifferenceBackward(analytic, blockSize, projected);
        Compare.AllClose(projected, numeric, Atol, Rtol, "∂L/∂A through exact Cayley", $"b={blockSize}, blocks={blockCount}");
    }

    [TestCase(3, new[] { 1.0, 2.0, 2.0, 1.0 })]
    [TestCase(4, new[] { 1.0, 2.0 })]
    [TestCase(6, new[] { 1.0, 2.0, 2.0, 2.0, 2.0 })]
    [TestCase(5, new[] { 1.0 })]
    public void CayleyNeumannBackward_MatchesFiniteDifferences(int blockSize, double[] coefficients)
    {
        var random = new Random(200 + blockSize);
        int packedLength = blockSize * (blockSize - 1) / 2;
        double[] packed = Random(random, 2 * packedLength, 0.3);
        int bb = blockSize * blockSize;
        double[] g = Random(random, 2 * bb);
        var skew = new double[2 * bb];
        SkewReference.FromPacked(packed, blockSize, skew);
        var gradSkew = new double[2 * bb];
        CayleyNeumannReference.Backward(skew, coefficients, g, blockSize, gradSkew);
        var analytic = new double[packed.Length];
        SkewReference.FromPackedBackward(gradSkew, blockSize, analytic);
        double[] numeric = Numeric(packed, g, (w, output) =>
        {
            var q = new double[2 * bb];
            SkewReference.FromPacked(w, blockSize, q);
            CayleyNeumannReference.Forward(q, coefficients, blockSize, output);
        }, 2 * bb);
        Compare.AllClose(analytic, numeric, Atol, Rtol, "∂L/∂w through Cayley–Neumann", $"b={blockSize}, c=[{string.Join(",", coefficients)}]");
    }

    [TestCase(4)]
    [TestCase(7)]
    public void OftExactCayleyBackward_ThroughPackedSkew_MatchesFiniteDifferences(int blockSize)
    {
        var random = new Random(300 + blockSize);
        int packedLength = blockSize * (blockSize - 1) / 2, bb = blockSize * blockSize;
        double[] packed = Random(random, packedLength, 0.5);
        double[] g = Random(random, bb);
        var skew = new double[bb];
        SkewReference.FromPacked(packed, blockSize, skew);
        var gradSkew = new double[bb];
        CayleyReference.Backward(skew, g, blockSize, gradSkew);
        var analytic = new double[packedLength];
        SkewReference.FromPackedBackward(gradSkew, blockSize, analytic);
        double[] numeric = Numeric(packed, g, (w, output) =>
        {
            var q = new double[bb];
            SkewReference.FromPacked(w, blockSize, q);
            CayleyReference.Forward(q, blockSize, output);
        }, bb);
        Compare.AllClose(analytic, numeric, Atol, Rtol, "∂L/∂w through exact Cayley", $"b={blockSize}");
    }

    [TestCase(8, 2, 1, 3)]
    [TestCase(8, 2, 3, 2)]
    [TestCase(16, 4, 3, 3)]
    [TestCase(24, 6, 2, 2)]
    [TestCase(12, 3, 1, 4)]
    public void RotationBackward_MatchesFiniteDifferences(int d, int b, int m, int rows)
    {
        var shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve().Rotation;
        var random = new Random(d * 31 + b * 7 + m);
        double[] x = Random(random, rows * d);
        double[] blocks = Random(random, shape.BlocksLength); // the rotation is linear in each block: any values test it
        double[] g = Random(random, rows * d);
        var gradX = new double[x.Length];
        var gradBlocks = new double[blocks.Length];
        RotationReference.Backward(shape, x, blocks, g, gradX, gradBlocks);
        string context = $"d={d}, b={b}, m={m}, rows={rows}";
        Compare.AllClose(gradX, Numeric(x, g, (p, o) => RotationReference.Forward(shape, p, blocks, false, o), x.Length), Atol, Rtol, "∂L/∂x", context);
        Compare.AllClose(gradBlocks, Numeric(blocks, g, (p, o) => RotationReference.Forward(shape, x, p, false, o), x.Length), Atol, Rtol, "∂L/∂C", context);
    }

    [TestCase(8, 2, 2, 6, true, false)]
    [TestCase(16, 4, 3, 12, true, true)]
    [TestCase(8, 8, 1, 5, false, false)]
    [TestCase(24, 6, 2, 7, true, true)]
    public void BoftLayerBackward_MatchesFiniteDifferences(int d, int b, int m, int n, bool withBias, bool withMask)
    {
        BoftShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve();
        var random = new Random(d + 1000 * m + b);
        int rows = 3;
        double[] x = Random(random, rows * d), w0 = Random(random, n * d, 0.5), bias = withBias ? Random(random, n) : [];
        double[] a = Random(random, shape.RawParameterCount, 0.6), s = Random(random, n, 0.2);
        for (int i = 0; i < n; i++)
            s[i] += 1;
        double[] mask = [];
        if (withMask)
        {
            mask = new double[m * shape.BlockCount];
            mask[1] = 1;
        }
        double[] g = Random(random, rows * n);
        var gA = new double[a.Length];
        var gS = new double[n];
        var gX = new double[x.Length];
        var gB = new double[bias.Length];
        BoftReference.Backward(shape, x, w0, a, s, mask, g, gA, gS, gX, gB);
        string context = $"{shape}, n={n}, bias={withBias}, mask={withMask}";
        int outLength = rows * n;
        Compare.AllClose(gA, Numeric(a, g, (p, o) => BoftReference.Forward(shape, x, w0, bias, p, s, mask, o), outLength), Atol, Rtol, "∂L/∂boft_R", context);
        Compare.AllClose(gS, Numeric(s, g, (p, o) => BoftReference.Forward(shape, x, w0, bias, a, p, mask, o), outLength), Atol, Rtol, "∂L/∂boft_s", context);
        Compare.AllClose(gX, Numeric(x, g, (p, o) => BoftReference.Forward(shape, p, w0, bias, a, s, mask, o), outLength), Atol, Rtol, "∂L/∂x", context);
        if (withBias)
            Compare.AllClose(gB, Numeric(bias, g, (p, o) => BoftReference.Forward(shape, x, w0, p, a, s, mask, o), outLength), Atol, Rtol, "∂L/∂bias", context);
    }

    [TestCase(16, 4, false, Orthogonalization.ExactCayley, 5)]
    [TestCase(16, 4, false, Orthogonalization.CayleyNeumann, 5)]
    [TestCase(24, 8, true, Orthogonalization.CayleyNeumann, 3)]
    [TestCase(32, 8, true, Orthogonalization.ExactCayley, 0)]
    [TestCase(12, 3, false, Orthogonalization.CayleyNeumann, 2)]
    public void OftLayerBackward_MatchesFiniteDifferences(int d, int b, bool share, Orthogonalization map, int terms)
    {
        OftShape shape = new OftConfig(d, BlockSize: b, BlockShare: share, Orthogonalization: map, NeumannTerms: terms).Resolve();
        var random = new Random(d + 10 * b + terms);
        int rows = 4, n = d - 3;
        double[] x = Random(random, rows * d), w0 = Random(random, n * d, 0.5), bias = Random(random, n);
        double[] weight = Random(random, shape.StoredParameterCount, 0.2);
        double[] g = Random(random, rows * n);
        var gW = new double[weight.Length];
        var gX = new double[x.Length];
        var gB = new double[n];
        OftReference.Backward(shape, x, w0, weight, g, gW, gX, gB);
        string context = shape.ToString();
        int outLength = rows * n;
        Compare.AllClose(gW, Numeric(weight, g, (p, o) => OftReference.Forward(shape, x, w0, bias, p, o), outLength), Atol, Rtol, "∂L/∂weight", context);
        Compare.AllClose(gX, Numeric(x, g, (p, o) => OftReference.Forward(shape, p, w0, bias, weight, o), outLength), Atol, Rtol, "∂L/∂x", context);
        Compare.AllClose(gB, Numeric(bias, g, (p, o) => OftReference.Forward(shape, x, w0, p, weight, o), outLength), Atol, Rtol, "∂L/∂bias", context);
    }

    [Test]
    public void LinearAndScaleBiasBackward_MatchFiniteDifferences()
    {
        var random = new Random(7);
        int rows = 3, d = 5, n = 4;
        double[] x = Random(random, rows * d), w = Random(random, n * d), s = Random(random, n), bias = Random(random, n);
        double[] g = Random(random, rows * n);
        var gX = new double[x.Length];
        var gW = new double[w.Length];
        LinearReference.BackwardInput(g, w, d, gX);
        LinearReference.BackwardWeight(g, x, d, gW);
        Compare.AllClose(gX, Numeric(x, g, (p, o) => LinearReference.Forward(p, w, d, o), rows * n), Atol, Rtol, "∂L/∂input", "linear");
        Compare.AllClose(gW, Numeric(w, g, (p, o) => LinearReference.Forward(x, p, d, o), rows * n), Atol, Rtol, "∂L/∂weight", "linear");

        double[] h = Random(random, rows * n);
        var gH = new double[h.Length];
        var gS = new double[n];
        var gB = new double[n];
        LinearReference.ScaleBiasBackward(h, s, g, n, gH, gS, gB);
        Compare.AllClose(gH, Numeric(h, g, (p, o) => LinearReference.ScaleBias(p, s, bias, n, o), rows * n), Atol, Rtol, "∂L/∂h", "scale-bias");
        Compare.AllClose(gS, Numeric(s, g, (p, o) => LinearReference.ScaleBias(h, p, bias, n, o), rows * n), Atol, Rtol, "∂L/∂s", "scale-bias");
        Compare.AllClose(gB, Numeric(bias, g, (p, o) => LinearReference.ScaleBias(h, s, p, n, o), rows * n), Atol, Rtol, "∂L/∂bias", "scale-bias");
    }

    [Test]
    public void LossGradients_MatchFiniteDifferences()
    {
        var random = new Random(11);
        double[] p = Random(random, 12), t = Random(random, 12);
        var grad = new double[12];
        LossReference.MeanSquaredError(p, t, grad);
        Compare.AllClose(grad, Numeric(p, [1.0], (q, o) => o[0] = LossReference.MeanSquaredError(q, t, []), 1), Atol, Rtol, "∂MSE/∂p", "mse");

        double[] logits = Random(random, 3 * 5, 3);
        int[] labels = [4, 0, 2];
        var gradLogits = new double[logits.Length];
        LossReference.SoftmaxCrossEntropy(logits, labels, 5, gradLogits);
        Compare.AllClose(gradLogits, Numeric(logits, [1.0], (q, o) => o[0] = LossReference.SoftmaxCrossEntropy(q, labels, 5, []), 1), Atol, Rtol, "∂CE/∂logits", "cross-entropy");
    }

    [Test]
    public void AdamAndSgd_MatchPyTorchFormulasOnAKnownCase()
    {
        // Hand-computed first step of torch.optim.Adam(lr=0.1): m = 0.1 g, v = 0.001 g², update = lr·sign(g) (up to eps).
        double[] p = [1.0, -2.0], g = [0.5, -0.25];
        var m = new double[2];
        var v = new double[2];
        OptimizerReference.AdamStep(g, new AdamSettings(0.1), 1, 0.1, p, m, v);
        Compare.AllClose(p, [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 0.25 / (0.25 + 1e-8)], 1e-15, 1e-12, "adam step 1", "known case");
        Compare.AllClose(m, [0.05, -0.025], 1e-15, 1e-12, "adam m", "known case");
        // SGD with momentum 0.9 and Nesterov: buf = g (step 1), update = g + 0.9 g = 1.9 g.
        double[] q = [1.0, 1.0];
        var buf = new double[2];
        OptimizerReference.SgdStep(g, new SgdSettings(0.1, Momentum: 0.9, Nesterov: true), true, q, buf);
        Compare.AllClose(q, [1.0 - 0.1 * 1.9 * 0.5, 1.0 + 0.1 * 1.9 * 0.25], 1e-15, 1e-12, "sgd nesterov step 1", "known case");
        // AdamW: decoupled decay scales p by (1 − lr·λ) before the Adam update.
        double[] r = [2.0];
        var m1 = new double[1];
        var v1 = new double[1];
        OptimizerReference.AdamStep([0.0], AdamSettings.AdamW(0.1, 0.5), 1, 0.1, r, m1, v1);
        Assert.That(r[0], Is.EqualTo(2.0 * (1 - 0.05)).Within(1e-15), "AdamW decoupled decay with zero gradient");
    }
}
