// Algebraic properties of the Conv2d reference and of the conv adapter layers (double reference, plus the SIMD backend for
// the layers): a 1×1 convolution is a Linear map over channels; im2col · Wᵀ equals the direct loops; a grouped convolution is
// the concatenation of its groups' convolutions; the two backward ops are the adjoints of the forward
// (⟨conv(x, W), g⟩ = ⟨x, ∂x⟩ = ⟨W, ∂W⟩); an identity-initialized adapter reproduces the base convolution; merged and
// unmerged forwards agree on shapes PEFT cannot express. Tolerance 1e-10 absolute + 1e-10 relative for the double
// identities (sums of ≤ 10³ O(1) terms; different summation orders differ by ~1e-13); 2e-5 + 1e-5 for float32 layers
// (the golden suite's forward tolerance).

using Boft.Backends;
using Boft.Kernels.Simd;
using Boft.Layers;
using Boft.Reference;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.Reference;

[TestFixture]
public sealed class Conv2dPropertyTests
{
    private const double Atol = 1e-10, Rtol = 1e-10;

    [Test]
    public void PointwiseConvolution_IsLinearOverChannels()
    {
        var shape = Conv2dShape.Square(5, 3, 1, 4, 3);
        var random = new Random(1);
        const int batch = 2;
        double[] x = Random(random, batch * shape.InputImageLength), w = Random(random, shape.WeightLength);
        var y = new double[batch * shape.OutputImageLength];
        Conv2dReference.Forward(shape, batch, x, w, [], y);
        int pixels = shape.OutputPixels;
        var rows = new double[batch * pixels * 5];
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < 5; c++)
                for (int p = 0; p < pixels; p++)
                    rows[(n * pixels + p) * 5 + c] = x[(n * 5 + c) * pixels + p];
        var linear = new double[batch * pixels * 3];
        LinearReference.Forward(rows, w, 5, linear);
        var expected = new double[y.Length];
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < 3; o++)
                for (int p = 0; p < pixels; p++)
                    expected[(n * 3 + o) * pixels + p] = linear[(n * pixels + p) * 3 + o];
        Compare.AllClose(y, expected, Atol, Rtol, "1x1 conv vs Linear", shape.ToString());
    }

    [Test]
    public void Im2Col_TimesWeight_EqualsDirectLoops()
    {
        var shape = new Conv2dShape(3, 4, 3, 2, 7, 6, strideHeight: 2, strideWidth: 1, paddingHeight: 1, paddingWidth: 2, dilationHeight: 2, dilationWidth: 1);
        var random = new Random(2);
        const int batch = 3;
        double[] x = Random(random, batch * shape.InputImageLength), w = Random(random, shape.WeightLength);
        var y = new double[batch * shape.OutputImageLength];
        Conv2dReference.Forward(shape, batch, x, w, [], y);
        int d = shape.FilterDimension, pixels = shape.OutputPixels;
        var patches = new double[batch * pixels * d];
        Conv2dReference.Im2Col(shape, batch, x, patches);
        var linear = new double[batch * pixels * 4];
        LinearReference.Forward(patches, w, d, linear);
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < 4; o++)
                for (int p = 0; p < pixels; p++)
                    Assert.That(linear[(n * pixels + p) * 4 + o], Is.EqualTo(y[(n * 4 + o) * pixels + p]).Within(1e-12), $"n={n} o={o} p={p}");
    }

    [Test]
    public void GroupedConvolution_IsTheConcatenationOfItsGroups()
    {
        var grouped = new Conv2dShape(6, 4, 3, 3, 5, 5, paddingHeight: 1, paddingWidth: 1, groups: 2);
        var single = new Conv2dShape(3, 2, 3, 3, 5, 5, paddingHeight: 1, paddingWidth: 1);
        var random = new Random(3);
        double[] x = Random(random, grouped.InputImageLength), w = Random(random, grouped.WeightLength), b = Random(random, 4);
        var y = new double[grouped.OutputImageLength];
        Conv2dReference.Forward(grouped, 1, x, w, b, y);
        int plane = 25, half = grouped.WeightLength / 2;
        for (int g = 0; g < 2; g++)
        {
            var part = new double[single.OutputImageLength];
            Conv2dReference.Forward(single, 1, x.AsSpan(g * 3 * plane, 3 * plane), w.AsSpan(g * half, half), b.AsSpan(g * 2, 2), part);
            Compare.AllClose(y.AsSpan(g * single.OutputImageLength, single.OutputImageLength), part, Atol, Rtol, $"group {g}", grouped.ToString());
        }
    }

    [Test]
    public void BackwardOps_AreTheAdjointsOfTheForward()
    {
        var shape = new Conv2dShape(4, 6, 2, 3, 6, 7, strideHeight: 2, strideWidth: 3, paddingHeight: 1, paddingWidth: 1, dilationHeight: 1, dilationWidth: 2, groups: 2);
        var random = new Random(4);
        const int batch = 2;
        double[] x = Random(random, batch * shape.InputImageLength), w = Random(random, shape.WeightLength), g = Random(random, batch * shape.OutputImageLength);
        var y = new double[g.Length];
        Conv2dReference.Forward(shape, batch, x, w, [], y);
        var gx = new double[x.Length];
        var gw = new double[w.Length];
        Conv2dReference.BackwardInput(shape, batch, g, w, gx);
        Conv2dReference.BackwardWeight(shape, batch, g, x, gw, []);
        double forward = Dot(y, g);
        Assert.That(Dot(x, gx), Is.EqualTo(forward).Within(1e-10 * Math.Max(1, Math.Abs(forward))), "⟨x, ∂x⟩");
        Assert.That(Dot(w, gw), Is.EqualTo(forward).Within(1e-10 * Math.Max(1, Math.Abs(forward))), "⟨W, ∂W⟩");
    }

    [Test]
    public void IdentityAdapter_EqualsBaseConvolution_AndMergedEqualsUnmerged()
    {
        using var backend = new SimdBackend();
        var shape = new Conv2dShape(6, 6, 3, 2, 6, 5, strideHeight: 1, strideWidth: 2, paddingHeight: 2, paddingWidth: 1, dilationHeight: 2, dilationWidth: 1, groups: 3);
        var random = new Random(5);
        const int batch = 2;
        float[] x = Array.ConvertAll(Random(random, batch * shape.InputImageLength), v => (float)v);
        float[] w = Array.ConvertAll(Random(random, shape.WeightLength), v => (float)v);
        float[] b = Array.ConvertAll(Random(random, 6), v => (float)v);
        double[] expected = new double[batch * shape.OutputImageLength];
        Conv2dReference.Forward(shape, batch, Array.ConvertAll(x, v => (double)v), Array.ConvertAll(w, v => (double)v), Array.ConvertAll(b, v => (double)v), expected);
        using Tensor tx = backend.Upload(x, shape.InputDimensions(batch));
        using Tensor ty = backend.Allocate(shape.OutputDimensions(batch));
        using (var identity = new BoftConv2d(backend, shape, new BoftConfig(0, BlockSize: 2, FactorCount: 2), w, b))
        {
            identity.Forward(tx, ty);
            Compare.AllClose(ty.ToArray(), expected, 2e-5, 1e-5, "identity BOFT adapter vs base conv", shape.ToString());
        }
        using var trained = new BoftConv2d(backend, shape, new BoftConfig(0, BlockSize: 2, FactorCount: 2), w, b, new AdapterInitialization(Identity: false, Seed: 7));
        trained.IsTraining = false;
        trained.Forward(tx, ty);
        double[] unmerged = Array.ConvertAll(ty.ToArray(), v => (double)v);
        Assert.That(unmerged.Zip(expected).Max(p => Math.Abs(p.First - p.Second)), Is.GreaterThan(1e-2), "a random adapter must change the output");
        trained.Merge();
        trained.Forward(tx, ty);
        Compare.AllClose(ty.ToArray(), unmerged, 2e-5, 1e-5, "merged vs unmerged", shape.ToString());
        trained.Unmerge();
        Compare.AllClose(trained.BaseWeight.Value.ToArray(), Array.ConvertAll(w, v => (double)v), 2e-5, 1e-5, "unmerge(merge(W0))", shape.ToString());
    }

    [Test]
    public void Interpolation_AndDropout_ActThroughTheBlockMask()
    {
        using var backend = new SimdBackend();
        var shape = Conv2dShape.Square(4, 3, 2, 5, 5, padding: 1); // d = 16: BOFT b = 2, m = 3 (k = 8)
        var random = new Random(6);
        float[] x = Array.ConvertAll(Random(random, 2 * shape.InputImageLength), v => (float)v);
        float[] w = Array.ConvertAll(Random(random, shape.WeightLength), v => (float)v);
        double[] baseline = new double[2 * shape.OutputImageLength];
        Conv2dReference.Forward(shape, 2, Array.ConvertAll(x, v => (double)v), Array.ConvertAll(w, v => (double)v), [], baseline);
        using Tensor tx = backend.Upload(x, 2, shape.InputImageLength);
        using Tensor ty = backend.Allocate(2, shape.OutputImageLength);
        var config = new BoftConfig(0, BlockSize: 2, FactorCount: 3, Dropout: 0.25);
        using var layer = new BoftConv2d(backend, shape, config, w, initialization: new AdapterInitialization(Identity: false, Seed: 2));
        // boft_s ≠ 1 after random init: set it to 1 so that "all factors identity" must give the base conv exactly.
        layer.BoftS.Value.CopyFrom(Enumerable.Repeat(1f, 3).ToArray());
        layer.IsTraining = false;
        layer.IdentityFactorCount = 3;
        layer.Forward(tx, ty);
        Compare.AllClose(ty.ToArray(), baseline, 2e-5, 1e-5, "every factor interpolated to I = base conv", shape.ToString());
        Assert.That(layer.LastIdentityMask, Is.EqualTo(Enumerable.Repeat(1.0, 24).ToArray()));
        layer.IdentityFactorCount = 0;
        layer.IsTraining = true;
        layer.Forward(tx, ty);
        double[] mask = layer.LastIdentityMask!;
        Assert.That(mask.Sum(), Is.EqualTo(2), "dropout: floor(0.25·8) = 2 blocks of one factor replaced by I");
        Assert.That(Enumerable.Range(0, 3).Count(f => mask.Skip(f * 8).Take(8).Sum() > 0), Is.EqualTo(1), "exactly one factor");
        layer.IsTraining = false;
        layer.Forward(tx, ty);
        Assert.That(layer.LastIdentityMask, Is.Null, "no dropout in evaluation mode");
    }

    private static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += a[i] * b[i];
        return sum;
    }

    private static double[] Random(Random random, int length, double scale = 1.0)
    {
        var v = new double[length];
        for (int i = 0; i < length; i++)
            v[i] = scale * (2 * random.NextDouble() - 1);
        return v;
    }
}
