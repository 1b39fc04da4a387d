// The 16-bit path (docs/09_Mixed-precision.md): conversions, storage on every backend, every 16-bit op of every backend
// that has the path against the reference backend (which computes in double and rounds each stored 16-bit result once),
// and the element-type errors.
//
// Tolerance of a 16-bit output: both sides round their own float32/double result once to the type, so where the exact
// value lies near a rounding boundary they may differ by one unit in the last place of the type. The bound is
// |actual − expected| ≤ 1 ulp_type(|expected|) + 1e-5·max|expected| (the second term covers the float32-vs-double
// difference before the rounding, sqrt(length) float32 round-offs, far below one 16-bit ulp for these O(1) data).
// Float32 outputs (parameter gradients) use BackendOracle's float32 rule. A wrong index or a double rounding shows up as
// errors of many ulps.

using Boft.Backends;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.BackendOps;

[TestFixture]
public sealed class ElementConversionTests
{
    [TestCase(0x3F808000u, (ushort)0x3F80, TestName = "bf16 tie rounds down to even")]
    [TestCase(0x3F818000u, (ushort)0x3F82, TestName = "bf16 tie rounds up to even")]
    [TestCase(0x3F808001u, (ushort)0x3F81, TestName = "bf16 above tie rounds up")]
    [TestCase(0x7F7FFFFFu, (ushort)0x7F80, TestName = "bf16 float max overflows to infinity")]
    [TestCase(0xFF800000u, (ushort)0xFF80, TestName = "bf16 negative infinity")]
    [TestCase(0x00000001u, (ushort)0x0000, TestName = "bf16 smallest subnormal rounds to zero")]
    public void SingleToBFloat16_RoundsToNearestEven(uint floatBits, ushort expected) =>
        Assert.That(ElementConversions.SingleToBFloat16(BitConverter.UInt32BitsToSingle(floatBits)), Is.EqualTo(expected));

    [Test]
    public void NaN_StaysNaN_InBothTypes()
    {
        float nan = BitConverter.UInt32BitsToSingle(0x7F800001); // signalling-style payload in the low bits only
        Assert.Multiple(() =>
        {
            Assert.That(float.IsNaN(ElementConversions.BFloat16ToSingle(ElementConversions.SingleToBFloat16(nan))), Is.True);
            Assert.That(float.IsNaN(ElementConversions.Float16ToSingle(ElementConversions.SingleToFloat16(nan))), Is.True);
        });
    }

