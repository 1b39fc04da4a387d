// The CNN finetuning run (`finetune --model cnn`, docs/06_Finetuning_Cnn.md): a small convolutional network
// (three 3x3 convolutions, the last two with stride 2, ReLU, a linear head) is pretrained on 28x28 MNIST digits (task A),
// then adapted to the same digits rotated by 90° (task B) three ways, each from the same pretrained weights:
// full finetuning, BOFT on every conv and linear layer, OFT on every conv and linear layer (frozen W0 and biases).
// Reported per method: task B accuracy (new), task A accuracy after adapting (kept), trainable parameters, wall time.

using System.Diagnostics;
using Boft.Backends;
using Boft.Layers;
using Boft.Training;

namespace Boft.Experiments.Finetune;

/// <summary>Settings of the CNN run.</summary>
/// <param name="Seed">Split, initialization and shuffling seed.</param>
/// <param name="PretrainEpochs">Epochs on task A.</param>
/// <param name="AdaptEpochs">Epochs on task B per method.</param>
/// <param name="BatchSize">Images per step.</param>
/// <param name="TestFraction">Held-out fraction per class.</param>
/// <param name="MaxTrainImages">Cap on the training images (0 = all), for smoke tests.</param>
/// <param name="Channels">Output channels of the three convolutions.</param>
public sealed record CnnSettings(int Seed = 0, int PretrainEpochs = 3, int AdaptEpochs = 3, int BatchSize = 64, double TestFraction = 0.2,
    int MaxTrainImages = 0, int[]? Channels = null)
{
    /// <summary>The channel widths in use (default 8, 16, 32).</summary>
    public int[] ChannelWidths => Channels ?? [8, 16, 32];

    /// <summary>A shorter run (fewer epochs, 4,000 training images).</summary>
    public static CnnSettings Quick { get; } = new(PretrainEpochs: 2, AdaptEpochs: 2, MaxTrainImages: 4000);
}

/// <summary>The CNN run's outcome.</summary>
/// <param name="Backend">Backend name.</param>
/// <param name="TrainCount">Training images.</param>
/// <param name="TestCount">Test images.</param>
/// <param name="PretrainedOriginalAccuracy">Task A test accuracy after pretraining.</param>
/// <param name="PretrainedNewTaskAccuracy">Task B test accuracy after pretraining.</param>
/// <param name="PretrainSeconds">Pretraining wall time.</param>
/// <param name="Results">One per method.</param>
/// <param name="Settings">Settings.</param>
/// <param name="Layers">Per adapted layer: name and kernel dimension d, for the report.</param>
public sealed record CnnReport(string Backend, int TrainCount, int TestCount, double PretrainedOriginalAccuracy, double PretrainedNewTaskAccuracy,
    double PretrainSeconds, IReadOnlyList<FinetuneResult> Results, CnnSettings Settings, IReadOnlyList<string> Layers);

/// <summary>Runs the CNN experiment on a backend.</summary>
public static class CnnExperiment
{
    private const int Classes = 10, Side = 28;

