// Smoke test of `finetune --model cnn` in a tiny configuration (400 training images, narrow channels, three pretraining epochs and one adaptation epoch) on
// the committed MNIST digits: the data file loads (10,000 digits, every class), pretraining beats chance clearly, every
// method runs to the end with finite loss and improves task B over the pretrained network, and the trainable-parameter
// counts are the documented ones. Thresholds are far below the measured values so seeds and rounding cannot flip them.

using Boft.Experiments.Finetune;
using Boft.Kernels.Simd;

namespace Boft.Tests.Finetune;

[TestFixture]
public sealed class CnnExperimentTests
{
    [Test]
    public void CommittedDigits_Load()
    {
        CnnDigits digits = CnnDigits.Load(Path.Combine(AppContext.BaseDirectory, "Data", CnnDigits.FileName));
        Assert.That(digits.Count, Is.EqualTo(10_000));
        Assert.That(digits.Images, Has.Length.EqualTo(10_000 * 784));
        Assert.That(Enumerable.Range(0, 10).Select(c => digits.Labels.Count(l => l == c)), Is.EqualTo(new[] { 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978 }));
        Assert.That(digits.Images.Max(), Is.EqualTo(1f));
        Assert.That(CnnExperiment.Rotate90(CnnExperiment.Rotate90(CnnExperiment.Rotate90(CnnExperiment.Rotate90(digits.Images[..784])))), Is.EqualTo(digits.Images[..784]));
    }

    [Test]
    public void TinyRun_PretrainsAndAdaptsWithEveryMethod()
    {
        CnnDigits digits = CnnDigits.Load(Path.Combine(AppContext.BaseDirectory, "Data", CnnDigits.FileName));
        using var backend = new SimdBackend();
        var settings = new CnnSettings(PretrainEpochs: 3, AdaptEpochs: 1, BatchSize: 16, TestFraction: 0.03, MaxTrainImages: 400, Channels: [4, 8, 8]);
        CnnReport report = CnnExperiment.Run(backend, digits, settings, TextWriter.Null);
        Assert.That(report.PretrainedOriginalAccuracy, Is.GreaterThan(0.3), "pretraining learns the upright digits well beyond chance (10 %)");
        Assert.That(report.Results.Select(r => r.Method), Is.EqualTo(new[] { "full", "boft", "oft" }));
        foreach (FinetuneResult r in report.Results)
        {
            Assert.That(double.IsFinite(r.FinalLoss), Is.True, r.Method);
            Assert.That(r.NewTaskAccuracy, Is.GreaterThan(report.PretrainedNewTaskAccuracy), $"{r.Method} improves the rotated task");
        }
        // conv 1→4 (d 9), 4→8 (d 36), 8→8 (d 72), fc 392→10. full: weights + biases. BOFT: m·k·b² + C_out per layer
        // (conv1 b=3 m=1: 3·9 + 4; conv2 d=36, not a multiple of 8: b=4 m=1: 9·16 + 8; conv3 d=72: 2·18·16 + 8; fc d=392: 2·98·16 + 10).
        // OFT: d(b−1)/2 per layer with b = 9, then d=36 → b=9 (closest divisor to 8), 72 → 8, 392 → 8.
        long full = (4 * 9 + 4) + (8 * 36 + 8) + (8 * 72 + 8) + (10 * 392 + 10);
        long boft = (27 + 4) + (9 * 16 + 8) + (2 * 18 * 16 + 8) + (2 * 98 * 16 + 10);
        long oft = 9 * 8 / 2 + 36 * 8 / 2 + 72 * 7 / 2 + 392 * 7 / 2;
        Assert.That(report.Results.Select(r => r.TrainableParameters), Is.EqualTo(new[] { full, boft, oft }));
    }
}
