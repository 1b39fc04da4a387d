// GoldenSuite, Conv2d cases (conv_*; README "Conv2d cases"): PEFT's merged Conv2d, W' = (R · W_flatᵀ)ᵀ ⊙ boft_sᵀ, then
// conv2d(x, W', bias, stride, padding). Three paths:
//   Float64   the reference: R and W' from BoftReference/OftReference.Merge on the flattened weight, y and the input gradient
//             from Conv2dReference, and the adapter gradients by an independent route, the Linear closed-form backward on
//             the im2col patches (the README's equivalent form y = im2col(x)·R·W_flatᵀ·s + bias);
//   layers    BoftConv2d / OftConv2d on each backend: forward, blocks, R, W', every gradient, merge, merged forward, unmerge;
//   kernels   (ILGPU) the raw BoftKernels conv launchers and the adapter chain (Cayley → Merge; Rotate(Wᵀ) → RowScaleBackward
//             → RotateBackward → CayleyBackward) on ArrayViews.
// Tolerances: as for Linear (README: float32 abs 1e-5 forward, rel 1e-4 gradients) — the layer path reuses the Linear
// constants (forward atol 2e-5 + rtol 1e-5, gradients 2e-4·max|g| + rtol 1e-4: a conv gradient reduces over N·H_out·W_out
// ≤ 60 pixels and d ≤ 72 taps, as short as the Linear reductions); the kernel path its 5e-6·scale; float64 1e-10 + 1e-9.

using Boft.Backends;
using Boft.Layers;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using ILGPU;

namespace Boft.Tests.Golden;

public sealed partial class GoldenSuite
{
    private static void Float64Conv(GoldenCase c)
    {
        Conv2dShape conv = c.Convolution;
        int batch = c.ImageCount, n = conv.OutChannels, d = conv.FilterDimension, pixels = conv.OutputPixels, rows = batch * pixels;
        Assert.That(d, Is.EqualTo(c.Config.GetProperty("conv_filter_dim").GetInt32()), c.Name);
        double[] x = c.Data("x"), w0 = c.Data("W0"), bias = c.BiasOrEmpty, gy = c.Data("upstream_grad");
        var r = new double[d * d];
        var merged = new double[n * d];
        if (c.IsBoft)
        {
            BoftShape shape = c.BoftConfig.Resolve();
            BoftReference.Rotation(shape, c.Data("boft_R"), [], r);
            BoftReference.Merge(shape, w0, c.Data("boft_R"), c.Data("boft_s"), [], merged);
        }
        else
        {
            OftShape shape = c.OftConfig.Resolve();
            OftReference.Rotation(shape, c.Data("weight"), r);
            OftReference.Merge(shape, w0, c.Data("weight"), merged);
        }
        Close64(r, c, "R");
        Close64(merged, c, "merged_weight");
        var y = new double[batch * conv.OutputImageLength];
        Conv2dReference.Forward(conv, batch, x, merged, bias, y);
        Close64(y, c, "y");
        var gx = new double[x.Length];
        Conv2dReference.BackwardInput(conv, batch, gy, merged, gx);
        Close64(gx, c, "grad_x");
        var gb = new double[c.HasBias ? n : 0];
        Conv2dReference.BackwardWeight(conv, batch, gy, x, [], gb);
        if (c.HasBias)
            Close64(gb, c, "grad_bias");

        // Independent route: the Linear closed forms on the patches; y_lin[(n, p), o] = y[n, o, p].
        var patches = new double[rows * d];
        Conv2dReference.Im2Col(conv, batch, x, patches);
        var gyLinear = new double[rows * n];
        for (int image = 0; image < batch; image++)
            for (int o = 0; o < n; o++)
                for (int p = 0; p < pixels; p++)
                    gyLinear[(image * pixels + p) * n + o] = gy[(image * n + o) * pixels + p];
        var yLinear = new double[rows * n];
        var gPatches = new double[rows * d];
        var gBias = new double[c.HasBias ? n : 0];
        if (c.IsBoft)
        {
            BoftShape shape = c.BoftConfig.Resolve();
            double[] a = c.Data("boft_R"), s = c.Data("boft_s");
            BoftReference.Forward(shape, patches, w0, bias, a, s, [], yLinear);
            var gA = new double[a.Length];
            var gS = new double[n];
            BoftReference.Backward(shape, patches, w0, a, s, [], gyLinear, gA, gS, gPatches, gBias);
            Close64(gA, c, "grad_boft_R");
            Close64(gS, c, "grad_boft_s");
        }
        else
        {
            OftShape shape = c.OftConfig.Resolve();
            double[] weight = c.Data("weight");
            OftReference.Forward(shape, patches, w0, bias, weight, yLinear);
            var gW = new double[weight.Length];
            OftReference.Backward(shape, patches, w0, weight, gyLinear, gW, gPatches, gBias);
            Close64(gW, c, "grad_weight");
        }
        var yBack = new double[y.Length];
        for (int image = 0; image < batch; image++)
            for (int o = 0; o < n; o++)
                for (int p = 0; p < pixels; p++)
                    yBack[(image * n + o) * pixels + p] = yLinear[(image * pixels + p) * n + o];
        Compare.AllClose(yBack, c.Data("y"), Atol64, Rtol64, "y (im2col · Linear reference)", c.Name, c.Tensor("y").Shape);
    }