    /// <summary>Pretrains on task A and adapts to task B with full finetuning, BOFT and OFT.</summary>
    /// <param name="backend">The backend for every tensor.</param>
    /// <param name="digits">The digits.</param>
    /// <param name="settings">Settings.</param>
    /// <param name="log">Progress output.</param>
    /// <returns>The report.</returns>
    public static CnnReport Run(BoftBackend backend, CnnDigits digits, CnnSettings settings, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(digits);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        (int[] train, int[] test) = Split(digits.Labels, settings);
        float[] rotated = Rotate90(digits.Images);
        Dataset trainA = Subset(digits.Images, digits.Labels, train), testA = Subset(digits.Images, digits.Labels, test);
        Dataset trainB = Subset(rotated, digits.Labels, train), testB = Subset(rotated, digits.Labels, test);
        Conv2dShape[] convs = Convolutions(settings.ChannelWidths);
        int headIn = convs[^1].OutputImageLength;

        // 1. Pretrain on task A.
        var random = new Random(settings.Seed);
        var pre = new ILayer[convs.Length + 1];
        for (int i = 0; i < convs.Length; i++)
            pre[i] = Conv2d.CreateRandom(backend, convs[i], random);
        pre[^1] = Linear.CreateRandom(backend, headIn, Classes, random);
        float[][] weights, biases;
        double pretrainSeconds, pretrainedA, pretrainedB;
        using (Sequential model = Network(backend, pre))
        {
            var clock = Stopwatch.StartNew();
            Train(model, new Adam(model.Parameters.Where(p => p.RequiresGrad), new AdamSettings(2e-3)), trainA, settings.PretrainEpochs, settings, "pretrain", log);
            pretrainSeconds = clock.Elapsed.TotalSeconds;
            pretrainedA = Evaluation.Accuracy(model, testA);
            pretrainedB = Evaluation.Accuracy(model, testB);
            weights = pre.Select(l => l.Parameters[0].Value.ToArray()).ToArray();
            biases = pre.Select(l => l.Parameters[1].Value.ToArray()).ToArray();
        }
        log.WriteLine($"pretrained CNN: task A (upright) test accuracy {pretrainedA:P1}, task B (rotated 90°) {pretrainedB:P1}, {pretrainSeconds:F1} s");

        // 2. Adapt to task B three ways from the same weights.
        var results = new List<FinetuneResult>();
        foreach (Method method in Methods)
        {
            var layers = new ILayer[convs.Length + 1];
            for (int i = 0; i < convs.Length; i++)
                layers[i] = method.Conv(backend, convs[i], weights[i], biases[i]);
            layers[^1] = method.Linear(backend, headIn, Classes, weights[^1], biases[^1]);
            using Sequential model = Network(backend, layers);
            Parameter[] trainable = model.Parameters.Where(p => p.RequiresGrad).ToArray();
            long effective = layers.Sum(Effective);
            var clock = Stopwatch.StartNew();
            TrainingResult training = Train(model, new Adam(trainable, new AdamSettings(method.LearningRate)), trainB, settings.AdaptEpochs, settings, method.Name, log);
            double seconds = clock.Elapsed.TotalSeconds;
            double accuracyB = Evaluation.Accuracy(model, testB), accuracyA = Evaluation.Accuracy(model, testA);
            long stored = trainable.Sum(p => (long)p.Value.Length);
            results.Add(new FinetuneResult(method.Name, method.Description, stored, effective, accuracyB, accuracyA, seconds, training.Steps, training.Losses[^1]));
            log.WriteLine($"{method.Name}: task B {accuracyB:P1}, task A kept {accuracyA:P1}, {stored} trainable, {seconds:F1} s");
        }
        string[] layerNames = convs.Select((c, i) => $"conv{i + 1} {c.InChannels}→{c.OutChannels} 3x3 stride {c.StrideHeight} (d = {c.FilterDimension})")
            .Append($"fc {headIn}→{Classes} (d = {headIn})").ToArray();
        return new CnnReport(backend.Name, train.Length, test.Length, pretrainedA, pretrainedB, pretrainSeconds, results, settings, layerNames);
    }

    /// <summary>The three convolutions: 1→c1 stride 1, c1→c2 stride 2, c2→c3 stride 2, all 3x3 with padding 1 (28 → 28 → 14 → 7).</summary>
    /// <param name="channels">c1, c2, c3.</param>
    /// <returns>The shapes.</returns>
    public static Conv2dShape[] Convolutions(int[] channels)
    {
        ArgumentNullException.ThrowIfNull(channels);
        if (channels.Length != 3)
            throw new ArgumentException($"Three channel widths are needed, got {channels.Length}.", nameof(channels));
        var a = Conv2dShape.Square(1, channels[0], 3, Side, Side, stride: 1, padding: 1);
        var b = Conv2dShape.Square(channels[0], channels[1], 3, a.OutputHeight, a.OutputWidth, stride: 2, padding: 1);
        var c = Conv2dShape.Square(channels[1], channels[2], 3, b.OutputHeight, b.OutputWidth, stride: 2, padding: 1);
        return [a, b, c];
    }

    /// <summary>BOFT's block configuration for kernel dimension d: (m = 2, b = 4) when 8 divides d, else one factor with the largest block ≤ 4 dividing d.</summary>
    /// <param name="d">The kernel dimension (or in-features).</param>
    /// <returns>(b, m).</returns>
    public static (int BlockSize, int Factors) BoftBlocks(int d) =>
        d % 8 == 0 ? (4, 2) : (Enumerable.Range(1, 4).Reverse().First(b => d % b == 0), 1);

    /// <summary>OFT's block size for d: 8 when it divides d, else the divisor of d closest to 8 (ties to the smaller).</summary>
    /// <param name="d">The kernel dimension (or in-features).</param>
    /// <returns>b.</returns>
    public static int OftBlock(int d) =>
        Enumerable.Range(1, d).Where(b => d % b == 0).OrderBy(b => Math.Abs(b - 8)).ThenBy(b => b).First();

    private sealed record Method(string Name, string Description, double LearningRate,
        Func<BoftBackend, Conv2dShape, float[], float[], ILayer> Conv, Func<BoftBackend, int, int, float[], float[], ILayer> Linear);

