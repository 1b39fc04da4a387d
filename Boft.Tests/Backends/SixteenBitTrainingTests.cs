// The 16-bit training ops beyond the adapter's own forward and backward (docs/09_Mixed-precision.md), on every backend that
// has the path, against the reference backend: ScaleBias with a float32 (trainable) bias, Merge of a 16-bit weight (in place
// too), LinearBackwardWeight from 16-bit activations, ReLU and its backward on 16-bit bits (special values included), and
// Convert between every pair of types. Tolerances: SixteenBitBackendTests' (one ulp of the type plus 1e-5·max for 16-bit
// outputs, BackendOracle's float32 rule for float32 gradients); ReLU and Convert are exact (bit for bit).
// The chunked shapes span two chunks of the SIMD path's staging (2 Mi floats a chunk), so the per-chunk offsets are exercised;
// Merge runs the rotation's tiles (no chunks), so its rows span many row tiles instead.

using Boft.Backends;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.SixteenBitBackendTests;

namespace Boft.Tests.BackendOps;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class SixteenBitTrainingOpTests(BackendCase backendCase) : SixteenBitTestBase(backendCase)
{
    [TestCaseSource(nameof(SixteenBitTypes))]
    public void ScaleBias_WithAFloat32Bias_MatchesReference(ElementType type)
    {
        RequirePath(type, SixteenBitOperation.ScaleBiasWithFloat32Bias);
        var random = new Random(21);
        int rows = 17000, n = 128; // 2 Mi / 128 = 16384 rows a chunk: two chunks
        float[] x = Floats(random, rows * n), gy = Floats(random, rows * n), s = Floats(random, n);
        // A float32 bias with bits below the 16-bit precision: added in float32 before the one rounding, never rounded itself.
        float[] bias = Array.ConvertAll(Floats(random, n), v => v + 1e-3f / 3);
        (float[] y, float[] yInPlace, float[] gb) Run(BoftBackend backend)
        {
            using Tensor tx = backend.Upload(x, type, rows, n), tgy = backend.Upload(gy, type, rows, n);
            using Tensor ts = backend.Upload(s, n), tbias = backend.Upload(bias, n), tgb = backend.Allocate(n);
            using Tensor ty = backend.Allocate(type, rows, n), tInPlace = backend.Upload(x, type, rows, n);
            backend.ScaleBias(tx, ts, tbias, ty);
            backend.ScaleBias(tInPlace, null, tbias, tInPlace);
            backend.ScaleBiasBackward(tx, ts, tgy, null, null, tgb);
            Assert.That(ty.ElementType, Is.EqualTo(type));
            return (ty.ToArray(), tInPlace.ToArray(), tgb.ToArray());
        }
        var actual = Run(Backend);
        var expected = Run(Reference);
        CheckSixteenBit(actual.y, expected.y, type, "y");
        CheckSixteenBit(actual.yInPlace, expected.yInPlace, type, "y (in place, no scale)");
        CheckFloat32(actual.gb, expected.gb, rows, "gradBias");
        // The reference adds the unrounded float32 bias: against a 16-bit-rounded bias it differs somewhere.
        float[] rounded = Array.ConvertAll(bias, v => ElementConversions.Round(v, type));
        using Tensor rx = Reference.Upload(x, type, rows, n), rs = Reference.Upload(s, n), rb = Reference.Upload(rounded, type, n), ry = Reference.Allocate(type, rows, n);
        Reference.ScaleBias(rx, rs, rb, ry);
        Assert.That(ry.ToArray(), Is.Not.EqualTo(expected.y), "a float32 bias is not rounded before it is added");
    }

