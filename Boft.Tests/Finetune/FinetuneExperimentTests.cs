// The finetuning run of the README (`-- finetune`) in its quick form on the real digits: pretraining learns task A, every
// method learns the shifted task B well beyond the pretrained network, and the trainable-parameter counts are the documented
// ones. The thresholds are far below the measured values (docs/06_Finetuning.md) so that seeds and float rounding cannot flip them.

using Boft.Experiments.Finetune;
using Boft.Data;
using Boft.Kernels.Simd;

namespace Boft.Tests.Finetune;

[TestFixture]
public sealed class FinetuneExperimentTests
{
    [Test]
    public void QuickRun_LearnsBothTasks_WithTheDocumentedParameterCounts()
    {
        DigitsDataset digits = DigitsDataset.Load(Path.Combine(AppContext.BaseDirectory, "Data", DigitsDataset.FileName));
        using var backend = new SimdBackend();
        FinetuneReport report = FinetuneExperiment.Run(backend, digits.Features.ToArray(), digits.Labels.ToArray(), FinetuneSettings.Quick, TextWriter.Null);
        Assert.That(report.PretrainedOriginalAccuracy, Is.GreaterThan(0.85), "pretraining learns the digits");
        Assert.That(report.PretrainedNewTaskAccuracy, Is.LessThan(0.5), "a one-pixel shift defeats the pretrained MLP");
        Assert.That(report.Results.Select(r => r.Method), Is.EqualTo(new[] { "full", "boft", "oft" }));
        foreach (FinetuneResult r in report.Results)
            Assert.That(r.NewTaskAccuracy, Is.GreaterThan(report.PretrainedNewTaskAccuracy + 0.4), $"{r.Method} adapts to the shifted digits");
        // full: 64·128+128 + 128·128+128 + 128·10+10; BOFT(2,8): 2·d·8 + n per layer; OFT b=16: d·15/2 per layer.
        Assert.That(report.Results.Select(r => r.TrainableParameters), Is.EqualTo(new long[] { 26_122, 2 * 64 * 8 + 128 + 2 * 128 * 8 + 128 + 2 * 128 * 8 + 10, 64 * 15 / 2 + 128 * 15 / 2 * 2 }));
    }
}
