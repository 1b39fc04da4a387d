// Algebraic properties of the reference: orthogonality and det +1 of exact Cayley blocks, identity at zero parameters,
// BOFT(m = 1) = OFT on the same blocks, permutation round trips, the density rule of R, and unmerge(merge(W0)) = W0.

using Boft.Reference;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.Reference;

[TestFixture]
public sealed class PropertyTests
{
    private static double[] RandomValues(int seed, int length, double scale)
    {
        var random = new Random(seed);
        var v = new double[length];
        for (int i = 0; i < length; i++)
            v[i] = scale * (2 * random.NextDouble() - 1);
        return v;
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(8)]
    [TestCase(17)]
    [TestCase(32)]
    public void ExactCayleyBlocks_AreOrthogonalWithDeterminantOne(int blockSize)
    {
        int bb = blockSize * blockSize;
        double[] raw = RandomValues(blockSize, 4 * bb, 3.0); // large entries: far from the identity
        var skew = new double[raw.Length];
        SkewReference.HalfDifference(raw, blockSize, skew);
        var blocks = new double[raw.Length];
        CayleyReference.Forward(skew, blockSize, blocks);
        for (int blk = 0; blk < 4; blk++)
        {
            ReadOnlySpan<double> c = blocks.AsSpan(blk * bb, bb);
            var ct = new double[bb];
            var product = new double[bb];
            MatrixReference.Transpose(c, blockSize, ct);
            MatrixReference.Multiply(c, ct, blockSize, product);
            var identity = new double[bb];
            for (int i = 0; i < blockSize; i++)
                identity[i * blockSize + i] = 1;
            Compare.AllClose(product, identity, 1e-12, 0, "C Cᵀ", $"b={blockSize}, block {blk}", [blockSize, blockSize]);
            Assert.That(Determinant(c, blockSize), Is.EqualTo(1.0).Within(1e-10), $"det C, b={blockSize}, block {blk}");
        }
    }

    [Test]
    public void ZeroParameters_GiveTheIdentity([Values(1, 2, 3)] int factorCount, [Values] bool neumann)
    {
        BoftShape boft = new BoftConfig(16, BlockSize: 2, FactorCount: factorCount).Resolve();
        var r = new double[16 * 16];
        BoftReference.Rotation(boft, new double[boft.RawParameterCount], [], r);
        Compare.AllClose(r, Identity(16), 0, 0, "R(boft_R = 0)", boft.ToString());

        OftShape oft = new OftConfig(16, BlockSize: 4, Orthogonalization: neumann ? Orthogonalization.CayleyNeumann : Orthogonalization.ExactCayley).Resolve();
        OftReference.Rotation(oft, new double[oft.StoredParameterCount], r);
        Compare.AllClose(r, Identity(16), 0, 0, "R(weight = 0)", oft.ToString());
    }

    [TestCase(16, 4)]
    [TestCase(24, 6)]
    [TestCase(8, 8)]
    public void BoftWithOneFactor_EqualsOftOnTheSameBlocks(int d, int b)
    {
        // OFT weight w (Q = U − Uᵀ) and BOFT raw A with A[r,c] = 2 w_t (upper), 0 elsewhere give the same skew S = (A − Aᵀ)/2 = Q.
        OftShape oft = new OftConfig(d, BlockSize: b, Orthogonalization: Orthogonalization.ExactCayley).Resolve();
        BoftShape boft = new BoftConfig(d, BlockSize: b, FactorCount: 1).Resolve();
        double[] weight = RandomValues(d + b, oft.StoredParameterCount, 0.5);
        var raw = new double[boft.RawParameterCount];
        int t = 0;
        for (int blk = 0; blk < oft.BlockCount; blk++)
            for (int r = 0; r < b; r++)
                for (int c = r + 1; c < b; c++)
                    raw[blk * b * b + r * b + c] = 2 * weight[t++];
        int n = 5, rows = 3;
        double[] x = RandomValues(1, rows * d, 1), w0 = RandomValues(2, n * d, 1), bias = RandomValues(3, n, 1);
        var ones = Enumerable.Repeat(1.0, n).ToArray();
        var yOft = new double[rows * n];
        var yBoft = new double[rows * n];
        OftReference.Forward(oft, x, w0, bias, weight, yOft);
        BoftReference.Forward(boft, x, w0, bias, raw, ones, [], yBoft);
        Compare.AllClose(yBoft, yOft, 1e-13, 1e-12, "y BOFT(m=1) vs OFT", $"d={d}, b={b}");
    }

