// Determinism (docs/08_Guarantees.md): on the SIMD backend a training run is bitwise repeatable for one SIMD width and thread
// count; different widths round differently (they group the sums differently) and so give different last bits.

using Boft.Backends;
using Boft.Kernels.Simd;
using Boft.Layers;
using Boft.Training;

namespace Boft.Tests.Reliability;

[TestFixture]
public sealed class DeterminismTests
{
    private static IEnumerable<SimdWidth> Widths() => Enum.GetValues<SimdWidth>().Where(SimdBackend.IsSupported);

    private static float[] Train(SimdWidth width, int threads)
    {
        using var backend = new SimdBackend(width, threads);
        var random = new Random(1);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        using var layer = new BoftLinear(backend, new BoftConfig(128, BlockSize: 8, FactorCount: 3), 96, Values(96 * 128), Values(96), new AdapterInitialization(false, 2));
        using var adam = new Adam(layer.TrainableParameters, new AdamSettings(1e-2));
        using Tensor x = backend.Upload(Values(256 * 128), 256, 128);
        using Tensor target = backend.Upload(Values(256 * 96), 256, 96);
        using Tensor y = backend.Allocate(256, 96);
        using Tensor g = backend.Allocate(256, 96);
        for (int step = 0; step < 5; step++)
        {
            adam.ZeroGrad();
            layer.Forward(x, y);
            backend.MseLoss(y, target, g);
            layer.Backward(g, null);
            adam.Step(null, 1.0);
        }
        layer.Forward(x, y);
        return [.. layer.BoftR.Value.ToArray(), .. layer.BoftS.Value.ToArray(), .. y.ToArray()];
    }

    [TestCaseSource(nameof(Widths))]
    public void TrainingRun_IsBitwiseRepeatable_ForOneWidthAndThreadCount(SimdWidth width)
    {
        foreach (int threads in new[] { 1, 2 })
        {
            float[] first = Train(width, threads), second = Train(width, threads);
            Assert.That(second, Is.EqualTo(first), $"{width}, {threads} threads");
        }
    }

    [Test]
    public void DifferentWidths_AgreeToRounding_ButNotBitwise()
    {
        SimdWidth[] widths = Widths().ToArray();
        if (widths.Length < 2)
            Assert.Ignore($"only {widths.Length} SIMD width is supported on this CPU");
        float[] a = Train(widths[0], 1), b = Train(widths[^1], 1);
        double worst = a.Zip(b, (p, q) => Math.Abs(p - q) / Math.Max(1, Math.Abs(q))).Max();
        Assert.That(worst, Is.LessThan(1e-4), $"{widths[0]} vs {widths[^1]}: the same answer up to float rounding");
        int differing = a.Zip(b).Count(t => t.First != t.Second);
        TestContext.Out.WriteLine($"{widths[0]} vs {widths[^1]}: {differing} of {a.Length} values differ in their last bits (max relative {worst:G3})");
        Assert.That(differing, Is.GreaterThan(0), "widths group sums differently; if they agree bitwise, docs/08_Guarantees.md should say so");
    }
}