    private void LayerConv(GoldenCase c)
    {
        string context = Context(c);
        Conv2dShape conv = c.Convolution;
        int batch = c.ImageCount, n = conv.OutChannels, d = conv.FilterDimension;
        using AdapterConv2d layer = CreateConvLayer(c);
        using Tensor x = Upload(c.Data("x"), conv.InputDimensions(batch));
        using Tensor y = Backend.Allocate(conv.OutputDimensions(batch));
        layer.IsTraining = false;
        layer.Forward(x, y);
        double[] expectedBlocks = c.Data("blocks");
        Compare.AllClose(Download(layer.Blocks).AsSpan(0, expectedBlocks.Length), expectedBlocks, ForwardAtol, ForwardRtol, "blocks", context, c.Tensor("blocks").Shape);
        Compare.AllClose(DenseRotation(layer.Rotation, layer.Blocks), c.Data("R"), ForwardAtol, ForwardRtol, "R", context, [d, d]);
        Compare.AllClose(Download(layer.AdaptedWeight), c.Data("merged_weight"), ForwardAtol, ForwardRtol, "W' (forward)", context, c.Tensor("merged_weight").Shape);
        Compare.AllClose(Download(y), c.Data("y"), ForwardAtol, ForwardRtol, "y", context, c.Tensor("y").Shape);

        foreach (Boft.Training.Parameter p in layer.Parameters)
            p.ZeroGrad();
        using Tensor gradY = Upload(c.Data("upstream_grad"), conv.OutputDimensions(batch));
        using Tensor gradX = Backend.Allocate(conv.InputDimensions(batch));
        layer.Backward(gradY, gradX);
        CheckGradient(Download(layer.Rotations.RequiredGradient), c, c.IsBoft ? "grad_boft_R" : "grad_weight", context);
        if (layer is BoftConv2d boft)
        {
            Assert.That(boft.BoftS.Value.Shape.ToArray(), Is.EqualTo(c.Tensor("boft_s").Shape), $"boft_s layout [{context}]");
            CheckGradient(Download(boft.BoftS.RequiredGradient), c, "grad_boft_s", context);
        }
        CheckGradient(Download(gradX), c, "grad_x", context);
        if (c.HasBias)
            CheckGradient(Download(layer.Bias!.RequiredGradient), c, "grad_bias", context);

        layer.Merge();
        Compare.AllClose(Download(layer.BaseWeight.Value), c.Data("merged_weight"), ForwardAtol, ForwardRtol, "merged_weight", context, [n, d]);
        layer.Forward(x, y);
        Compare.AllClose(Download(y), c.Data("y"), ForwardAtol, ForwardRtol, "y (merged)", context, c.Tensor("y").Shape);
        layer.Unmerge();
        Compare.AllClose(Download(layer.BaseWeight.Value), c.Data("W0"), ForwardAtol, ForwardRtol, "unmerge(merge(W0))", context, [n, d]);
    }