    [TestCase(8, 2, 3)]
    [TestCase(16, 2, 4)]
    [TestCase(96, 6, 5)]
    [TestCase(96, 12, 4)]
    [TestCase(64, 4, 1)]
    public void Permutations_RoundTrip(int d, int b, int m)
    {
        BoftShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve();
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<int> p = shape.Permutations.Forward(i), q = shape.Permutations.Inverse(i);
            var seen = new bool[d];
            for (int a = 0; a < d; a++)
            {
                Assert.That(q[p[a]], Is.EqualTo(a), $"q[p[{a}]] for factor {i} of {shape}");
                Assert.That(p[q[a]], Is.EqualTo(a), $"p[q[{a}]] for factor {i} of {shape}");
                Assert.That(seen[p[a]], Is.False, $"p_{i} repeats {p[a]} ({shape})");
                seen[p[a]] = true;
            }
        }
        for (int a = 0; a < d; a++)
            Assert.That(shape.Permutations.Forward(0)[a], Is.EqualTo(a), "p_0 is the identity");
    }

    [TestCase(8, 2)]
    [TestCase(16, 2)]
    [TestCase(16, 4)]
    [TestCase(32, 4)]
    [TestCase(96, 6)]
    public void Rotation_IsDenseExactlyWhenMEqualsLog2OfBlockCountPlusOne(int d, int b)
    {
        int k = d / b;
        int maxFactors = 1;
        while (k % (1 << maxFactors) == 0 && (b % 2 == 0))
            maxFactors++;
        for (int m = 1; m <= maxFactors; m++)
        {
            BoftShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve();
            var r = new double[d * d];
            BoftReference.Rotation(shape, RandomValues(m * d + b, shape.RawParameterCount, 1.0), [], r);
            bool dense = r.All(v => v != 0);
            Assert.That(dense, Is.EqualTo(shape.IsDense), $"{shape}: dense R observed {dense}, IsDense {shape.IsDense}");
            Assert.That(shape.IsDense, Is.EqualTo(k == 1 << (m - 1)), $"{shape}: IsDense vs k = 2^(m−1)");
            // R is block-diagonal with dense blocks of size b·2^(m−1): entries outside those blocks are exactly zero.
            int g = shape.DenseBlockSize;
            for (int row = 0; row < d; row++)
                for (int col = 0; col < d; col++)
                    if (row / g != col / g)
                        Assert.That(r[row * d + col], Is.Zero, $"{shape}: R[{row},{col}] outside the {g}-blocks");
            var rrt = new double[d * d];
            var rt = new double[d * d];
            MatrixReference.Transpose(r, d, rt);
            MatrixReference.Multiply(r, rt, d, rrt);
            Compare.AllClose(rrt, Identity(d), 1e-12, 0, "R Rᵀ", shape.ToString());
        }
    }

    [TestCase(16, 4, 3)]
    [TestCase(96, 6, 2)]
    public void BoftUnmergeOfMerge_RestoresTheBaseWeight(int d, int b, int m)
    {
        BoftShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve();
        int n = 7;
        double[] w0 = RandomValues(5, n * d, 1), a = RandomValues(6, shape.RawParameterCount, 1), s = RandomValues(7, n, 0.3);
        for (int i = 0; i < n; i++)
            s[i] += 1;
        var merged = new double[w0.Length];
        var back = new double[w0.Length];
        BoftReference.Merge(shape, w0, a, s, [], merged);
        BoftReference.Unmerge(shape, merged, a, s, [], back);
        Compare.AllClose(back, w0, 1e-12, 1e-12, "unmerge(merge(W0))", shape.ToString());
        Assert.That(merged.Zip(w0).Max(p => Math.Abs(p.First - p.Second)), Is.GreaterThan(1e-3), "merge must change W0 for this test to mean anything");
    }

    [TestCase(Orthogonalization.ExactCayley, false)]
    [TestCase(Orthogonalization.CayleyNeumann, false)]
    [TestCase(Orthogonalization.CayleyNeumann, true)]
    public void OftUnmergeOfMerge_RestoresTheBaseWeight(Orthogonalization map, bool share)
    {
        OftShape shape = new OftConfig(24, BlockSize: 8, BlockShare: share, Orthogonalization: map, NeumannTerms: 3).Resolve();
        int n = 5;
        double[] w0 = RandomValues(8, n * 24, 1), weight = RandomValues(9, shape.StoredParameterCount, 0.3);
        var merged = new double[w0.Length];
        var back = new double[w0.Length];
        OftReference.Merge(shape, w0, weight, merged);
        OftReference.Unmerge(shape, merged, weight, back);
        Compare.AllClose(back, w0, 1e-12, 1e-12, "unmerge(merge(W0))", shape.ToString());
    }

    [Test]
    public void NeumannSeries_ConvergesToTheTransposeOfTheExactCayley()
    {
        // boft-spec §3.4: the series truncates (I + Q)(I − Q)⁻¹ = exact(Q)ᵀ; with ‖Q‖ ≈ 0.3 and T = 40 the truncation error is ~0.3^39 ≈ 1e-20, so it agrees to rounding (asserted at 1e-14).
        int b = 6;
        double[] packed = RandomValues(12, b * (b - 1) / 2, 0.15);
        var q = new double[b * b];
        SkewReference.FromPacked(packed, b, q);
        var exact = new double[b * b];
        var exactT = new double[b * b];
        var series = new double[b * b];
        CayleyReference.Forward(q, b, exact);
        MatrixReference.Transpose(exact, b, exactT);
        CayleyNeumannReference.Forward(q, OftConfig.NeumannCoefficients(40, NeumannVariant.Peft018), b, series);
        Compare.AllClose(series, exactT, 1e-14, 0, "Neumann(T=40) vs exact(Q)ᵀ", "b=6");
    }

    private static double[] Identity(int d)
    {
        var r = new double[d * d];
        for (int i = 0; i < d; i++)
            r[i * d + i] = 1;
        return r;
    }

    private static double Determinant(ReadOnlySpan<double> matrix, int n)
    {
        var a = matrix.ToArray();
        double det = 1;
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++)
                if (Math.Abs(a[r * n + col]) > Math.Abs(a[pivot * n + col]))
                    pivot = r;
            if (pivot != col)
            {
                for (int j = 0; j < n; j++)
                    (a[col * n + j], a[pivot * n + j]) = (a[pivot * n + j], a[col * n + j]);
                det = -det;
            }
            det *= a[col * n + col];
            for (int r = col + 1; r < n; r++)
            {
                double f = a[r * n + col] / a[col * n + col];
                for (int j = col; j < n; j++)
                    a[r * n + j] -= f * a[col * n + j];
            }
        }
        return det;
    }
}
