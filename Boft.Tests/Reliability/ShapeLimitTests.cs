// Checked sizes (docs/08_Guarantees.md): resolution refuses shapes beyond one tensor's limit before anything is allocated,
// naming d, b, m and the limit; counts are computed in 64-bit arithmetic.

using Boft.Kernels.Simd;
using Boft.Layers;

namespace Boft.Tests.Reliability;

[TestFixture]
public sealed class ShapeLimitTests
{
    /// <summary>The case: this took 10 s and returned RawParameterCount = 0 and a negative effective count.</summary>
    [Test]
    public void BoftConfig_TooLarge_IsRefusedBeforeAllocation_NamingDbmAndTheLimit()
    {
        var config = new BoftConfig(1 << 28, BlockSize: 8, FactorCount: 2);
        Assert.That(() => config.Resolve(), Throws.ArgumentException
            .With.Message.Contains("d=268435456").And.Message.Contains("b=8").And.Message.Contains("m=2")
            .And.Message.Contains("4,294,967,296").And.Message.Contains($"limit {ShapeLimits.MaxElementCount:N0}"));
    }

    [Test]
    public void BoftLinear_WithATooLargeConfig_ThrowsTheConfigurationError_NotAnInternalTensorError()
    {
        using var backend = new SimdBackend();
        Assert.That(() => new BoftLinear(backend, new BoftConfig(1 << 28, BlockSize: 8, FactorCount: 2), 1, ReadOnlySpan<float>.Empty),
            Throws.ArgumentException.With.Message.Contains("m·k·b²").And.Message.Contains("d=268435456"));
    }

    [Test]
    public void OftConfig_TooLarge_IsRefused()
    {
        Assert.That(() => new OftConfig(1 << 20, BlockSize: 1 << 20).Resolve(),
            Throws.ArgumentException.With.Message.Contains("OFT(d=1048576, b=1048576, r=1)").And.Message.Contains("limit"));
    }

    [Test]
    public void BoftConfig_ManyFactors_RefusesPermutationTablesBeyondTheLimit()
    {
        // d = 2^27, b = 2, m = 27: the blocks need m·d = 3.6e9 elements, and so do the permutation tables.
        Assert.That(() => new BoftConfig(1 << 27, BlockSize: 2, FactorCount: 27).Resolve(), Throws.ArgumentException.With.Message.Contains("limit"));
    }

    [Test]
    public void LargeButValidShape_HasExact64BitCounts()
    {
        BoftShape shape = new BoftConfig(1 << 16, BlockSize: 4096, FactorCount: 1).Resolve();
        Assert.That(shape.RawParameterCount, Is.EqualTo(16L * 4096 * 4096));
        Assert.That(shape.EffectiveParameterCount, Is.EqualTo(16L * 4096 * 4095 / 2));
        Assert.That(shape.StoredParameterCount(1 << 20), Is.EqualTo(16L * 4096 * 4096 + (1 << 20)));
    }
}
