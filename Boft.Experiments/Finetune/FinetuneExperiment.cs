// A real finetuning run: an MLP pretrained on the 8x8 digits (task A) is adapted to the same digits shifted by two pixels
// (task B) with BOFT, OFT and full finetuning. Reported per method: accuracy on task B (new task), accuracy on task A after
// adapting (what was kept), trainable parameter counts and wall time. docs/06_Finetuning.md has the measured results.

using System.Diagnostics;
using Boft.Backends;
using Boft.Layers;
using Boft.Training;

namespace Boft.Experiments.Finetune;

/// <summary>Settings of the finetuning run.</summary>
public sealed record FinetuneSettings(int Seed = 0, int PretrainEpochs = 40, int AdaptEpochs = 25, int BatchSize = 32, int ShiftPixels = 1,
    double TestFraction = 0.2, int Hidden = 128)
{
    /// <summary>A shorter run for smoke tests.</summary>
    public static FinetuneSettings Quick { get; } = new(PretrainEpochs: 8, AdaptEpochs: 4);
}

/// <summary>One method's outcome.</summary>
public sealed record FinetuneResult(string Method, string Adapter, long TrainableParameters, long EffectiveParameters, double NewTaskAccuracy,
    double OriginalTaskAccuracy, double Seconds, int Steps, double FinalLoss);

/// <summary>The whole run's outcome.</summary>
public sealed record FinetuneReport(string Backend, int TrainCount, int TestCount, double PretrainedOriginalAccuracy, double PretrainedNewTaskAccuracy,
    double PretrainSeconds, IReadOnlyList<FinetuneResult> Results, FinetuneSettings Settings);

/// <summary>Runs the experiment on a backend.</summary>
public static class FinetuneExperiment
{
    /// <summary>Runs pretraining and the three adaptations.</summary>
    /// <param name="backend">The backend for every tensor.</param>
    /// <param name="images">Digit images, 64 pixels in [0, 16] per row.</param>
    /// <param name="labels">Digit labels 0..9.</param>
    /// <param name="settings">Settings.</param>
    /// <param name="log">Progress output (stderr).</param>
    /// <returns>The report.</returns>
    public static FinetuneReport Run(BoftBackend backend, float[] images, int[] labels, FinetuneSettings settings, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        const int pixels = 64, classes = 10;
        (int[] train, int[] test) = StratifiedSplit(labels, classes, settings.TestFraction, settings.Seed);
        float[] normalized = Array.ConvertAll(images, v => v / 16f);
        float[] shifted = Shift(normalized, settings.ShiftPixels, settings.ShiftPixels);
        Dataset originalTrain = Subset(normalized, labels, train), originalTest = Subset(normalized, labels, test);
        Dataset newTrain = Subset(shifted, labels, train), newTest = Subset(shifted, labels, test);

        // 1. Pretrain a plain MLP on task A.
        var random = new Random(settings.Seed);
        var layers = new Linear[]
        {
            Linear.CreateRandom(backend, pixels, settings.Hidden, random),
            Linear.CreateRandom(backend, settings.Hidden, settings.Hidden, random),
            Linear.CreateRandom(backend, settings.Hidden, classes, random),
        };
        float[][] weights, biases;
        double pretrainSeconds, pretrainedA, pretrainedB;
        using (Sequential pretrained = Mlp(backend, layers))
        {
            var clock = Stopwatch.StartNew();
            Train(pretrained, new Adam(pretrained.Parameters.Where(p => p.RequiresGrad), new AdamSettings(1e-3)), originalTrain, settings.PretrainEpochs, settings, "pretrain", log);
            pretrainSeconds = clock.Elapsed.TotalSeconds;
            pretrainedA = Evaluation.Accuracy(pretrained, originalTest);
            pretrainedB = Evaluation.Accuracy(pretrained, newTest);
            weights = layers.Select(l => l.Weight.Value.ToArray()).ToArray();
            biases = layers.Select(l => l.Bias!.Value.ToArray()).ToArray();
        }
        log.WriteLine($"pretrained: task A (original) test accuracy {pretrainedA:P1}, task B (shifted {settings.ShiftPixels}px) {pretrainedB:P1}");

        // 2. Adapt to task B three ways, each from the same pretrained weights.
        int[] inFeatures = [pixels, settings.Hidden, settings.Hidden];
        int[] outFeatures = [settings.Hidden, settings.Hidden, classes];
        var results = new List<FinetuneResult>();
        foreach (Method method in Methods)
        {
            ILayer[] adapted = new ILayer[3];
            for (int i = 0; i < 3; i++)
                adapted[i] = method.Create(backend, inFeatures[i], outFeatures[i], weights[i], biases[i]);
            using Sequential model = Mlp(backend, adapted);
            Parameter[] trainable = model.Parameters.Where(p => p.RequiresGrad).ToArray();
            long effective = adapted.Sum(method.EffectiveParameters);
            var clock = Stopwatch.StartNew();
            TrainingResult training = Train(model, new Adam(trainable, new AdamSettings(method.LearningRate)), newTrain, settings.AdaptEpochs, settings, method.Name, log);
            double seconds = clock.Elapsed.TotalSeconds;
            double accuracyB = Evaluation.Accuracy(model, newTest);
            double accuracyA = Evaluation.Accuracy(model, originalTest);
            results.Add(new FinetuneResult(method.Name, method.Description, trainable.Sum(p => (long)p.Value.Length), effective, accuracyB, accuracyA,
                seconds, training.Steps, training.Losses[^1]));
            log.WriteLine($"{method.Name}: task B {accuracyB:P1}, task A kept {accuracyA:P1}, {trainable.Sum(p => (long)p.Value.Length)} trainable, {seconds:F1} s");
        }
        return new FinetuneReport(backend.Name, train.Length, test.Length, pretrainedA, pretrainedB, pretrainSeconds, results, settings);
    }