    [Test]
    public void Float16_OverflowAndTies()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ElementConversions.Float16ToSingle(ElementConversions.SingleToFloat16(65520f)), Is.EqualTo(float.PositiveInfinity), "65520 rounds up to infinity");
            Assert.That(ElementConversions.Float16ToSingle(ElementConversions.SingleToFloat16(65519f)), Is.EqualTo(65504f));
            Assert.That(ElementConversions.Float16ToSingle(ElementConversions.SingleToFloat16(1f + 1f / 2048)), Is.EqualTo(1f), "tie to even");
            Assert.That(ElementConversions.Float16ToSingle(ElementConversions.SingleToFloat16(1f + 3f / 2048)), Is.EqualTo(1f + 2f / 1024), "tie to even (up)");
        });
    }

    [TestCase(ElementType.BFloat16)]
    [TestCase(ElementType.Float16)]
    public void VectorisedSpans_MatchTheScalarConversions(ElementType type)
    {
        // Every 16-bit pattern widens exactly like the scalar conversion; random float bit patterns (NaNs, infinities,
        // subnormals and ties included) narrow like it. 65 539 elements: the vector loops and a scalar tail.
        var bits = new ushort[65539];
        for (int i = 0; i < bits.Length; i++)
            bits[i] = (ushort)i;
        var wide = new float[bits.Length];
        ElementConversions.Widen(bits, type, wide);
        var random = new Random(11);
        var floats = new float[70001];
        for (int i = 0; i < floats.Length; i++)
            floats[i] = i % 7 == 0 ? (float)(random.NextDouble() - 0.5) : BitConverter.Int32BitsToSingle(random.Next(int.MinValue, int.MaxValue));
        floats[5] = BitConverter.UInt32BitsToSingle(0x3F808000); // a bf16 tie
        var narrow = new ushort[floats.Length];
        ElementConversions.Narrow(floats, type, narrow);
        for (int i = 0; i < bits.Length; i++)
        {
            float expected = ElementConversions.ToSingle(bits[i], type);
            Assert.That(BitConverter.SingleToInt32Bits(wide[i]) == BitConverter.SingleToInt32Bits(expected) || (float.IsNaN(wide[i]) && float.IsNaN(expected)), Is.True, $"widen 0x{bits[i]:X4}");
        }
        for (int i = 0; i < floats.Length; i++)
        {
            ushort expected = ElementConversions.FromSingle(floats[i], type);
            bool bothNaN = float.IsNaN(floats[i]) && float.IsNaN(ElementConversions.ToSingle(narrow[i], type));
            Assert.That(narrow[i] == expected || bothNaN, Is.True, $"narrow {floats[i]:R} (0x{BitConverter.SingleToUInt32Bits(floats[i]):X8}): 0x{narrow[i]:X4} vs 0x{expected:X4}");
        }
    }

    [Test]
    public void RoundFromDouble_RoundsOnce()
    {
        // 1 + 2^-8 + 2^-30: float32 rounding gives the exact bf16 tie 1 + 2^-8, which would then round to 1 (even);
        // one correct rounding of the double gives 1 + 2^-7.
        double value = 1 + Math.Pow(2, -8) + Math.Pow(2, -30);
        Assert.That(ElementConversions.Round(value, ElementType.BFloat16), Is.EqualTo(1f + 1f / 128));
        double half = 1 + Math.Pow(2, -11) + Math.Pow(2, -40);
        Assert.That(ElementConversions.Round(half, ElementType.Float16), Is.EqualTo(1f + 1f / 1024));
        Assert.That(ElementConversions.Round(-value, ElementType.BFloat16), Is.EqualTo(-(1f + 1f / 128)));
    }
}

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class SixteenBitBackendTests(BackendCase backendCase) : SixteenBitTestBase(backendCase)
{
    [TestCaseSource(nameof(SixteenBitTypes))]
    public void Storage_RoundTripsBitsAndRoundsFloats(ElementType type)
    {
        RequireSupport(type);
        var random = new Random(3);
        float[] values = Array.ConvertAll(BackendOracle.Random(random, 37, 100), v => (float)v);
        using Tensor t = Backend.Upload(values, type, 37);
        Assert.That(t.ElementType, Is.EqualTo(type));
        float[] back = t.ToArray();
        var bits = new ushort[37];
        t.CopyBitsTo(bits);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.That(back[i], Is.EqualTo(ElementConversions.ToSingle(ElementConversions.FromSingle(values[i], type), type)), $"element {i} rounded RNE");
            Assert.That(bits[i], Is.EqualTo(ElementConversions.FromSingle(values[i], type)), $"bits {i}");
        }
        using Tensor copy = Backend.UploadBits(bits, type, 37);
        Assert.That(copy.ToArray(), Is.EqualTo(back));
        if (type == ElementType.Float16)
        {
            var halves = new Half[37];
            t.CopyTo(halves);
            Assert.That(Array.ConvertAll(halves, h => (float)h), Is.EqualTo(back), "Half values");
        }
        else
        {
            Assert.Throws<ArgumentException>(() => t.CopyFrom(new Half[37]), "Half values into a bfloat16 tensor");
        }
    }

    /// <summary>Shapes that reach every branch of the SIMD tiles' 16-bit loads and stores: several feature tiles (d = 640 is
    /// five 128-wide tiles of BOFT(2,8)), a last row tile shorter than the others, few rows (the 4- and 8-lane dispatch),
    /// x·Rᵀ with its final gather, and one-factor OFT; and 33,000 rows: many row tiles and row chunks of the gradBlocks
    /// reduction, the last tile short.</summary>
    private static readonly object[] TiledRotationCases =
    [
        new object[] { ElementType.BFloat16, 64, 2, 8, 33000, false },
        new object[] { ElementType.Float16, 64, 2, 8, 33000, false },
        new object[] { ElementType.BFloat16, 640, 2, 8, 300, false },
        new object[] { ElementType.Float16, 640, 2, 8, 300, true },
        new object[] { ElementType.BFloat16, 96, 3, 4, 5, true },
        new object[] { ElementType.Float16, 96, 3, 4, 7, false },
        new object[] { ElementType.BFloat16, 256, 1, 16, 129, false },
        new object[] { ElementType.Float16, 48, 1, 6, 1, true },
    ];

    [TestCaseSource(nameof(TiledRotationCases))]
    public void Rotate_AndBackward_MatchReference(ElementType type, int d, int factorCount, int blockSize, int rows, bool transpose)
    {
        RequirePath(type, SixteenBitOperation.Rotation);
        var shape = new BoftConfig(d, BlockSize: blockSize, FactorCount: factorCount).Resolve().Rotation;
        var random = new Random(d + rows);
        // ILGPU's CPU simulator is 20-250x slower: at most 300 rows there (still several row tiles and reduction chunks).
        if (IsSimulator)
            rows = Math.Min(rows, 300);
        double[] blocks = BackendOracle.OrthogonalBlocks(random, shape);
        float[] x = Floats(random, rows * d), gy = Floats(random, rows * d);
        (float[] y, float[] gx, float[] gBlocks) Run(BoftBackend backend)
        {
            using Tensor tx = backend.Upload(x, type, rows, d), tgy = backend.Upload(gy, type, rows, d);
            using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), shape.FactorCount, shape.BlockCount, blockSize, blockSize);
            using Tensor ty = backend.Allocate(type, rows, d), tgx = backend.Allocate(type, rows, d);
            using Tensor tgb = backend.Allocate(shape.FactorCount, shape.BlockCount, blockSize, blockSize);
            backend.Rotate(shape, tx, tb, transpose, ty);
            backend.RotateBackward(shape, tx, tb, tgy, tgx, tgb);
            return (ty.ToArray(), tgx.ToArray(), tgb.ToArray());
        }
        var actual = Run(Backend);
        var expected = Run(Reference);
        CheckSixteenBit(actual.y, expected.y, type, "y");
        CheckSixteenBit(actual.gx, expected.gx, type, "gradInput");
        CheckFloat32(actual.gBlocks, expected.gBlocks, rows, "gradBlocks");
    }

    /// <summary>Every path of the SIMD GEMM over a 16-bit weight: 22,000 rows (two row chunks of 21,845 at d = 96), the
    /// few-row dot-product (≤ 8 rows) and row-AXPY (≤ 4) paths that widen one weight column or row slice at a time, and the
    /// packed GEMM with partial panels (n = 40 is not a multiple of 16) and two K blocks (d = 600 &gt; KC = 512).</summary>
    private static readonly object[] LinearCases =
    [
        new object[] { ElementType.BFloat16, 22000, 96, 80 },
        new object[] { ElementType.Float16, 22000, 96, 80 },
        new object[] { ElementType.BFloat16, 1, 600, 40 },
        new object[] { ElementType.Float16, 3, 72, 600 },
        new object[] { ElementType.BFloat16, 7, 600, 24 },
        new object[] { ElementType.Float16, 300, 600, 40 },
        new object[] { ElementType.BFloat16, 50, 40, 600 },
    ];

    [TestCaseSource(nameof(LinearCases))]
    public void Linear_AndBackwardInput_MatchReference(ElementType type, int rows, int d, int n)
    {
        RequirePath(type, SixteenBitOperation.Linear);
        if (IsSimulator)
            rows = Math.Min(rows, 40); // tiny on the CPU simulator
        var random = new Random(7 + rows);
        float[] x = Floats(random, rows * d), w = Floats(random, n * d), gy = Floats(random, rows * n);
        (float[] y, float[] gx) Run(BoftBackend backend)
        {
            using Tensor tx = backend.Upload(x, type, rows, d), tw = backend.Upload(w, type, n, d), tgy = backend.Upload(gy, type, rows, n);
            using Tensor ty = backend.Allocate(type, rows, n), tgx = backend.Allocate(type, rows, d);
            backend.Linear(tx, tw, ty);
            backend.LinearBackwardInput(tgy, tw, tgx);
            return (ty.ToArray(), tgx.ToArray());
        }
        var actual = Run(Backend);
        var expected = Run(Reference);
        CheckSixteenBit(actual.y, expected.y, type, "y");
        CheckSixteenBit(actual.gx, expected.gx, type, "gradInput");
    }

    /// <summary>Conv2d over 16-bit images: 130 images of 16×32×32 (two image chunks of the SIMD path: 2 Mi floats / 16,384 =
    /// 128 images a chunk) through a padded 1×1 conv (im2col, not the pointwise shortcut; small so the double reference stays
    /// quick), a padded 3×3 conv, and a grouped, strided, dilated one; with a float32 weight and bias (derived from masters,
    /// like the adapters' W') and with a frozen weight and bias in the activation type.</summary>
    private static readonly object[] Conv2dCases =
    [
        new object[] { ElementType.BFloat16, false, 130, new Conv2dShape(16, 2, 1, 1, 32, 32, paddingHeight: 1, paddingWidth: 1) },
        new object[] { ElementType.Float16, true, 130, new Conv2dShape(16, 2, 1, 1, 32, 32, paddingHeight: 1, paddingWidth: 1) },
        new object[] { ElementType.Float16, false, 4, new Conv2dShape(3, 5, 3, 3, 10, 10, paddingHeight: 1, paddingWidth: 1) },
        new object[] { ElementType.BFloat16, true, 3, new Conv2dShape(4, 6, 2, 3, 9, 8, strideHeight: 2, paddingWidth: 1, dilationWidth: 2, groups: 2) },
        new object[] { ElementType.Float16, false, 3, new Conv2dShape(4, 6, 2, 3, 9, 8, strideHeight: 2, paddingWidth: 1, dilationWidth: 2, groups: 2) },
    ];

    [TestCaseSource(nameof(Conv2dCases))]
    public void Conv2d_AndBackward_MatchReference(ElementType type, bool frozenSixteenBitWeight, int images, Conv2dShape shape)
    {
        RequirePath(type, SixteenBitOperation.Conv2d);
        var random = new Random(13 + images);
        float[] x = Floats(random, images * shape.InputImageLength), gy = Floats(random, images * shape.OutputImageLength);
        float[] w = Floats(random, shape.WeightLength), bias = Floats(random, shape.OutChannels);
        ElementType weightType = frozenSixteenBitWeight ? type : ElementType.Float32;
        (float[] y, float[] gx, float[] gw, float[] gb) Run(BoftBackend backend)
        {
            using Tensor tx = backend.Upload(x, type, images, shape.InputImageLength), tgy = backend.Upload(gy, type, images, shape.OutputImageLength);
            using Tensor tw = backend.Upload(w, weightType, shape.OutChannels, shape.FilterDimension), tb = backend.Upload(bias, weightType, shape.OutChannels);
            using Tensor ty = backend.Allocate(type, images, shape.OutputImageLength), tgx = backend.Allocate(type, images, shape.InputImageLength);
            using Tensor tgw = backend.Allocate(shape.OutChannels, shape.FilterDimension), tgb = backend.Allocate(shape.OutChannels);
            backend.Conv2d(shape, tx, tw, tb, ty);
            backend.Conv2dBackwardInput(shape, tgy, tw, tgx);
            backend.Conv2dBackwardWeight(shape, tgy, tx, tgw, tgb);
            return (ty.ToArray(), tgx.ToArray(), tgw.ToArray(), tgb.ToArray());
        }
        var actual = Run(Backend);
        var expected = Run(Reference);
        CheckSixteenBit(actual.y, expected.y, type, "y");
        CheckSixteenBit(actual.gx, expected.gx, type, "gradInput");
        CheckFloat32(actual.gw, expected.gw, images * shape.OutputPixels, "gradWeight");
        CheckFloat32(actual.gb, expected.gb, images * shape.OutputPixels, "gradBias");
    }

    [Test]
    public void Conv2d_RefusesMixedTypes()
    {
        RequirePath(ElementType.BFloat16, SixteenBitOperation.Conv2d);
        var shape = new Conv2dShape(2, 2, 1, 1, 2, 2);
        using Tensor x = Backend.Allocate(ElementType.BFloat16, 1, 8), y32 = Backend.Allocate(1, 8), w = Backend.Allocate(2, 2);
        using Tensor wHalf = Backend.Allocate(ElementType.Float16, 2, 2), gw16 = Backend.Allocate(ElementType.BFloat16, 2, 2);
        var output = Assert.Throws<ArgumentException>(() => Backend.Conv2d(shape, x, w, null, y32))!;
        Assert.That(output.ParamName, Is.EqualTo("output"));
        Assert.That(output.Message, Does.Contain("Float32").And.Contain("BFloat16"));
        var weight = Assert.Throws<ArgumentException>(() => Backend.Conv2d(shape, x, wHalf, null, x))!;
        Assert.That(weight.ParamName, Is.EqualTo("weight"));
        Assert.That(weight.Message, Does.Contain("Float16").And.Contain("BFloat16"));
        var gradWeight = Assert.Throws<ArgumentException>(() => Backend.Conv2dBackwardWeight(shape, x, x, gw16, null))!;
        Assert.That(gradWeight.ParamName, Is.EqualTo("gradWeight"));
        Assert.That(gradWeight.Message, Does.Contain("must be Float32"));
    }

    [TestCaseSource(nameof(SixteenBitTypes))]
    public void ScaleBias_AndBackward_MatchReference(ElementType type)
    {
        RequirePath(type, SixteenBitOperation.ScaleBias);
        var random = new Random(9);
        int rows = 700, n = 128;
        float[] x = Floats(random, rows * n), gy = Floats(random, rows * n), s = Floats(random, n), bias = Floats(random, n);
        (float[] y, float[] gx, float[] gs, float[] gb) Run(BoftBackend backend)
        {
            using Tensor tx = backend.Upload(x, type, rows, n), tgy = backend.Upload(gy, type, rows, n), tbias = backend.Upload(bias, type, n);
            using Tensor ts = backend.Upload(s, n), tgs = backend.Allocate(n), tgb = backend.Allocate(n);
            using Tensor ty = backend.Allocate(type, rows, n), tgx = backend.Allocate(type, rows, n);
            backend.ScaleBias(tx, ts, tbias, ty);
            backend.ScaleBiasBackward(tx, ts, tgy, tgx, tgs, tgb);
            return (ty.ToArray(), tgx.ToArray(), tgs.ToArray(), tgb.ToArray());
        }
        var actual = Run(Backend);
        var expected = Run(Reference);
        CheckSixteenBit(actual.y, expected.y, type, "y");
        CheckSixteenBit(actual.gx, expected.gx, type, "gradInput");
        CheckFloat32(actual.gs, expected.gs, rows, "gradScale");
        CheckFloat32(actual.gb, expected.gb, rows, "gradBias");
    }

    [TestCaseSource(nameof(SixteenBitTypes))]
    public void AnomalyDetection_ChecksSixteenBitLayers(ElementType type)
    {
        // Anomaly mode reads every op's output through SumOfSquares, which must take the layer's 16-bit activations.
        RequirePath(type, SixteenBitOperation.Rotation);
        RequirePath(type, SixteenBitOperation.Linear);
        int d = 16, n = 8, rows = 3;
        var random = new Random(13);
        using var layer = new Boft.Layers.BoftLinear(Backend, new BoftConfig(d, BlockSize: 4, FactorCount: 2), n, Floats(random, n * d), activationType: type);
        using Tensor x = Backend.Upload(Floats(random, rows * d), type, rows, d), y = Backend.Allocate(type, rows, n);
        float[] bad = Floats(random, rows * d);
        bad[5] = float.NaN;
        using Tensor xBad = Backend.Upload(bad, type, rows, d);
        using (Boft.Training.AnomalyDetection.Enable())
        {
            layer.Forward(x, y);
            Assert.That(Backend.SumOfSquares(y), Is.EqualTo(y.ToArray().Sum(v => (double)v * v)).Within(1e-9).Percent);
            var error = Assert.Throws<Boft.Training.NonFiniteValueException>(() => layer.Forward(xBad, y))!;
            Assert.That(error.Message, Does.Contain("input (non-finite before this layer)"));
        }
    }

    [Test]
    public void TypeErrors_NameTheArgumentAndBothTypes()
    {
        RequirePath(ElementType.BFloat16, SixteenBitOperation.Rotation);
        var shape = new BoftConfig(16, BlockSize: 4, FactorCount: 2).Resolve();
        using Tensor x = Backend.Allocate(ElementType.BFloat16, 3, 16), y32 = Backend.Allocate(3, 16), yHalf = Backend.Allocate(ElementType.Float16, 3, 16);
        using Tensor blocks = Backend.Allocate(2, shape.Rotation.BlockCount, 4, 4);
        using Tensor blocks16 = Backend.Allocate(ElementType.BFloat16, 2, shape.Rotation.BlockCount, 4, 4);
        using Tensor parameters16 = Backend.Allocate(ElementType.BFloat16, shape.Cayley.ParameterBlockCount, shape.Cayley.ParameterBlockLength);
        var mixed = Assert.Throws<ArgumentException>(() => Backend.Rotate(shape.Rotation, x, blocks, false, y32))!;
        Assert.That(mixed.ParamName, Is.EqualTo("output"));
        Assert.That(mixed.Message, Does.Contain("output is Float32 but input is BFloat16"));
        var mixed16 = Assert.Throws<ArgumentException>(() => Backend.Rotate(shape.Rotation, x, blocks, false, yHalf))!;
        Assert.That(mixed16.Message, Does.Contain("output is Float16 but input is BFloat16"));
        var blocksType = Assert.Throws<ArgumentException>(() => Backend.Rotate(shape.Rotation, x, blocks16, false, x))!;
        Assert.That(blocksType.ParamName, Is.EqualTo("blocks"));
        Assert.That(blocksType.Message, Does.Contain("is BFloat16 but must be Float32"));
        var cayley = Assert.Throws<ArgumentException>(() => Backend.CayleyForward(shape.Cayley, parameters16, null, blocks))!;
        Assert.That(cayley.ParamName, Is.EqualTo("parameters"));
        var scale = Assert.Throws<ArgumentException>(() => Backend.Scale(x, 2f))!;
        Assert.That(scale.Message, Does.Contain("no 16-bit path"));
    }

    internal static float[] Floats(Random random, int length) => Array.ConvertAll(BackendOracle.Random(random, length), v => (float)v);

    internal static void CheckSixteenBit(float[] actual, float[] expected, ElementType type, string name)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), name);
        double scale = expected.Max(v => Math.Abs((double)v));
        int mantissaBits = type == ElementType.BFloat16 ? 8 : 11;
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double e = expected[i];
            double ulp = e == 0 ? Math.Pow(2, -24) : Math.Pow(2, Math.Floor(Math.Log2(Math.Abs(e))) + 1 - mantissaBits);
            double excess = Math.Abs(actual[i] - e) - (ulp + 1e-5 * scale);
            if (excess > worstExcess)
            {
                worstExcess = excess;
                worst = i;
            }
        }
        Assert.That(worst, Is.EqualTo(-1), worst < 0 ? name : $"{name}[{worst}] = {actual[worst]} but the reference has {expected[worst]} ({type}: more than one ulp apart)");
    }

    internal static void CheckFloat32(float[] actual, float[] expected, int reductionLength, string name)
    {
        double[] e = Array.ConvertAll(expected, v => (double)v);
        (double atol, double rtol) = BackendOracle.Tolerance(e, reductionLength);
        Compare.AllClose(Array.ConvertAll(actual, v => (double)v), e, atol, rtol, name, "16-bit path");
    }
}
