// The rotation profile (Boft.Kernels/Simd/RotationProfile.cs), the diagnostic behind `kernels --profile`: it re-runs the
// tiled kernels pass by pass, so these checks hold it to the kernels' pass structure (one entry per pass, in order, times
// that add up to the whole). Its numbers are timings, so nothing here bounds them.

using Boft.Kernels.Simd;

namespace Boft.Tests.BackendOps;

[TestFixture]
public sealed class RotationProfileTests
{
    [TestCase(1, 32, new[] { "transpose x in", "transpose g_y in", "block gradient 0", "factor 0ᵀ", "gather", "transpose g_x out" })]
    [TestCase(2, 8, new[] { "transpose x in", "recompute factor 1", "transpose g_y in", "block gradient 0", "factor 0ᵀ", "block gradient 1", "factor 1ᵀ", "gather", "transpose g_x out" })]
    public void Backward_HasOnePassPerKernelStep_InOrder(int m, int b, string[] expected)
    {
        List<PassTime> passes = RotationProfile.Backward(m, b, 128, 61, repetitions: 3);
        Assert.That(passes.Select(p => p.Pass).ToArray(), Has.Length.EqualTo(expected.Length));
        for (int i = 0; i < expected.Length; i++)
            Assert.That(passes[i].Pass, Does.StartWith(expected[i]), $"pass {i}");
        Assert.That(passes.All(p => p.Microseconds >= 0 && p.Share is >= 0 and <= 1), Is.True);
        Assert.That(passes.Sum(p => p.Share), Is.EqualTo(1).Within(1e-9));
    }

    [Test]
    public void Forward_HasTransposesAroundEveryFactor()
    {
        List<PassTime> passes = RotationProfile.Forward(3, 4, 128, 64, repetitions: 3);
        Assert.That(passes.Select(p => p.Pass.Split(' ')[0] + " " + p.Pass.Split(' ')[1]),
            Is.EqualTo(new[] { "transpose in", "factor 2", "factor 1", "factor 0", "transpose out" }));
        Assert.That(passes.Sum(p => p.Share), Is.EqualTo(1).Within(1e-9));
    }
}
