// The ILGPU backend's 16-bit path beyond the shared SixteenBitBackendTests (which run every 16-bit op on the default paths):
//   * the in-kernel conversions (ElementCodecs.cs, the same C# on the simulator and in PTX) against ElementConversions, bit for
//     bit, on every 16-bit pattern and on every rounding boundary of both types;
//   * the non-default kernel paths in 16-bit: the tiled GEMM (the simulator's default is the direct one, CUDA's is cuBLAS),
//     rotation tiles in the global workspace (SharedMemoryBytes = 0) and several gradBlocks reduction chunks;
//   * the training extras and Conv2d on forced paths: LinearBackwardWeight on the tiled GEMM with a float32 C, an in-place
//     16-bit Merge through the global-workspace rotation, Conv2d with a float32 weight beside a 16-bit bias and vice versa;
//   * the 16-bit overloads of the raw BoftKernels launchers (ReLU bits, float32-bias scale/bias, LinearBackwardWeight and the
//     Conv2d family included), and the 16-bit Wrap of caller views (ushort bits, ILGPU.Half) and
//     the typed views of a tensor, with their errors.
// Tolerances: those of SixteenBitBackendTests (1 ulp of the type + 1e-5·max for 16-bit outputs; BackendOracle's float32
// rule for float32 gradients), for the same reason: both sides round once.

using Boft.Backends;
using Boft.Kernels.Ilgpu;
using Boft.Tests.BackendOps;
using Boft.Tests.Infrastructure;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Tests.Ilgpu;

[TestFixture]
public sealed class ElementCodecTests
{
    [Test]
    public void Widen_EveryPattern_MatchesElementConversions()
    {
        for (int i = 0; i < 65536; i++)
        {
            ushort bits = (ushort)i;
            Same(new BFloat16Codec().Widen(bits), ElementConversions.BFloat16ToSingle(bits), $"bf16 0x{bits:X4}");
            Same(new Float16Codec().Widen(bits), ElementConversions.Float16ToSingle(bits), $"fp16 0x{bits:X4}");
        }
    }

    [Test]
    public void Narrow_EveryRoundingBoundary_MatchesElementConversions()
    {
        // For every non-NaN 16-bit value v and its successor: v itself, the exact midpoint (a tie), and the float32 neighbours of
        // the midpoint; plus random float32 bit patterns (NaNs, infinities, subnormals). bf16 boundaries are float32 values; fp16
        // boundaries reach into the float16 subnormals and the overflow threshold 65520.
        var values = new List<float>();
        foreach (ElementType type in new[] { ElementType.BFloat16, ElementType.Float16 })
        {
            for (int i = 0; i < 65535; i++)
            {
                float low = ElementConversions.ToSingle((ushort)i, type), high = ElementConversions.ToSingle((ushort)(i + 1), type);
                if (!float.IsFinite(low) || !float.IsFinite(high) || Math.Sign(low) != Math.Sign(high))
                    continue;
                float middle = (float)(((double)low + high) / 2);
                values.AddRange([low, middle, MathF.BitIncrement(middle), MathF.BitDecrement(middle)]);
            }
        }
        var random = new Random(17);
        for (int i = 0; i < 200_000; i++)
            values.Add(BitConverter.Int32BitsToSingle(random.Next(int.MinValue, int.MaxValue)));
        values.AddRange([65504f, 65519.996f, 65520f, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -0f, float.Epsilon,
            MathF.Pow(2, -25), MathF.BitIncrement(MathF.Pow(2, -25)), MathF.Pow(2, -24) * 1.5f, BitConverter.UInt32BitsToSingle(0x7F800001), BitConverter.UInt32BitsToSingle(0xFFC00001)]);
        int checkedValues = 0;
        foreach (float value in values)
        {
            Bits(new BFloat16Codec().Narrow(value), ElementConversions.SingleToBFloat16(value), ElementType.BFloat16, value);
            Bits(new Float16Codec().Narrow(value), ElementConversions.SingleToFloat16(value), ElementType.Float16, value);
            checkedValues++;
        }
        Assert.That(checkedValues, Is.GreaterThan(700_000));
    }

