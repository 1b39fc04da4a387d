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
    /// <summary>The element types each method is adapted in (docs/09_Mixed-precision.md): activations and frozen weights in the type,
    /// parameters float32 masters, float16 with dynamic loss scaling. Pretraining is float32, so every type starts from the same
    /// pretrained network. Default: float32 only.</summary>
    public IReadOnlyList<ElementType> ActivationTypes { get; init; } = [ElementType.Float32];

    /// <summary>A shorter run for smoke tests.</summary>
    public static FinetuneSettings Quick { get; } = new(PretrainEpochs: 8, AdaptEpochs: 4);
}

/// <summary>One method's outcome in one element type.</summary>
/// <param name="Method">The method.</param>
/// <param name="Adapter">What it trains.</param>
/// <param name="TrainableParameters">Trainable (stored) parameters.</param>
/// <param name="EffectiveParameters">Effective parameters.</param>
/// <param name="NewTaskAccuracy">Test accuracy on task B.</param>
/// <param name="OriginalTaskAccuracy">Test accuracy on task A after adapting.</param>
/// <param name="Seconds">Adaptation wall time.</param>
/// <param name="Steps">Optimizer steps.</param>
/// <param name="FinalLoss">The last step's loss.</param>
/// <param name="ActivationType">The element type of activations and frozen weights.</param>
/// <param name="LossScale">The final loss scale (float16), else null.</param>
/// <param name="SkippedSteps">Steps skipped by the loss scaler (gradient overflow).</param>
public sealed record FinetuneResult(string Method, string Adapter, long TrainableParameters, long EffectiveParameters, double NewTaskAccuracy,
    double OriginalTaskAccuracy, double Seconds, int Steps, double FinalLoss, ElementType ActivationType = ElementType.Float32, double? LossScale = null,
    int SkippedSteps = 0);

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
            foreach (ElementType type in settings.ActivationTypes)
            {
                ILayer[] adapted = new ILayer[3];
                for (int i = 0; i < 3; i++)
                    adapted[i] = method.Create(backend, inFeatures[i], outFeatures[i], weights[i], biases[i], type);
                using Sequential model = Mlp(backend, adapted, type);
                Parameter[] trainable = model.Parameters.Where(p => p.RequiresGrad).ToArray();
                long effective = adapted.Sum(method.EffectiveParameters);
                string name = type == ElementType.Float32 ? method.Name : $"{method.Name} {DtypeName(type)}";
                var clock = Stopwatch.StartNew();
                // float16 gets dynamic loss scaling (docs/10_Loss-scaling.md); bfloat16 has float32's exponent range and needs none.
                LossScaler? scaler = type == ElementType.Float16 ? new LossScaler() : null;
                TrainingResult training = Train(model, new Adam(trainable, new AdamSettings(method.LearningRate)), newTrain, settings.AdaptEpochs, settings, name, log, scaler);
                double seconds = clock.Elapsed.TotalSeconds;
                double accuracyB = Evaluation.Accuracy(model, newTest);
                double accuracyA = Evaluation.Accuracy(model, originalTest);
                results.Add(new FinetuneResult(method.Name, method.Description, trainable.Sum(p => (long)p.Value.Length), effective, accuracyB, accuracyA,
                    seconds, training.Steps, training.Losses[^1], type, training.LossScale, training.LossScaleSkippedSteps));
                log.WriteLine($"{name}: task B {accuracyB:P1}, task A kept {accuracyA:P1}, {trainable.Sum(p => (long)p.Value.Length)} trainable, {seconds:F1} s");
            }
        }
        return new FinetuneReport(backend.Name, train.Length, test.Length, pretrainedA, pretrainedB, pretrainSeconds, results, settings);
    }

    /// <summary>The short name of an element type (fp32, bf16, fp16), as the commands spell it.</summary>
    /// <param name="type">The type.</param>
    /// <returns>The name.</returns>
    public static string DtypeName(ElementType type) => type switch
    {
        ElementType.BFloat16 => "bf16",
        ElementType.Float16 => "fp16",
        _ => "fp32",
    };

    private sealed record Method(string Name, string Description, double LearningRate,
        Func<BoftBackend, int, int, float[], float[], ElementType, ILayer> Create, Func<ILayer, long> EffectiveParameters);

    /// <summary>The compared methods. Adapters go on every linear layer (frozen W0 and bias); BOFT(m=2, b=8) and OFT b=16 have
    /// similar budgets (paper Table 1 pairing: ½(b−1)·d·m = 7d vs d(b−1)/2 = 7.5d skew degrees of freedom).</summary>
    private static readonly Method[] Methods =
    [
        new("full", "all weights and biases trainable", 1e-3,
            (backend, d, n, w, b, type) => new Linear(backend, d, n, w, b, trainable: true, activationType: type),
            layer => layer.Parameters.Sum(p => (long)p.Value.Length)),
        new("boft", "BOFT(m=2, b=8) on every layer, boft_s trainable", 1e-2,
            (backend, d, n, w, b, type) => new BoftLinear(backend, new BoftConfig(d, BlockSize: 8, FactorCount: 2), n, w, b, activationType: type),
            layer => ((BoftLinear)layer).Shape.EffectiveParameterCount + layer.OutFeatureCount),
        new("oft", "OFT b=16 (exact Cayley) on every layer", 1e-2,
            (backend, d, n, w, b, type) => new OftLinear(backend, new OftConfig(d, BlockSize: 16, Orthogonalization: Orthogonalization.ExactCayley), n, w, b, activationType: type),
            layer => ((OftLinear)layer).Shape.StoredParameterCount),
    ];

    /// <summary>The MLP; in a 16-bit type it is framed by Cast layers, so float32 data enter and float32 logits reach the loss (as
    /// torch's autocast computes softmax and cross-entropy in float32).</summary>
    private static Sequential Mlp(BoftBackend backend, IReadOnlyList<ILayer> layers, ElementType type = ElementType.Float32)
    {
        ILayer[] body = [layers[0], new Relu(backend, layers[0].OutFeatureCount, type), layers[1], new Relu(backend, layers[1].OutFeatureCount, type), layers[2]];
        return type == ElementType.Float32
            ? new Sequential(backend, body)
            : new Sequential(backend, [new Cast(backend, layers[0].InFeatureCount, ElementType.Float32, type), .. body, new Cast(backend, layers[2].OutFeatureCount, type, ElementType.Float32)]);
    }

    private static TrainingResult Train(Sequential model, Optimizer optimizer, Dataset data, int epochs, FinetuneSettings settings, string name, TextWriter log,
        LossScaler? scaler = null)
    {
        using (optimizer)
        {
            int steps = epochs * ((data.Count + settings.BatchSize - 1) / settings.BatchSize);
            var trainer = new Trainer(model, optimizer, new SoftmaxCrossEntropyLoss(),
                new TrainingOptions(Epochs: epochs, BatchSize: settings.BatchSize, Seed: settings.Seed, MaxGradientNorm: 5.0,
                    Schedule: new CosineWithWarmup(Math.Max(1, steps / 20), steps), ReportEvery: 50))
            {
                Progress = new ConsoleProgress(log, $"[{name}] "),
                LossScaler = scaler,
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