    private sealed record Method(string Name, string Description, double LearningRate,
        Func<BoftBackend, int, int, float[], float[], ILayer> Create, Func<ILayer, long> EffectiveParameters);

    /// <summary>The compared methods. Adapters go on every linear layer (frozen W0 and bias); BOFT(m=2, b=8) and OFT b=16 have
    /// similar budgets (paper Table 1 pairing: ½(b−1)·d·m = 7d vs d(b−1)/2 = 7.5d skew degrees of freedom).</summary>
    private static readonly Method[] Methods =
    [
        new("full", "all weights and biases trainable", 1e-3,
            (backend, d, n, w, b) => new Linear(backend, d, n, w, b, trainable: true),
            layer => layer.Parameters.Sum(p => (long)p.Value.Length)),
        new("boft", "BOFT(m=2, b=8) on every layer, boft_s trainable", 1e-2,
            (backend, d, n, w, b) => new BoftLinear(backend, new BoftConfig(d, BlockSize: 8, FactorCount: 2), n, w, b),
            layer => ((BoftLinear)layer).Shape.EffectiveParameterCount + layer.OutFeatureCount),
        new("oft", "OFT b=16 (exact Cayley) on every layer", 1e-2,
            (backend, d, n, w, b) => new OftLinear(backend, new OftConfig(d, BlockSize: 16, Orthogonalization: Orthogonalization.ExactCayley), n, w, b),
            layer => ((OftLinear)layer).Shape.StoredParameterCount),
    ];

    private static Sequential Mlp(BoftBackend backend, IReadOnlyList<ILayer> layers) =>
        new(backend, layers[0], new Relu(backend, layers[0].OutFeatureCount), layers[1], new Relu(backend, layers[1].OutFeatureCount), layers[2]);

    private static TrainingResult Train(Sequential model, Optimizer optimizer, Dataset data, int epochs, FinetuneSettings settings, string name, TextWriter log)
    {
        using (optimizer)
        {
            int steps = epochs * ((data.Count + settings.BatchSize - 1) / settings.BatchSize);
            var trainer = new Trainer(model, optimizer, new SoftmaxCrossEntropyLoss(),
                new TrainingOptions(Epochs: epochs, BatchSize: settings.BatchSize, Seed: settings.Seed, MaxGradientNorm: 5.0,
                    Schedule: new CosineWithWarmup(Math.Max(1, steps / 20), steps), ReportEvery: 50))
            {
                Progress = new ConsoleProgress(log, $"[{name}] "),
            };
            TrainingResult result = trainer.Fit(data);
            model.IsTraining = false;
            return result;
        }
    }

    /// <summary>Moves every 8x8 image right by <paramref name="dx"/> and down by <paramref name="dy"/> pixels, filling with 0.</summary>
    /// <param name="images">Row-major images, 64 values each.</param>
    /// <param name="dx">Columns to the right.</param>
    /// <param name="dy">Rows down.</param>
    /// <returns>The shifted images.</returns>
    public static float[] Shift(float[] images, int dx, int dy)
    {
        ArgumentNullException.ThrowIfNull(images);
        var result = new float[images.Length];
        for (int image = 0; image < images.Length / 64; image++)
            for (int row = 0; row < 8; row++)
                for (int col = 0; col < 8; col++)
                {
                    int sourceRow = row - dy, sourceCol = col - dx;
                    if (sourceRow is >= 0 and < 8 && sourceCol is >= 0 and < 8)
                        result[image * 64 + row * 8 + col] = images[image * 64 + sourceRow * 8 + sourceCol];
                }
        return result;
    }

    private static (int[] Train, int[] Test) StratifiedSplit(int[] labels, int classes, double testFraction, int seed)
    {
        var random = new Random(seed);
        var train = new List<int>();
        var test = new List<int>();
        for (int c = 0; c < classes; c++)
        {
            int[] members = Enumerable.Range(0, labels.Length).Where(i => labels[i] == c).ToArray();
            random.Shuffle(members);
            int testCount = (int)Math.Round(members.Length * testFraction);
            test.AddRange(members.Take(testCount));
            train.AddRange(members.Skip(testCount));
        }
        return (train.Order().ToArray(), test.Order().ToArray());
    }

    private static Dataset Subset(float[] images, int[] labels, int[] rows)
    {
        var features = new float[rows.Length * 64];
        var targets = new float[rows.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            images.AsSpan(rows[i] * 64, 64).CopyTo(features.AsSpan(i * 64));
            targets[i] = labels[rows[i]];
        }
        return new Dataset(features, 64, targets, 1);
    }
}