    [TestCaseSource(nameof(SixteenBitTypes))]
    public void Merge_OfASixteenBitWeight_MatchesReference_InPlaceToo(ElementType type)
    {
        RequirePath(type, SixteenBitOperation.Merge);
        var shape = new BoftConfig(64, BlockSize: 8, FactorCount: 2).Resolve().Rotation;
        var random = new Random(23);
        int n = 17000; // many row tiles of the rotation, the last one short; the per-row scale indexed by the tile's first row
        float[] w = Floats(random, n * 64), s = Floats(random, n);
        float[] blocks = Array.ConvertAll(BackendOracle.OrthogonalBlocks(random, shape), v => (float)v);
        (float[] merged, float[] inPlace) Run(BoftBackend backend)
        {
            using Tensor tw = backend.Upload(w, type, n, 64), tb = backend.Upload(blocks, shape.FactorCount, shape.BlockCount, 8, 8), ts = backend.Upload(s, n);
            using Tensor tout = backend.Allocate(type, n, 64), tInPlace = backend.Upload(w, type, n, 64);
            backend.Merge(shape, tw, tb, ts, tout);
            backend.Merge(shape, tInPlace, tb, ts, tInPlace);
            Assert.That(tout.ElementType, Is.EqualTo(type));
            return (tout.ToArray(), tInPlace.ToArray());
        }
        var actual = Run(Backend);
        var expected = Run(Reference);
        CheckSixteenBit(actual.merged, expected.merged, type, "merged weight");
        CheckSixteenBit(actual.inPlace, expected.inPlace, type, "merged weight (in place)");
    }

    [TestCaseSource(nameof(SixteenBitTypes))]
    public void LinearBackwardWeight_FromSixteenBitActivations_MatchesReference(ElementType type)
    {
        RequirePath(type, SixteenBitOperation.LinearBackwardWeight);
        var random = new Random(25);
        int rows = 22000, d = 96, n = 80; // 2 Mi / 96 = 21845 rows a chunk: two chunks accumulate into the float32 gradient
        float[] x = Floats(random, rows * d), gy = Floats(random, rows * n), start = Floats(random, n * d);
        float[] Run(BoftBackend backend)
        {
            using Tensor tx = backend.Upload(x, type, rows, d), tgy = backend.Upload(gy, type, rows, n), tgw = backend.Upload(start, n, d);
            backend.LinearBackwardWeight(tgy, tx, tgw);
            return tgw.ToArray();
        }
        CheckFloat32(Run(Backend), Run(Reference), rows, "gradWeight (accumulated onto a non-zero start)");
    }

    [TestCaseSource(nameof(SixteenBitTypes))]
    public void Relu_AndBackward_MatchReference_BitForBit(ElementType type)
    {
        RequirePath(type, SixteenBitOperation.Relu);
        var random = new Random(27);
        int length = 1000 + 37; // vector loop and scalar tail
        float[] x = Floats(random, length), g = Floats(random, length);
        float[] special = [0f, -0f, float.NaN, -float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-7f, -1e-7f, 1e-40f, -1e-40f];
        special.CopyTo(x, 0);
        special.CopyTo(x, length - special.Length);
        g[1] = -0f;
        (ushort[] y, ushort[] gx, ushort[] aliased) Run(BoftBackend backend)
        {
            using Tensor tx = backend.Upload(x, type, length), tg = backend.Upload(g, type, length);
            using Tensor ty = backend.Allocate(type, length), tgx = backend.Allocate(type, length), tAlias = backend.Upload(g, type, length);
            backend.Relu(tx, ty);
            backend.ReluBackward(tx, tg, tgx);
            backend.ReluBackward(tx, tAlias, tAlias);
            return (Bits(ty), Bits(tgx), Bits(tAlias));
        }
        var actual = Run(Backend);
        var expected = Run(Reference);
        Assert.Multiple(() =>
        {
            AssertBits(actual.y, expected.y, type, "relu");
            AssertBits(actual.gx, expected.gx, type, "relu backward");
            AssertBits(actual.aliased, expected.aliased, type, "relu backward (gradInput aliases gradOutput)");
        });
        // The reference is max(x, 0): −0, negatives and −∞ give +0, NaN stays NaN, positives are kept.
        float[] y = Array.ConvertAll(expected.y, b => ElementConversions.ToSingle(b, type));
        for (int i = 0; i < special.Length; i++)
        {
            float v = special[i], want = float.IsNaN(v) ? float.NaN : v > 0 ? ElementConversions.Round(v, type) : 0f;
            Assert.That(BitConverter.SingleToInt32Bits(y[i]) == BitConverter.SingleToInt32Bits(want) || (float.IsNaN(y[i]) && float.IsNaN(want)), Is.True,
                $"relu({v:R}) = {y[i]:R}, expected {want:R}");
        }
    }