    private static void Same(float actual, float expected, string what)
    {
        if (BitConverter.SingleToUInt32Bits(actual) == BitConverter.SingleToUInt32Bits(expected))
            return; // the common case, without an NUnit assertion per value
        if (float.IsNaN(expected))
        {
            Assert.That(float.IsNaN(actual) && float.IsNegative(actual) == float.IsNegative(expected), Is.True, $"{what}: NaN of the same sign");
            return;
        }
        Assert.That(BitConverter.SingleToUInt32Bits(actual), Is.EqualTo(BitConverter.SingleToUInt32Bits(expected)), what);
    }

    private static void Bits(ushort actual, ushort expected, ElementType type, float value)
    {
        if (actual == expected && !float.IsNaN(value))
            return;
        string what = $"{type} of {value:R} (0x{BitConverter.SingleToUInt32Bits(value):X8})";
        if (float.IsNaN(value))
        {
            float widened = ElementConversions.ToSingle(actual, type);
            Assert.That(float.IsNaN(widened) && float.IsNegative(widened) == float.IsNegative(value), Is.True, $"{what}: NaN of the same sign");
            int quietBit = type == ElementType.BFloat16 ? 0x0040 : 0x0200;
            Assert.That(actual & quietBit, Is.Not.Zero, $"{what}: a quiet NaN");
            return;
        }
        Assert.That(actual, Is.EqualTo(expected), what);
    }
}

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.IlgpuWarp4AndCuda))]
public sealed class SixteenBitKernelTests(BackendCase backendCase) : IlgpuKernelTestBase(backendCase)
{
    [TestCase(ElementType.BFloat16)]
    [TestCase(ElementType.Float16)]
    public void ForcedPaths_TiledGemmGlobalRotationAndChunkedReductions_MatchReference(ElementType type)
    {
        var options = new BoftKernelOptions { Gemm = BoftGemm.Tiled, SharedMemoryBytes = 0, ReductionChunkCount = 3 };
        using var forced = new IlgpuBackend(Accelerator, "IlgpuForcedPaths", options);
        using var reference = new ReferenceBackend();
        var random = new Random(21);
        RotationShape shape = new BoftConfig(32, BlockSize: 4, FactorCount: 3).Resolve().Rotation;
        int rows = 7, d = 24, n = 20;
        double[] blocks = BackendOracle.OrthogonalBlocks(random, shape);
        float[] x = SixteenBitBackendTests.Floats(random, rows * 32), gy = SixteenBitBackendTests.Floats(random, rows * 32);
        float[] lx = SixteenBitBackendTests.Floats(random, rows * d), w = SixteenBitBackendTests.Floats(random, n * d), lgy = SixteenBitBackendTests.Floats(random, rows * n);
        float[] s = SixteenBitBackendTests.Floats(random, n), bias = SixteenBitBackendTests.Floats(random, n);
        Dictionary<string, float[]> Run(BoftBackend backend)
        {
            using Tensor tx = backend.Upload(x, type, rows, 32), tgy = backend.Upload(gy, type, rows, 32);
            using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), shape.FactorCount, shape.BlockCount, 4, 4);
            using Tensor ty = backend.Allocate(type, rows, 32), tyT = backend.Allocate(type, rows, 32), tgx = backend.Allocate(type, rows, 32);
            using Tensor tgb = backend.Allocate(shape.FactorCount, shape.BlockCount, 4, 4);
            backend.Rotate(shape, tx, tb, false, ty);
            backend.Rotate(shape, tx, tb, true, tyT);
            backend.RotateBackward(shape, tx, tb, tgy, tgx, tgb);
            using Tensor tlx = backend.Upload(lx, type, rows, d), tw = backend.Upload(w, type, n, d), tlgy = backend.Upload(lgy, type, rows, n);
            using Tensor tly = backend.Allocate(type, rows, n), tlgx = backend.Allocate(type, rows, d);
            backend.Linear(tlx, tw, tly);
            backend.LinearBackwardInput(tlgy, tw, tlgx);
            using Tensor ts = backend.Upload(s, n), tbias = backend.Upload(bias, type, n), tsy = backend.Allocate(type, rows, n);
            using Tensor tgs = backend.Allocate(n), tgbias = backend.Allocate(n);
            backend.ScaleBias(tly, ts, tbias, tsy);
            backend.ScaleBiasBackward(tly, ts, tlgy, tlgy, tgs, tgbias); // gradInput aliasing gradOutput, as the layers do
            return new()
            {
                ["y"] = ty.ToArray(), ["yT"] = tyT.ToArray(), ["gx"] = tgx.ToArray(), ["gBlocks"] = tgb.ToArray(), ["linear"] = tly.ToArray(),
                ["linearGx"] = tlgx.ToArray(), ["scaleBias"] = tsy.ToArray(), ["scaleBiasGx"] = tlgy.ToArray(), ["gs"] = tgs.ToArray(), ["gBias"] = tgbias.ToArray(),
            };
        }
        Dictionary<string, float[]> actual = Run(forced), expected = Run(reference);
        foreach (string name in new[] { "y", "yT", "gx", "linear", "linearGx", "scaleBias", "scaleBiasGx" })
            SixteenBitBackendTests.CheckSixteenBit(actual[name], expected[name], type, $"{name} ({type}, forced paths, {Case.Name})");
        SixteenBitBackendTests.CheckFloat32(actual["gBlocks"], expected["gBlocks"], rows, "gradBlocks");
        SixteenBitBackendTests.CheckFloat32(actual["gs"], expected["gs"], rows, "gradScale");
        SixteenBitBackendTests.CheckFloat32(actual["gBias"], expected["gBias"], rows, "gradBias");
    }

    [TestCase(ElementType.BFloat16)]
    [TestCase(ElementType.Float16)]
    public void ForcedPaths_TrainingExtrasAndMixedConvOperands_MatchReference(ElementType type)
    {
        // The paths the shared suites do not reach on the simulator: LinearBackwardWeight on the tiled GEMM with a float32 C
        // (accumulating into a non-zero gradient), Merge of a 16-bit weight in place through the global-workspace rotation, and
        // Conv2d with the weight and the bias of different types (float32 weight + 16-bit bias, 16-bit weight + float32 bias).
        var options = new BoftKernelOptions { Gemm = BoftGemm.Tiled, SharedMemoryBytes = 0 };
        using var forced = new IlgpuBackend(Accelerator, "IlgpuForcedPaths", options);
        using var reference = new ReferenceBackend();
        var random = new Random(31);
        int rows = 70, d = 24, n = 20; // 70 rows: two K slices of the tiled GEMM's TS = 4 tiles (depth 64) plus a ragged one
        float[] gy = SixteenBitBackendTests.Floats(random, rows * n), x = SixteenBitBackendTests.Floats(random, rows * d), gw0 = SixteenBitBackendTests.Floats(random, n * d);
        RotationShape shape = new BoftConfig(32, BlockSize: 4, FactorCount: 3).Resolve().Rotation;
        double[] blocks = BackendOracle.OrthogonalBlocks(random, shape);
        int outFeatures = 6;
        float[] w0 = SixteenBitBackendTests.Floats(random, outFeatures * 32), scale = SixteenBitBackendTests.Floats(random, outFeatures);
        var conv = new Conv2dShape(4, 6, 2, 3, 9, 8, strideHeight: 2, paddingWidth: 1, dilationWidth: 2, groups: 2);
        int images = 3;
        float[] cx = SixteenBitBackendTests.Floats(random, images * conv.InputImageLength), cgy = SixteenBitBackendTests.Floats(random, images * conv.OutputImageLength);
        float[] cw = SixteenBitBackendTests.Floats(random, conv.WeightLength), cb = SixteenBitBackendTests.Floats(random, conv.OutChannels);
        Dictionary<string, float[]> Run(BoftBackend backend)
        {
            using Tensor tgy = backend.Upload(gy, type, rows, n), tx = backend.Upload(x, type, rows, d), tgw = backend.Upload(gw0, n, d);
            backend.LinearBackwardWeight(tgy, tx, tgw);
            using Tensor tw = backend.Upload(w0, type, outFeatures, 32), ts = backend.Upload(scale, outFeatures);
            using Tensor tb = backend.Upload(Array.ConvertAll(blocks, v => (float)v), shape.FactorCount, shape.BlockCount, 4, 4);
            backend.Merge(shape, tw, tb, ts, tw);
            using Tensor tcx = backend.Upload(cx, type, images, conv.InputImageLength), tcgy = backend.Upload(cgy, type, images, conv.OutputImageLength);
            using Tensor w32 = backend.Upload(cw, conv.OutChannels, conv.FilterDimension), w16 = backend.Upload(cw, type, conv.OutChannels, conv.FilterDimension);
            using Tensor b32 = backend.Upload(cb, conv.OutChannels), b16 = backend.Upload(cb, type, conv.OutChannels);
            using Tensor y1 = backend.Allocate(type, images, conv.OutputImageLength), y2 = backend.Allocate(type, images, conv.OutputImageLength);
            using Tensor y3 = backend.Allocate(type, images, conv.OutputImageLength), gx = backend.Allocate(type, images, conv.InputImageLength);
            backend.Conv2d(conv, tcx, w32, b16, y1);
            backend.Conv2d(conv, tcx, w16, b32, y2);
            backend.Conv2d(conv, tcx, w16, null, y3);
            backend.Conv2dBackwardInput(conv, tcgy, w16, gx);
            return new()
            {
                ["gradWeight"] = tgw.ToArray(), ["merged"] = tw.ToArray(), ["y1"] = y1.ToArray(), ["y2"] = y2.ToArray(), ["y3"] = y3.ToArray(), ["gx"] = gx.ToArray(),
            };
        }
        Dictionary<string, float[]> actual = Run(forced), expected = Run(reference);
        SixteenBitBackendTests.CheckFloat32(actual["gradWeight"], expected["gradWeight"], rows, $"gradWeight ({type}, tiled GEMM, float32 C)");
        foreach (string name in new[] { "merged", "y1", "y2", "y3", "gx" })
            SixteenBitBackendTests.CheckSixteenBit(actual[name], expected[name], type, $"{name} ({type}, forced paths, {Case.Name})");
    }

    [Test]
    public void RawKernels_TrainingExtrasAndConv_MatchTheBackendBitForBit()
    {
        // The new 16-bit overloads on raw views run the same kernels as the backend's tensors: the bits agree exactly.
        const ElementType type = ElementType.BFloat16;
        var random = new Random(29);
        int rows = 5, d = 8, n = 6;
        float[] xf = SixteenBitBackendTests.Floats(random, rows * d);
        xf[0] = -0f;
        xf[1] = float.NaN;
        ushort[] x = Array.ConvertAll(xf, v => ElementConversions.SingleToBFloat16(v));
        ushort[] gy = Array.ConvertAll(SixteenBitBackendTests.Floats(random, rows * d), v => ElementConversions.SingleToBFloat16(v));
        ushort[] go = Array.ConvertAll(SixteenBitBackendTests.Floats(random, rows * n), v => ElementConversions.SingleToBFloat16(v));
        float[] bias = SixteenBitBackendTests.Floats(random, d), scale = SixteenBitBackendTests.Floats(random, d);
        using MemoryBuffer1D<ushort, Stride1D.Dense> xs = Accelerator.Allocate1D(x), gys = Accelerator.Allocate1D(gy), gos = Accelerator.Allocate1D(go);
        using MemoryBuffer1D<ushort, Stride1D.Dense> relu = Accelerator.Allocate1D<ushort>(rows * d), reluGrad = Accelerator.Allocate1D<ushort>(rows * d);
        using MemoryBuffer1D<ushort, Stride1D.Dense> scaled = Accelerator.Allocate1D<ushort>(rows * d);
        ArrayView<float> biasView = Upload(bias), scaleView = Upload(scale), gradWeight = Zeros(n * d);
        Kernels.Relu(xs.View, type, relu.View);
        Kernels.ReluBackward(xs.View, type, gys.View, reluGrad.View);
        Kernels.ScaleBiasWithFloat32Bias(xs.View, type, d, scaleView, biasView, scaled.View);
        Kernels.LinearBackwardWeight(gos.View, type, xs.View, d, n, gradWeight);

        var conv = new Conv2dShape(2, 2, 3, 3, 4, 4, paddingHeight: 1, paddingWidth: 1);
        ushort[] cx = Array.ConvertAll(SixteenBitBackendTests.Floats(random, 2 * conv.InputImageLength), v => ElementConversions.SingleToBFloat16(v));
        float[] cw = SixteenBitBackendTests.Floats(random, conv.WeightLength), cb = SixteenBitBackendTests.Floats(random, conv.OutChannels);
        using MemoryBuffer1D<ushort, Stride1D.Dense> cxs = Accelerator.Allocate1D(cx), cys = Accelerator.Allocate1D<ushort>(2 * conv.OutputImageLength);
        using MemoryBuffer1D<ushort, Stride1D.Dense> cgx = Accelerator.Allocate1D<ushort>(2 * conv.InputImageLength);
        ArrayView<float> cwView = Upload(cw), cbView = Upload(cb), cgw = Zeros(conv.WeightLength), cgb = Zeros(conv.OutChannels);
        Kernels.Conv2d(conv, cxs.View, type, cwView, cbView, cys.View);
        Kernels.Conv2dBackwardInput(conv, cys.View, type, cwView, cgx.View);
        Kernels.Conv2dBackwardWeight(conv, cys.View, type, cxs.View, cgw, cgb);

        using Tensor tx = Backend.UploadBits(x, type, rows, d), tgy = Backend.UploadBits(gy, type, rows, d), tgo = Backend.UploadBits(go, type, rows, n);
        using Tensor tb = Backend.Upload(bias, d), ts = Backend.Upload(scale, d), tgw = Backend.Allocate(n, d);
        using Tensor trelu = Backend.Allocate(type, rows, d), treluGrad = Backend.Allocate(type, rows, d), tscaled = Backend.Allocate(type, rows, d);
        Backend.Relu(tx, trelu);
        Backend.ReluBackward(tx, tgy, treluGrad);
        Backend.ScaleBias(tx, ts, tb, tscaled);
        Backend.LinearBackwardWeight(tgo, tx, tgw);
        using Tensor tcx = Backend.UploadBits(cx, type, 2, conv.InputImageLength), tcw = Backend.Upload(cw, conv.OutChannels, conv.FilterDimension), tcb = Backend.Upload(cb, conv.OutChannels);
        using Tensor tcy = Backend.Allocate(type, 2, conv.OutputImageLength), tcgx = Backend.Allocate(type, 2, conv.InputImageLength);
        using Tensor tcgw = Backend.Allocate(conv.OutChannels, conv.FilterDimension), tcgb = Backend.Allocate(conv.OutChannels);
        Backend.Conv2d(conv, tcx, tcw, tcb, tcy);
        Backend.Conv2dBackwardInput(conv, tcy, tcw, tcgx);
        Backend.Conv2dBackwardWeight(conv, tcy, tcx, tcgw, tcgb);

        static ushort[] BitsOf(Tensor tensor)
        {
            var bits = new ushort[tensor.Length];
            tensor.CopyBitsTo(bits);
            return bits;
        }
        Assert.That(relu.GetAsArray1D(), Is.EqualTo(BitsOf(trelu)), "relu");
        Assert.That(relu.GetAsArray1D()[0], Is.Zero, "relu(−0) = +0");
        Assert.That(relu.GetAsArray1D()[1], Is.EqualTo(x[1]), "relu(NaN) keeps the NaN");
        Assert.That(reluGrad.GetAsArray1D(), Is.EqualTo(BitsOf(treluGrad)), "relu backward");
        Assert.That(scaled.GetAsArray1D(), Is.EqualTo(BitsOf(tscaled)), "scale/bias with a float32 bias");
        Assert.That(DownloadRaw(gradWeight), Is.EqualTo(tgw.ToArray()), "LinearBackwardWeight");
        Assert.That(cys.GetAsArray1D(), Is.EqualTo(BitsOf(tcy)), "conv forward");
        Assert.That(cgx.GetAsArray1D(), Is.EqualTo(BitsOf(tcgx)), "conv input gradient");
        Assert.That(DownloadRaw(cgw), Is.EqualTo(tcgw.ToArray()), "conv weight gradient");
        Assert.That(DownloadRaw(cgb), Is.EqualTo(tcgb.ToArray()), "conv bias gradient");

        var wrongType = Assert.Throws<ArgumentOutOfRangeException>(() => Kernels.Relu(xs.View, ElementType.Float32, relu.View))!;
        Assert.That(wrongType.ParamName, Is.EqualTo("elementType"));
        Assert.That(() => Kernels.Conv2dBackwardWeight(conv, cys.View, ElementType.Float32, cxs.View, cgw, cgb),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("elementType"));
        var length = Assert.Throws<ArgumentException>(() => Kernels.LinearBackwardWeight(gos.View, type, xs.View, d, n + 1, gradWeight))!;
        Assert.That(length.ParamName, Is.EqualTo("gradWeight"));
        var bias0 = Assert.Throws<ArgumentException>(() => Kernels.ScaleBiasWithFloat32Bias(xs.View, type, d, scaleView, default, scaled.View))!;
        Assert.That(bias0.ParamName, Is.EqualTo("bias"));
    }

    [Test]
    public void RawKernels_SixteenBitOverloads_MatchTheBackendBitForBit()
    {
        // The pipeline API on raw views: the same kernels as the backend's tensors, so the bits agree exactly.
        RotationShape shape = new BoftConfig(16, BlockSize: 4, FactorCount: 2).Resolve().Rotation;
        var random = new Random(23);
        int rows = 5, n = 6;
        ushort[] x = Array.ConvertAll(SixteenBitBackendTests.Floats(random, rows * 16), v => ElementConversions.SingleToFloat16(v));
        ushort[] w = Array.ConvertAll(SixteenBitBackendTests.Floats(random, n * 16), v => ElementConversions.SingleToFloat16(v));
        float[] blocks = Array.ConvertAll(BackendOracle.OrthogonalBlocks(random, shape), v => (float)v);
        using MemoryBuffer1D<ushort, Stride1D.Dense> xs = Accelerator.Allocate1D(x), ws = Accelerator.Allocate1D(w);
        using MemoryBuffer1D<ushort, Stride1D.Dense> ys = Accelerator.Allocate1D<ushort>(rows * 16), hs = Accelerator.Allocate1D<ushort>(rows * n);
        ArrayView<float> tb = Upload(blocks);
        Kernels.Rotate(shape, xs.View, ElementType.Float16, tb, false, ys.View);
        Kernels.Linear(ys.View, ElementType.Float16, ws.View, 16, n, hs.View);
        double sum = Kernels.SumOfSquares(hs.View, ElementType.Float16);

        using Tensor tx = Backend.UploadBits(x, ElementType.Float16, rows, 16), tw = Backend.UploadBits(w, ElementType.Float16, n, 16);
        using Tensor tblocks = Backend.Upload(blocks, shape.FactorCount, shape.BlockCount, 4, 4);
        using Tensor ty = Backend.Allocate(ElementType.Float16, rows, 16), th = Backend.Allocate(ElementType.Float16, rows, n);
        Backend.Rotate(shape, tx, tblocks, false, ty);
        Backend.Linear(ty, tw, th);
        var expected = new ushort[rows * n];
        th.CopyBitsTo(expected);
        Assert.That(hs.GetAsArray1D(), Is.EqualTo(expected));
        Assert.That(sum, Is.EqualTo(Backend.SumOfSquares(th)));
        var wrongType = Assert.Throws<ArgumentOutOfRangeException>(() => Kernels.Rotate(shape, xs.View, ElementType.Float32, tb, false, ys.View))!;
        Assert.That(wrongType.ParamName, Is.EqualTo("elementType"));
        var length = Assert.Throws<ArgumentException>(() => Kernels.Linear(ys.View, ElementType.Float16, ws.View, 16, n + 1, hs.View))!;
        Assert.That(length.ParamName, Is.EqualTo("weight"));
    }

    [Test]
    public void Wrap_SixteenBitViews_WorksInPlaceWithoutCopy()
    {
        float[] values = [1f, -2.5f, 0.1f, 3f, 1e-5f, -0f, 65504f, 7f];
        ushort[] bf16 = Array.ConvertAll(values, v => ElementConversions.SingleToBFloat16(v));
        using MemoryBuffer1D<ushort, Stride1D.Dense> bits = Accelerator.Allocate1D(bf16);
        using (IlgpuTensor wrapped = Backend.Wrap(bits.View, ElementType.BFloat16, 2, 4))
        {
            Assert.That(wrapped.OwnsMemory, Is.False);
            Assert.That(wrapped.ElementType, Is.EqualTo(ElementType.BFloat16));
            Assert.That(wrapped.ToArray(), Is.EqualTo(Array.ConvertAll(bf16, ElementConversions.BFloat16ToSingle)));
            Assert.That(Backend.SumOfSquares(wrapped), Is.EqualTo(Array.ConvertAll(bf16, ElementConversions.BFloat16ToSingle).Sum(v => (double)v * v)).Within(1e-12).Percent);
            Backend.Fill(wrapped, 1.00390625f); // 1 + 2^-8: a bf16 tie, rounds to even (1.0)
            Assert.That(wrapped.BitsView.Length, Is.EqualTo(8));
        }
        Accelerator.Synchronize();
        Assert.That(bits.GetAsArray1D(), Is.All.EqualTo((ushort)0x3F80), "the caller's memory was written, the fill value rounded once (RNE)");

        ILGPU.Half[] halves = Array.ConvertAll(values, v => Interop.IntAsFloat(ElementConversions.SingleToFloat16(v)));
        using MemoryBuffer1D<ILGPU.Half, Stride1D.Dense> halfBuffer = Accelerator.Allocate1D(halves);
        using IlgpuTensor fp16 = Backend.Wrap(halfBuffer.View, 8);
        Assert.That(fp16.ElementType, Is.EqualTo(ElementType.Float16));
        float[] expected = Array.ConvertAll(values, v => ElementConversions.Float16ToSingle(ElementConversions.SingleToFloat16(v)));
        Assert.That(fp16.ToArray(), Is.EqualTo(expected), "ILGPU.Half bits are IEEE binary16 bits");
        using Tensor copy = Backend.Allocate(ElementType.Float16, 8);
        Backend.Copy(fp16, copy);
        Assert.That(copy.ToArray(), Is.EqualTo(expected));
        Assert.That(fp16.HalfView.Length, Is.EqualTo(8));
        Assert.That(((IlgpuTensor)copy).OwnsMemory, Is.True);
    }

    [Test]
    public void Wrap_AndTypedViews_ThrowClearExceptions()
    {
        using MemoryBuffer1D<ushort, Stride1D.Dense> bits = Accelerator.Allocate1D<ushort>(8);
        var notSixteen = Assert.Throws<ArgumentOutOfRangeException>(() => Backend.Wrap(bits.View, ElementType.Float32, 2, 4))!;
        Assert.That(notSixteen.ParamName, Is.EqualTo("elementType"));
        var length = Assert.Throws<ArgumentException>(() => Backend.Wrap(bits.View, ElementType.Float16, 3, 4))!;
        Assert.That(length.ParamName, Is.EqualTo("view"));
        Assert.That(length.Message, Does.Contain("[8] (8 elements)").And.Contain("[3, 4] needs 12"));
        Assert.That(() => Backend.Wrap(default(ArrayView<ushort>), ElementType.BFloat16, 0), Throws.ArgumentException.With.Property("ParamName").EqualTo("view"));
        using var bf16 = (IlgpuTensor)Backend.Allocate(ElementType.BFloat16, 2, 4);
        using var fp32 = (IlgpuTensor)Backend.Allocate(2, 4);
        Assert.That(() => bf16.View, Throws.InvalidOperationException.With.Message.Contains("BFloat16"));
        Assert.That(() => bf16.Buffer, Throws.InvalidOperationException.With.Message.Contains("BitsView"));
        Assert.That(() => bf16.HalfView, Throws.InvalidOperationException.With.Message.Contains("Float16 tensors"));
        Assert.That(() => fp32.BitsView, Throws.InvalidOperationException.With.Message.Contains("Float32"));
        Assert.That(Backend.Supports(ElementType.BFloat16) && Backend.Supports(ElementType.Float16), Is.True);
    }
}
