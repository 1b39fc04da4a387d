// Dynamic loss scaling (docs/10_Loss-scaling.md): torch.amp.GradScaler's update rule checked step by step against a hand-computed
// sequence; an overflow never changes a float32 master or optimizer state; with power-of-two scales, scaled training is bit for bit
// the unscaled training with the overflowing steps left out. Runs on float32 tensors (overflows injected) on every backend.

using Boft.Backends;
using Boft.Layers;
using Boft.Tests.Infrastructure;
using Boft.Training;

namespace Boft.Tests.Training;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class LossScalerTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private static float[] RandomFloats(int seed, int length)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
    }

    [Test]
    public void Defaults_AreTorchGradScalers()
    {
        var scaler = new LossScaler();
        Assert.That((scaler.Scale, scaler.Options.GrowthFactor, scaler.Options.BackoffFactor, scaler.Options.GrowthInterval), Is.EqualTo((65536f, 2.0, 0.5, 2000)));
        Assert.That(scaler.InverseScale, Is.EqualTo(1f / 65536));
    }

    [TestCase(0.0, 2.0, 0.5, 1, "InitialScale")]
    [TestCase(1e39, 2.0, 0.5, 1, "InitialScale")]
    [TestCase(1.0, 1.0, 0.5, 1, "GrowthFactor")]
    [TestCase(1.0, 2.0, 1.0, 1, "BackoffFactor")]
    [TestCase(1.0, 2.0, 0.0, 1, "BackoffFactor")]
    [TestCase(1.0, 2.0, 0.5, 0, "GrowthInterval")]
    public void Options_AreValidated(double initial, double growth, double backoff, int interval, string name) =>
        Assert.That(() => new LossScaler(new LossScalingOptions(initial, growth, backoff, interval)),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo(name));

    [Test]
    public void Step_FollowsGradScalersUpdateRule_StepByStep()
    {
        // Interval 3, scale 8: overflow flags and, computed by hand from torch's rule, the scale and good-step count after each step.
        bool[] overflow = [false, false, true, false, false, false, false, false, false, true, true, false, false, false];
        float[] scales = [8, 8, 4, 4, 4, 8, 8, 8, 16, 8, 4, 4, 4, 8];
        int[] goodInARow = [1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0, 1, 2, 0];
        var scaler = new LossScaler(new LossScalingOptions(InitialScale: 8, GrowthInterval: 3));
        using var parameter = new Parameter("w", Backend.Upload([1f, 2f], 2), requiresGrad: true);
        using var sgd = new Sgd([parameter], new SgdSettings(0.5));
        float[] expected = [1f, 2f];
        float[] g = [0.25f, -0.125f];
        for (int i = 0; i < overflow.Length; i++)
        {
            // The gradient a backward pass from a loss gradient scaled by the current scale would give: scale · g, or an overflow.
            float s = scaler.Scale;
            parameter.RequiredGradient.CopyFrom(overflow[i] ? [float.PositiveInfinity, s * g[1]] : [s * g[0], s * g[1]]);
            bool taken = scaler.Step(sgd);
            Assert.That(taken, Is.EqualTo(!overflow[i]), $"step {i + 1}");
            if (taken)
            {
                expected[0] -= 0.5f * g[0];
                expected[1] -= 0.5f * g[1];
            }
            Assert.That(parameter.Value.ToArray(), Is.EqualTo(expected), $"step {i + 1}: the master moved by the unscaled gradient, or not at all");
            Assert.That((scaler.Scale, scaler.GoodStepsInARow), Is.EqualTo((scales[i], goodInARow[i])), $"step {i + 1}");
        }
        Assert.That((scaler.SkippedStepCount, scaler.TakenStepCount, sgd.SkippedStepCount, sgd.StepCount), Is.EqualTo((3, 11, 3, 11)));
        Assert.That(scaler.ToString(), Does.Contain("loss scale 8"));
    }

    [Test]
    public void Growth_StopsWhereTheScaleWouldOverflowFloat32()
    {
        var scaler = new LossScaler(new LossScalingOptions(InitialScale: Math.Pow(2, 127), GrowthInterval: 1));
        scaler.Update(foundNonFinite: false);
        Assert.That((scaler.Scale, scaler.GoodStepsInARow), Is.EqualTo(((float)Math.Pow(2, 127), 0)), "2^128 is not a float32: kept, counter reset");
    }

    [Test]
    public void Overflow_NeverChangesTheMastersOrTheAdamState_EvenUnderTheThrowPolicy()
    {
        // Two identical Adam runs: A sees g1, an overflow, g2; B sees g1, g2. Equal masters afterwards mean the skipped step left the
        // moments and the step count (Adam's bias correction) untouched.
        float[] start = RandomFloats(1, 6), g1 = RandomFloats(2, 6), g2 = RandomFloats(3, 6);
        using var a = new Parameter("a", Backend.Upload(start, 6), requiresGrad: true);
        using var b = new Parameter("b", Backend.Upload(start, 6), requiresGrad: true);
        using var adamA = new Adam([a], new AdamSettings(0.01));
        using var adamB = new Adam([b], new AdamSettings(0.01));
        Assert.That(adamA.NonFiniteGradients, Is.EqualTo(NonFiniteGradientPolicy.Throw));
        var scaler = new LossScaler(new LossScalingOptions(InitialScale: 1024));
        var plain = new LossScaler(new LossScalingOptions(InitialScale: 1024));

        a.RequiredGradient.CopyFrom(g1.Select(v => v * 1024).ToArray());
        Assert.That(scaler.Step(adamA), Is.True);
        float[] afterFirst = a.Value.ToArray();
        float[] poisoned = g1.Select(v => v * 1024).ToArray();
        poisoned[4] = float.NaN;
        a.RequiredGradient.CopyFrom(poisoned);
        Assert.That(scaler.Step(adamA), Is.False, "an overflow skips, whatever the policy");
        Assert.That(a.Value.ToArray(), Is.EqualTo(afterFirst), "the master is untouched");
        Assert.That((adamA.StepCount, adamA.SkippedStepCount, scaler.Scale), Is.EqualTo((1, 1, 512f)));
        a.RequiredGradient.CopyFrom(g2.Select(v => v * 512).ToArray());
        Assert.That(scaler.Step(adamA), Is.True);

        b.RequiredGradient.CopyFrom(g1.Select(v => v * 1024).ToArray());
        plain.Step(adamB);
        b.RequiredGradient.CopyFrom(g2.Select(v => v * 1024).ToArray());
        plain.Step(adamB);
        Assert.That(a.Value.ToArray(), Is.EqualTo(b.Value.ToArray()), "bit for bit the run without the overflowing step");
        Assert.That(adamA.StepCount, Is.EqualTo(adamB.StepCount));
    }

    [Test]
    public void Overflow_AtTheSmallestScale_Throws_AndChangesNothing()
    {
        var scaler = new LossScaler(new LossScalingOptions(InitialScale: Math.Pow(2, -125)));
        using var parameter = new Parameter("w", Backend.Upload([1f, 2f], 2), requiresGrad: true);
        using var sgd = new Sgd([parameter], new SgdSettings(0.1));
        parameter.RequiredGradient.CopyFrom([float.NaN, 0f]);
        Assert.That(scaler.Step(sgd), Is.False);
        Assert.That(scaler.Scale, Is.EqualTo(LossScalingOptions.SmallestNormal));
        parameter.RequiredGradient.CopyFrom([float.NaN, 0f]);
        Assert.That(() => scaler.Step(sgd), Throws.TypeOf<NonFiniteValueException>().With.Message.Contains("Loss scaling").And.Message.Contains("No parameter was changed"));
        Assert.That(parameter.Value.ToArray(), Is.EqualTo(new[] { 1f, 2f }));
    }

    /// <summary>MSE whose gradient (or value) is poisoned on chosen calls: an injected overflow, as a float16 backward would produce.</summary>
    private sealed class PoisonedLoss(ISet<int> poisonedCalls, bool poisonValue) : ILoss
    {
        private readonly MeanSquaredErrorLoss inner = new();
        private int call;

        public string Name => "poisoned-mse";

        public double Compute(Tensor prediction, Tensor target, Tensor? gradPrediction)
        {
            double value = inner.Compute(prediction, target, gradPrediction);
            if (!poisonedCalls.Contains(++call))
                return value;
            if (poisonValue)
                return double.NaN;
            float[] g = gradPrediction!.ToArray();
            g[0] = float.MaxValue / 2; // finite here, infinite once multiplied by any scale ≥ 4
            gradPrediction.CopyFrom(g);
            return value;
        }
    }

    private sealed class Reports : IProgress<TrainingProgress>
    {
        public List<TrainingProgress> All { get; } = [];

        public void Report(TrainingProgress value) => All.Add(value);
    }

    [Test]
    public void Trainer_WithALossScaler_SkipsOverflows_ReportsTheScale_AndOtherwiseTrainsBitForBitAsWithout()
    {
        var config = new BoftConfig(8, BlockSize: 2, FactorCount: 2);
        BoftLinear Layer() => new(Backend, config, 4, RandomFloats(1, 4 * 8), RandomFloats(2, 4), new AdapterInitialization(false, 3), trainBias: true);
        var data = new Dataset(RandomFloats(6, 24 * 8), 8, RandomFloats(7, 24 * 4), 4);
        var options = new TrainingOptions(Epochs: 1, BatchSize: 4, Shuffle: false, ReportEvery: 1);
        var poisoned = new HashSet<int> { 2, 5 };

        using BoftLinear scaled = Layer();
        using var adamScaled = new Adam(scaled.TrainableParameters, new AdamSettings(0.01));
        var scaler = new LossScaler(new LossScalingOptions(GrowthInterval: 2));
        var reports = new Reports();
        TrainingResult result = new Trainer(scaled, adamScaled, new PoisonedLoss(poisoned, poisonValue: false), options) { LossScaler = scaler, Progress = reports }.Fit(data);

        // 65536; step 1 good (1/2); step 2 overflow → 32768; 3 good; 4 good → 65536; 5 overflow → 32768; 6 good (1/2).
        Assert.That(reports.All.Select(r => r.LossScale), Is.EqualTo(new double?[] { 65536, 32768, 32768, 65536, 32768, 32768 }));
        Assert.That(reports.All.Select(r => r.SkippedSteps), Is.EqualTo(new[] { 0, 1, 1, 1, 2, 2 }));
        Assert.That(reports.All[^1].ToString(), Does.Contain("scale 32768").And.Contain("skipped 2"));
        Assert.That((result.Steps, result.SkippedSteps, result.LossScaleSkippedSteps, result.LossScale), Is.EqualTo((6, 2, 2, (double?)32768)));
        Assert.That(adamScaled.StepCount, Is.EqualTo(4));

        // The same run without a scaler, skipping the same two steps through a non-finite loss: the masters agree bit for bit,
        // because multiplying by a power of two and back is exact in float32 (no overflow or underflow at these magnitudes).
        using BoftLinear plain = Layer();
        using var adamPlain = new Adam(plain.TrainableParameters, new AdamSettings(0.01)) { NonFiniteGradients = NonFiniteGradientPolicy.SkipStep };
        TrainingResult plainResult = new Trainer(plain, adamPlain, new PoisonedLoss(poisoned, poisonValue: true), options).Fit(data);
        Assert.That((plainResult.SkippedSteps, plainResult.LossScale), Is.EqualTo((2, (double?)null)));
        for (int i = 0; i < scaled.Parameters.Count; i++)
            Assert.That(scaled.Parameters[i].Value.ToArray(), Is.EqualTo(plain.Parameters[i].Value.ToArray()), scaled.Parameters[i].Name);
        Assert.That(scaled.Parameters.SelectMany(p => p.Value.ToArray()), Has.All.Matches<float>(float.IsFinite));
    }
}