    [Test]
    public void Convert_BetweenEveryPairOfTypes_MatchesReference_BitForBit()
    {
        RequireSupport(ElementType.BFloat16);
        var random = new Random(29);
        int length = 3001;
        float[] values = Floats(random, length);
        values[0] = 65520f; // overflows float16
        values[1] = float.NaN;
        values[2] = BitConverter.UInt32BitsToSingle(0x3F808000); // a bf16 tie
        ElementType[] types = [ElementType.Float32, ElementType.BFloat16, ElementType.Float16];
        foreach (ElementType from in types)
        {
            foreach (ElementType to in types)
            {
                float[] Run(BoftBackend backend)
                {
                    using Tensor source = backend.Upload(values, from, length), destination = backend.Allocate(to, length);
                    backend.Convert(source, destination);
                    return destination.ToArray();
                }
                float[] actual = Run(Backend), expected = Run(Reference);
                float[] direct = Array.ConvertAll(values, v => ElementConversions.Round(ElementConversions.Round(v, from), to));
                Assert.That(actual, Is.EqualTo(expected), $"{from} → {to} against the reference");
                Assert.That(actual, Is.EqualTo(direct), $"{from} → {to}: one rounding of the source value");
            }
        }
    }

    [Test]
    public void TypeErrors_NameTheArgumentAndBothTypes()
    {
        RequirePath(ElementType.BFloat16, SixteenBitOperation.Merge);
        RequirePath(ElementType.BFloat16, SixteenBitOperation.LinearBackwardWeight);
        RequirePath(ElementType.BFloat16, SixteenBitOperation.Relu);
        var shape = new BoftConfig(16, BlockSize: 4, FactorCount: 2).Resolve().Rotation;
        using Tensor x = Backend.Allocate(ElementType.BFloat16, 3, 16), half = Backend.Allocate(ElementType.Float16, 16), y32 = Backend.Allocate(3, 16);
        using Tensor w = Backend.Allocate(ElementType.BFloat16, 8, 16), w32 = Backend.Allocate(8, 16), w16 = Backend.Allocate(ElementType.BFloat16, 8, 16);
        using Tensor blocks = Backend.Allocate(2, shape.BlockCount, 4, 4), gy = Backend.Allocate(ElementType.BFloat16, 3, 8);
        var bias = Assert.Throws<ArgumentException>(() => Backend.ScaleBias(x, null, half, x))!;
        Assert.That(bias.ParamName, Is.EqualTo("bias"));
        Assert.That(bias.Message, Does.Contain("bias is Float16 but input is BFloat16"));
        var merge = Assert.Throws<ArgumentException>(() => Backend.Merge(shape, w, blocks, null, w32))!;
        Assert.That(merge.ParamName, Is.EqualTo("output"));
        Assert.That(merge.Message, Does.Contain("output is Float32 but weight is BFloat16"));
        var gradWeight = Assert.Throws<ArgumentException>(() => Backend.LinearBackwardWeight(gy, x, w16))!;
        Assert.That(gradWeight.ParamName, Is.EqualTo("gradWeight"));
        Assert.That(gradWeight.Message, Does.Contain("is BFloat16 but must be Float32"));
        var relu = Assert.Throws<ArgumentException>(() => Backend.Relu(x, y32))!;
        Assert.That(relu.Message, Does.Contain("output is Float32 but input is BFloat16"));
        var convert = Assert.Throws<ArgumentException>(() => Backend.Convert(x, half))!;
        Assert.That(convert.ParamName, Is.EqualTo("destination"));
    }

    private static ushort[] Bits(Tensor tensor)
    {
        var bits = new ushort[tensor.Length];
        tensor.CopyBitsTo(bits);
        return bits;
    }

    private static void AssertBits(ushort[] actual, ushort[] expected, ElementType type, string name)
    {
        for (int i = 0; i < actual.Length; i++)
        {
            bool bothNaN = float.IsNaN(ElementConversions.ToSingle(actual[i], type)) && float.IsNaN(ElementConversions.ToSingle(expected[i], type));
            if (actual[i] != expected[i] && !bothNaN)
            {
                Assert.Fail($"{name}[{i}]: 0x{actual[i]:X4} but the reference has 0x{expected[i]:X4}");
                return;
            }
        }
    }
}