    /// <summary>Adapters on every layer, frozen W0 and biases; BOFT (m=2, b=4) vs OFT b=8: 3d vs 3.5d skew degrees of freedom per
    /// layer (the pairing of the MLP run scaled down), conv1 (d = 9) uses BOFT b=3, m=1 and OFT b=9.</summary>
    private static readonly Method[] Methods =
    [
        new("full", "all weights and biases trainable", 1e-3,
            (backend, conv, w, b) => new Conv2d(backend, conv, w, b, trainable: true),
            (backend, d, n, w, b) => new Linear(backend, d, n, w, b, trainable: true)),
        new("boft", "BOFT on every conv and linear layer (m=2, b=4; conv1: m=1, b=3), boft_s trainable", 1e-2,
            (backend, conv, w, b) =>
            {
                (int block, int factors) = BoftBlocks(conv.FilterDimension);
                return new BoftConv2d(backend, conv, new BoftConfig(0, BlockSize: block, FactorCount: factors), w, b);
            },
            (backend, d, n, w, b) =>
            {
                (int block, int factors) = BoftBlocks(d);
                return new BoftLinear(backend, new BoftConfig(d, BlockSize: block, FactorCount: factors), n, w, b);
            }),
        new("oft", "OFT on every conv and linear layer (exact Cayley, b=8; conv1: b=9)", 1e-2,
            (backend, conv, w, b) => new OftConv2d(backend, conv, new OftConfig(0, BlockSize: OftBlock(conv.FilterDimension), Orthogonalization: Orthogonalization.ExactCayley), w, b),
            (backend, d, n, w, b) => new OftLinear(backend, new OftConfig(d, BlockSize: OftBlock(d), Orthogonalization: Orthogonalization.ExactCayley), n, w, b)),
    ];

    private static long Effective(ILayer layer) => layer switch
    {
        BoftConv2d b => b.Shape.EffectiveParameterCount + b.Convolution.OutChannels,
        OftConv2d o => o.Shape.StoredParameterCount,
        BoftLinear b => b.Shape.EffectiveParameterCount + b.OutFeatureCount,
        OftLinear o => o.Shape.StoredParameterCount,
        _ => layer.Parameters.Sum(p => (long)p.Value.Length),
    };

    private static Sequential Network(BoftBackend backend, ILayer[] layers)
    {
        var chain = new List<ILayer>();
        for (int i = 0; i < layers.Length; i++)
        {
            chain.Add(layers[i]);
            if (i < layers.Length - 1)
                chain.Add(new Relu(backend, layers[i].OutFeatureCount));
        }
        return new Sequential(backend, [.. chain]);
    }

    private static TrainingResult Train(Sequential model, Optimizer optimizer, Dataset data, int epochs, CnnSettings settings, string name, TextWriter log)
    {
        using (optimizer)
        {
            int steps = Math.Max(1, epochs * ((data.Count + settings.BatchSize - 1) / settings.BatchSize));
            var trainer = new Trainer(model, optimizer, new SoftmaxCrossEntropyLoss(),
                new TrainingOptions(Epochs: epochs, BatchSize: settings.BatchSize, Seed: settings.Seed, MaxGradientNorm: 5.0,
                    Schedule: new CosineWithWarmup(Math.Max(1, steps / 20), steps), ReportEvery: 50))
            {
                Progress = new ConsoleProgress(log, $"[cnn {name}] "),
            };
            TrainingResult result = trainer.Fit(data);
            model.IsTraining = false;
            return result;
        }
    }

    /// <summary>Rotates every 28x28 image by 90° clockwise.</summary>
    /// <param name="images">Row-major images, 784 values each.</param>
    /// <returns>The rotated images.</returns>
    public static float[] Rotate90(float[] images)
    {
        ArgumentNullException.ThrowIfNull(images);
        var result = new float[images.Length];
        for (int image = 0; image < images.Length / CnnDigits.Pixels; image++)
        {
            int offset = image * CnnDigits.Pixels;
            for (int row = 0; row < Side; row++)
                for (int col = 0; col < Side; col++)
                    result[offset + col * Side + (Side - 1 - row)] = images[offset + row * Side + col];
        }
        return result;
    }

    private static (int[] Train, int[] Test) Split(int[] labels, CnnSettings settings)
    {
        var random = new Random(settings.Seed);
        var train = new List<int>();
        var test = new List<int>();
        for (int c = 0; c < Classes; c++)
        {
            int[] members = Enumerable.Range(0, labels.Length).Where(i => labels[i] == c).ToArray();
            random.Shuffle(members);
            int testCount = (int)Math.Round(members.Length * settings.TestFraction);
            test.AddRange(members.Take(testCount));
            train.AddRange(members.Skip(testCount));
        }
        int[] trainRows = train.ToArray();
        if (settings.MaxTrainImages > 0 && trainRows.Length > settings.MaxTrainImages)
        {
            random.Shuffle(trainRows);
            trainRows = trainRows[..settings.MaxTrainImages];
        }
        return (trainRows.Order().ToArray(), test.Order().ToArray());
    }

    private static Dataset Subset(float[] images, int[] labels, int[] rows)
    {
        var features = new float[rows.Length * CnnDigits.Pixels];
        var targets = new float[rows.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            images.AsSpan(rows[i] * CnnDigits.Pixels, CnnDigits.Pixels).CopyTo(features.AsSpan(i * CnnDigits.Pixels));
            targets[i] = labels[rows[i]];
        }
        return new Dataset(features, CnnDigits.Pixels, targets, 1);
    }
}