    private AdapterConv2d CreateConvLayer(GoldenCase c)
    {
        float[] w0 = c.Tensor("W0").ToSingle();
        float[] bias = c.Has("bias") ? c.Tensor("bias").ToSingle() : [];
        if (c.IsBoft)
        {
            var layer = new BoftConv2d(Backend, c.Convolution, c.BoftConfig, w0, bias, trainBias: bias.Length > 0);
            layer.BoftR.CopyFrom(c.Tensor("boft_R").ToSingle());
            layer.BoftS.CopyFrom(c.Tensor("boft_s").ToSingle());
            return layer;
        }
        var oft = new OftConv2d(Backend, c.Convolution, c.OftConfig, w0, bias, trainBias: bias.Length > 0);
        oft.Weight.CopyFrom(c.Tensor("weight").ToSingle());
        return oft;
    }

    /// <summary>R through a backend: the rows of I rotated by <paramref name="blocks"/>.</summary>
    private double[] DenseRotation(RotationShape rotation, Tensor blocks)
    {
        int d = rotation.FeatureCount;
        var identity = new float[d * d];
        for (int i = 0; i < d; i++)
            identity[i * d + i] = 1;
        using Tensor eye = Backend.Upload(identity, d, d);
        using Tensor r = Backend.Allocate(d, d);
        Backend.Rotate(rotation, eye, blocks, transpose: false, r);
        return Download(r);
    }

    private void KernelsConv(GoldenCase c)
    {
        Conv2dShape conv = c.Convolution;
        int batch = c.ImageCount, n = conv.OutChannels, d = conv.FilterDimension;
        ArrayView<float> x = DeviceUpload(c.Data("x"));
        ArrayView<float> w0 = DeviceUpload(c.Data("W0"));
        ArrayView<float> bias = c.HasBias ? DeviceUpload(c.Data("bias")) : default;
        ArrayView<float> gy = DeviceUpload(c.Data("upstream_grad"));
        RotationShape rotation;
        CayleyShape cayley;
        ArrayView<float> raw, scale = default;
        if (c.IsBoft)
        {
            BoftShape shape = c.BoftConfig.Resolve();
            (rotation, cayley) = (shape.Rotation, shape.Cayley);
            raw = DeviceUpload(c.Data("boft_R"));
            scale = DeviceUpload(c.Data("boft_s"));
        }
        else
        {
            OftShape shape = c.OftConfig.Resolve();
            (rotation, cayley) = (shape.Rotation, shape.Cayley);
            raw = DeviceUpload(c.Data("weight"));
        }
        ArrayView<float> blocks = DeviceZeros(cayley.BlocksLength);
        Kernels.CayleyForward(cayley, raw, default, blocks);
        ArrayView<float> merged = DeviceZeros(n * d);
        Kernels.Merge(rotation, w0, blocks, scale, merged);
        KClose(merged, c, "merged_weight");
        ArrayView<float> y = DeviceZeros(batch * conv.OutputImageLength);
        Kernels.Conv2d(conv, x, merged, bias, y);
        KClose(y, c, "y");
        ArrayView<float> gx = DeviceZeros(batch * conv.InputImageLength);
        Kernels.Conv2dBackwardInput(conv, gy, merged, gx);
        KClose(gx, c, "grad_x");
        ArrayView<float> gMerged = DeviceZeros(n * d);
        ArrayView<float> gBias = c.HasBias ? DeviceZeros(n) : default;
        Kernels.Conv2dBackwardWeight(conv, gy, x, gMerged, gBias);
        if (c.HasBias)
            KClose(gBias, c, "grad_bias");
        ArrayView<float> rows = gMerged;
        ArrayView<float> rotated = DeviceZeros(n * d);
        if (c.IsBoft)
        {
            Kernels.Rotate(rotation, w0, blocks, transpose: true, rotated);
            ArrayView<float> gScale = DeviceZeros(n);
            rows = DeviceZeros(n * d);
            Kernels.RowScaleBackward(rotated, scale, gMerged, d, rows, gScale);
            KClose(gScale, c, "grad_boft_s");
        }
        ArrayView<float> gBlocks = DeviceZeros(rotation.BlocksLength);
        Kernels.RotateBackward(rotation, rows, blocks, w0, rotated, gBlocks);
        ArrayView<float> gRaw = DeviceZeros(cayley.ParametersLength);
        Kernels.CayleyBackward(cayley, raw, blocks, gBlocks, default, gRaw);
        KClose(gRaw, c, c.IsBoft ? "grad_boft_R" : "grad_weight");
    }
}
