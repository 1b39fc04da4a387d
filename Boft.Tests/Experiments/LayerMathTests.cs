// The main job's table math on fixed numbers (Boft.Experiments/Analysis): FLOPs, compulsory bytes, roofline bound and
// fraction, overhead, the memory model (ours and PEFT's) and the recommendation rule. Expected values worked by hand.

using Boft.Experiments.Analysis;

namespace Boft.Tests.Experiments;

[TestFixture]
public sealed class LayerMathTests
{
    private static readonly MethodConfig Boft24 = MethodConfig.Boft(2, 4), Oft4 = MethodConfig.Oft(4);

    [Test]
    public void Flops_OnFixedShapes()
    {
        // T = 2, d = 8, n = 3: GEMM 2·2·8·3 = 96, bias 2·3 = 6.
        Assert.That(LayerMath.Flops(LayerOp.FrozenForward, Oft4, 2, 8, 3), Is.EqualTo(102));
        Assert.That(LayerMath.Flops(LayerOp.MergedForward, Boft24, 2, 8, 3), Is.EqualTo(102));
        Assert.That(LayerMath.Flops(LayerOp.FrozenForwardBackward, Oft4, 2, 8, 3), Is.EqualTo(198));
        // BOFT(2,4) on d = 8: K = 4 blocks, Cayley 2·4·64 = 512, rotation 2·2·2·8·4 = 256, scale 6.
        Assert.That(LayerMath.Flops(LayerOp.AdaptedForward, Boft24, 2, 8, 3), Is.EqualTo(512 + 256 + 102 + 6));
        // + backward: scale 12, ∂(xR) 96, rotation 512, Cayley 1024.
        Assert.That(LayerMath.Flops(LayerOp.AdaptedForwardBackward, Boft24, 2, 8, 3), Is.EqualTo(876 + 12 + 96 + 512 + 1024));
        // OFT(4) on d = 8: K = 2 blocks, Cayley 256, rotation 2·1·2·8·4 = 128, no scale.
        Assert.That(LayerMath.Flops(LayerOp.AdaptedForward, Oft4, 2, 8, 3), Is.EqualTo(256 + 128 + 102));
    }

    [Test]
    public void Bytes_OnFixedShapes()
    {
        // x 4·16, W0 4·24, bias 4·3, y 4·6.
        Assert.That(LayerMath.Bytes(LayerOp.FrozenForward, Oft4, 2, 8, 3), Is.EqualTo(64 + 96 + 12 + 24));
        // OFT(4): 12 packed parameters (48 B), 2 blocks of 16 (128 B).
        Assert.That(LayerMath.Bytes(LayerOp.AdaptedForward, Oft4, 2, 8, 3), Is.EqualTo(196 + 48 + 128));
    }

    [Test]
    public void Roofline_BoundAndFraction()
    {
        Assert.That(LayerMath.RooflineGflops(100, 50, peakGflops: 200, bandwidthGBs: 10), Is.EqualTo(20), "memory-bound: 10 GB/s × 2 FLOP/B");
        Assert.That(LayerMath.RooflineGflops(1000, 1, peakGflops: 200, bandwidthGBs: 10), Is.EqualTo(200), "compute-bound");
        // 1e9 FLOPs in 0.5 s = 2 GFLOP/s against min(100, 4 × 1) = 4 → 50 %.
        Assert.That(LayerMath.FractionOfRoofline(1e9, 1e9, 0.5, 100, 4), Is.EqualTo(0.5).Within(1e-12));
        Assert.That(() => LayerMath.FractionOfRoofline(1, 1, 0, 1, 1), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Overhead_IsPercentOverTheFrozenLayer()
    {
        Assert.That(LayerMath.OverheadPercent(150, 100), Is.EqualTo(50).Within(1e-12));
        Assert.That(LayerMath.OverheadPercent(90, 100), Is.EqualTo(-10).Within(1e-12));
    }

    [Test]
    public void Memory_OursAndPefts()
    {
        // BOFT(2,4), d = n = 8: boft_R 2·8·4 = 64 and boft_s 8 → 72 floats.
        LayerMemory boft = LayerMath.Memory(Boft24, 8, 8);
        Assert.That(boft.TrainableBytes, Is.EqualTo(288));
        Assert.That(boft.OptimizerStateBytes, Is.EqualTo(576));
        Assert.That(boft.SavedActivationBytesPerToken, Is.EqualTo(64), "x (8) and h (8)");
        Assert.That(boft.WorkspaceBytesPerToken, Is.EqualTo(4 * 32), "xR, ∂(xR), ∂x (8 each) and ∂h (8)");
        Assert.That(boft.WorkspaceBytesFixed, Is.EqualTo(2 * 4 * 4 * 16), "C and ∂C: 4 blocks of 4×4");
        Assert.That(boft.PeftBufferBytes, Is.EqualTo(4 * (2 * 64 + 3 * 64)), "boft_P (m·d²) and the m factors and R built per forward");
        LayerMemory oft = LayerMath.Memory(Oft4, 8, 8);
        Assert.That(oft.TrainableBytes, Is.EqualTo(4 * 12));
        Assert.That(oft.PeftBufferBytes, Is.Zero, "OFTv2 builds no dense d×d matrix");
    }

    [Test]
    public void MethodConfig_DenseLimitAndCounts()
    {
        Assert.That(MethodConfig.DenseFactorCount(64, 4), Is.EqualTo(5));
        Assert.That(MethodConfig.Boft(5, 4).IsDense(64), Is.True);
        Assert.That(MethodConfig.Boft(4, 4).IsDense(64), Is.False);
        Assert.That(MethodConfig.Oft(64).IsDense(64), Is.True);
        Assert.That(MethodConfig.Boft(2, 8).EffectiveParameters(1024), Is.EqualTo(7 * 1024));
        Assert.That(MethodConfig.Oft(16).EffectiveParameters(1024), Is.EqualTo(7.5 * 1024));
        Assert.That(MethodConfig.Boft(4, 8).IsValidFor(16), Is.False, "m = 4 > log2(16/8) + 1");
    }

    [Test]
    public void Recommendation_FollowsFromTheNumbers()
    {
        var small = new SummaryNumbers("OFT(8)", 100, 0.9, 10);
        var good = new SummaryNumbers("BOFT(2,4)", 100, 0.5, 12);
        var big = new SummaryNumbers("OFT(32)", 400, 0.5, 30);
        var best = new SummaryNumbers("BOFT(4,8)", 400, 0.2, 60);
        SummaryNumbers[] all = [small, good, big, best];
        Assert.That(Recommendation.For(big, all), Is.EqualTo("dominated by BOFT(2,4)"), "same error with fewer parameters and lower overhead");
        Assert.That(Recommendation.For(small, all), Does.StartWith("dominated"), "BOFT(2,4) is far better at the same budget within the noise allowance");
        Assert.That(Recommendation.For(good, all), Does.StartWith("best quality at ≤ 100"));
        Assert.That(Recommendation.For(best, all), Does.StartWith("best quality at ≤ 400"));
        var cheap = new SummaryNumbers("OFT(16)", 200, 0.4, 5);
        Assert.That(Recommendation.For(cheap, [good, cheap, best]), Does.StartWith("best quality at ≤ 200"));
        // Not dominated (the better, smaller BOFT(2,8) costs 20 % more), not the best at its budget, but the cheapest layer.
        var fast = new SummaryNumbers("OFT(24)", 300, 0.3, 1);
        var better = new SummaryNumbers("BOFT(2,8)", 250, 0.25, 20);
        SummaryNumbers[] front = [good, cheap, better, fast, best];
        Assert.That(Recommendation.DominatedBy(fast, front), Is.Null);
        Assert.That(Recommendation.For(fast, front), Is.EqualTo("cheapest layer on the front"));
        Assert.That(Recommendation.For(best, front), Does.StartWith("best quality at ≤ 400"));
    }
}
