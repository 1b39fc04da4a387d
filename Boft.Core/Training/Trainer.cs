// The training loop: Forward → ZeroGrad → Backward → (clip) → Step, with a schedule, progress reports and evaluation.

using System.Diagnostics;
using System.Globalization;
using Boft.Backends;
using Boft.Layers;

namespace Boft.Training;

/// <summary>Options of <see cref="Trainer"/>.</summary>
/// <param name="Epochs">Passes over the training set (≥ 1).</param>
/// <param name="BatchSize">Rows per step (≥ 1).</param>
/// <param name="Shuffle">Shuffle rows every epoch.</param>
/// <param name="Seed">Seed of the shuffling.</param>
/// <param name="DropLast">Drop the last partial batch of each epoch.</param>
/// <param name="MaxGradientNorm">Clip gradients to this global 2-norm, or null.</param>
/// <param name="Schedule">Learning-rate schedule (factor of the optimizer's base rate), or null for constant.</param>
/// <param name="ReportEvery">Report progress every this many steps (≥ 1).</param>
/// <param name="EvaluateEvery">Run the evaluation callback every this many steps; 0 = at the end of each epoch.</param>
public sealed record TrainingOptions(int Epochs = 1, int BatchSize = 32, bool Shuffle = true, int Seed = 0, bool DropLast = false,
    double? MaxGradientNorm = null, LearningRateSchedule? Schedule = null, int ReportEvery = 10, int EvaluateEvery = 0)
{
    /// <summary>Validates the options with messages that quote the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        if (Epochs < 1)
            throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, $"Epochs ({Epochs}) must be at least 1.");
        if (BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, $"BatchSize ({BatchSize}) must be at least 1.");
        if (MaxGradientNorm is { } norm && (!double.IsFinite(norm) || norm <= 0))
            throw new ArgumentOutOfRangeException(nameof(MaxGradientNorm), norm, $"MaxGradientNorm ({norm}) must be positive and finite.");
        if (ReportEvery < 1)
            throw new ArgumentOutOfRangeException(nameof(ReportEvery), ReportEvery, $"ReportEvery ({ReportEvery}) must be at least 1.");
        if (EvaluateEvery < 0)
            throw new ArgumentOutOfRangeException(nameof(EvaluateEvery), EvaluateEvery, $"EvaluateEvery ({EvaluateEvery}) must not be negative.");
    }
}

/// <summary>A progress report of the training loop.</summary>
/// <param name="Step">Steps taken.</param>
/// <param name="TotalSteps">Steps planned.</param>
/// <param name="Epoch">Current epoch (1-based).</param>
/// <param name="Loss">Mean training loss since the last report.</param>
/// <param name="LearningRate">The learning rate of the last step.</param>
/// <param name="StepsPerSecond">Throughput since the start.</param>
/// <param name="GradientNorm">Global gradient norm of the last step before clipping.</param>
/// <param name="Metrics">Evaluation metrics, when this report follows an evaluation.</param>
/// <param name="SkippedSteps">Steps skipped so far because a gradient or the loss was not finite
/// (<see cref="NonFiniteGradientPolicy.SkipStep"/>, or a <see cref="LossScaler"/> overflow).</param>
/// <param name="LossScale">The loss scale after the last step when the trainer has a <see cref="Trainer.LossScaler"/>, else null.</param>
public sealed record TrainingProgress(int Step, int TotalSteps, int Epoch, double Loss, double LearningRate, double StepsPerSecond,
    double GradientNorm, IReadOnlyDictionary<string, double>? Metrics = null, int SkippedSteps = 0, double? LossScale = null)
{
    /// <inheritdoc />
    public override string ToString()
    {
        string metrics = Metrics is null ? "" : "  " + string.Join("  ", Metrics.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:F4}")));
        string skipped = SkippedSteps == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"  skipped {SkippedSteps}");
        string scale = LossScale is { } s ? string.Create(CultureInfo.InvariantCulture, $"  scale {s:G9}") : "";
        return string.Create(CultureInfo.InvariantCulture, $"step {Step}/{TotalSteps}  epoch {Epoch}  loss {Loss:F5}  lr {LearningRate:G3}  {StepsPerSecond:F1} steps/s{scale}{skipped}{metrics}");
    }
}

/// <summary>The outcome of <see cref="Trainer.Fit"/>.</summary>
/// <param name="Steps">Steps taken.</param>
/// <param name="Losses">The training loss of every step.</param>
/// <param name="Elapsed">Wall time.</param>
/// <param name="Evaluations">Every evaluation with the step it ran at.</param>
/// <param name="SkippedSteps">Of <paramref name="Steps"/>, how many were skipped because a gradient or the loss was not finite
/// (<see cref="NonFiniteGradientPolicy.SkipStep"/>; the optimizer's <see cref="Optimizer.NonFiniteGradients"/>; or a
/// <see cref="LossScaler"/> overflow).</param>
/// <param name="LossScale">The loss scale at the end when the trainer has a <see cref="Trainer.LossScaler"/>, else null.</param>
/// <param name="LossScaleSkippedSteps">Of <paramref name="SkippedSteps"/>, how many the loss scaler skipped for an overflowing gradient.</param>
public sealed record TrainingResult(int Steps, IReadOnlyList<double> Losses, TimeSpan Elapsed, IReadOnlyList<(int Step, IReadOnlyDictionary<string, double> Metrics)> Evaluations,
    int SkippedSteps = 0, double? LossScale = null, int LossScaleSkippedSteps = 0);

/// <summary>A training loop over a model, an optimizer and a loss. Tensors for batches are allocated once.</summary>
public sealed class Trainer
{
    /// <summary>Creates the loop.</summary>
    /// <param name="model">The model.</param>
    /// <param name="optimizer">The optimizer over the model's trainable parameters.</param>
    /// <param name="loss">The loss.</param>
    /// <param name="options">The options (validated here).</param>
    public Trainer(ILayer model, Optimizer optimizer, ILoss loss, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Model = model;
        Optimizer = optimizer;
        Loss = loss;
        Options = options;
    }

    /// <summary>The model.</summary>
    public ILayer Model { get; }

    /// <summary>The optimizer.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The loss.</summary>
    public ILoss Loss { get; }

    /// <summary>The options.</summary>
    public TrainingOptions Options { get; }

    /// <summary>
    /// Dynamic loss scaling (float16 training; <see cref="LossScaler"/>), or null for none. With a scaler, every step multiplies the loss
    /// gradient by the scale before the backward pass and <see cref="LossScaler.Step"/> unscales, checks and steps; a gradient overflow
    /// skips the step and lowers the scale. A non-finite loss value is still handled by <see cref="Optimizer.NonFiniteGradients"/>
    /// (the scale multiplies the gradient, not the forward pass, so lowering it cannot help). The scaler keeps its state across
    /// <see cref="Fit"/> calls. Progress reports and the result carry the scale.
    /// </summary>
    public LossScaler? LossScaler { get; init; }

    /// <summary>Receives progress reports (e.g. a <see cref="ConsoleProgress"/>), or null.</summary>
    public IProgress<TrainingProgress>? Progress { get; init; }

    /// <summary>Evaluation callback returning named metrics; the model is in evaluation mode while it runs. Null for none.</summary>
    public Func<ILayer, IReadOnlyDictionary<string, double>>? Evaluate { get; init; }

    /// <summary>Trains on <paramref name="data"/>.</summary>
    /// <param name="data">Training rows.</param>
    /// <returns>Losses, evaluations and time.</returns>
    /// <exception cref="ArgumentException">The data's feature count differs from the model's.</exception>
    public TrainingResult Fit(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.FeatureCount != Model.InFeatureCount)
            throw new ArgumentException($"data has {data.FeatureCount} features per row but the model takes {Model.InFeatureCount}.", nameof(data));
        if (Model.InputElementType != ElementType.Float32 || Model.OutputElementType != ElementType.Float32)
            throw new ArgumentException($"The model takes {Model.InputElementType} and gives {Model.OutputElementType}, but the trainer feeds float32 rows to a float32 loss: " +
                "begin and end a 16-bit model with Cast layers (docs/09_Mixed-precision.md).", nameof(data));
        int batch = Math.Min(Options.BatchSize, data.Count);
        int fullBatches = data.Count / batch;
        int remainder = data.Count - fullBatches * batch;
        int stepsPerEpoch = fullBatches + (!Options.DropLast && remainder > 0 ? 1 : 0);
        int totalSteps = stepsPerEpoch * Options.Epochs;
        BoftBackend backend = Optimizer.Backend;
        var batches = new Dictionary<int, BatchTensors>();
        var losses = new List<double>(totalSteps);
        var evaluations = new List<(int, IReadOnlyDictionary<string, double>)>();
        var order = Enumerable.Range(0, data.Count).ToArray();
        var random = new Random(Options.Seed);
        var clock = Stopwatch.StartNew();
        double reportSum = 0;
        int reportCount = 0, step = 0;
        double gradNorm = double.NaN;
        int skippedAtStart = Optimizer.SkippedStepCount;
        int scalerSkippedAtStart = LossScaler?.SkippedStepCount ?? 0;
        try
        {
            for (int epoch = 1; epoch <= Options.Epochs; epoch++)
            {
                if (Options.Shuffle)
                    random.Shuffle(order);
                for (int b = 0; b < stepsPerEpoch; b++)
                {
                    int size = b < fullBatches ? batch : remainder;
                    if (!batches.TryGetValue(size, out BatchTensors? tensors))
                        batches[size] = tensors = new BatchTensors(backend, size, data, Model.OutFeatureCount);
                    data.CopyBatch(order.AsSpan(b * batch, size), tensors.Features, tensors.Targets);
                    Model.IsTraining = true;
                    Optimizer.ZeroGrad();
                    Model.Forward(tensors.Features, tensors.Output);
                    double value = Loss.Compute(tensors.Output, tensors.Targets, tensors.GradOutput);
                    double lr = Optimizer.LearningRate * (Options.Schedule?.Factor(step) ?? 1.0);
                    if (double.IsFinite(value))
                    {
                        if (LossScaler is { } scaler)
                        {
                            scaler.ScaleGradient(tensors.GradOutput);
                            Model.Backward(tensors.GradOutput, null);
                            scaler.Step(Optimizer, lr, Options.MaxGradientNorm);
                        }
                        else
                        {
                            Model.Backward(tensors.GradOutput, null);
                            Optimizer.Step(lr, Options.MaxGradientNorm);
                        }
                        gradNorm = Optimizer.LastGradientNorm;
                    }
                    else if (Optimizer.NonFiniteGradients == NonFiniteGradientPolicy.SkipStep)
                    {
                        Optimizer.RecordSkippedStep();
                    }
                    else
                    {
                        throw new NonFiniteValueException($"The training loss became {value} at step {step + 1}; no parameter was changed. Check the batch for NaN or " +
                            "infinite values (AnomalyDetection.Enable() names the first op), lower the learning rate or enable gradient clipping, " +
                            "or set the optimizer's NonFiniteGradients = SkipStep to skip such steps.");
                    }
                    step++;
                    losses.Add(value);
                    reportSum += value;
                    reportCount++;
                    bool evaluate = Evaluate is not null && (Options.EvaluateEvery > 0 ? step % Options.EvaluateEvery == 0 : b == stepsPerEpoch - 1);
                    IReadOnlyDictionary<string, double>? metrics = null;
                    if (evaluate)
                    {
                        Model.IsTraining = false;
                        metrics = Evaluate!(Model);
                        Model.IsTraining = true;
                        evaluations.Add((step, metrics));
                    }
                    if (Progress is not null && (step % Options.ReportEvery == 0 || step == totalSteps || metrics is not null))
                    {
                        Progress.Report(new TrainingProgress(step, totalSteps, epoch, reportSum / reportCount, lr, step / clock.Elapsed.TotalSeconds, gradNorm, metrics,
                            Optimizer.SkippedStepCount - skippedAtStart, LossScaler?.Scale));
                        reportSum = 0;
                        reportCount = 0;
                    }
                }
            }
        }
        finally
        {
            foreach (BatchTensors t in batches.Values)
                t.Dispose();
            Model.IsTraining = false;
        }
        return new TrainingResult(step, losses, clock.Elapsed, evaluations, Optimizer.SkippedStepCount - skippedAtStart,
            LossScaler?.Scale, (LossScaler?.SkippedStepCount ?? 0) - scalerSkippedAtStart);
    }

    private sealed class BatchTensors : IDisposable
    {
        public BatchTensors(BoftBackend backend, int rows, Dataset data, int outFeatures)
        {
            Features = backend.Allocate(rows, data.FeatureCount);
            Targets = data.TargetWidth == 1 && outFeatures != 1 ? backend.Allocate(rows) : backend.Allocate(rows, data.TargetWidth);
            Output = backend.Allocate(rows, outFeatures);
            GradOutput = backend.Allocate(rows, outFeatures);
        }

        public Tensor Features { get; }

        public Tensor Targets { get; }

        public Tensor Output { get; }

        public Tensor GradOutput { get; }

        public void Dispose()
        {
            Features.Dispose();
            Targets.Dispose();
            Output.Dispose();
            GradOutput.Dispose();
        }
    }
}

/// <summary>Writes progress reports to a text writer (stderr by default), overwriting one line on a terminal.</summary>
public sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    private readonly TextWriter writer;
    private readonly bool overwrite;

    /// <summary>Creates the reporter.</summary>
    /// <param name="writer">Where to write; default <see cref="Console.Error"/>.</param>
    /// <param name="prefix">Text before each report (e.g. the run's name).</param>
    public ConsoleProgress(TextWriter? writer = null, string prefix = "")
    {
        this.writer = writer ?? Console.Error;
        overwrite = writer is null && !Console.IsErrorRedirected;
        Prefix = prefix;
    }

    /// <summary>Text before each report.</summary>
    public string Prefix { get; }

    /// <inheritdoc />
    public void Report(TrainingProgress value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string line = Prefix + value;
        bool last = value.Step == value.TotalSteps;
        if (overwrite)
            writer.Write("\r" + line.PadRight(100) + (last ? Environment.NewLine : ""));
        else
            writer.WriteLine(line);
    }
}

/// <summary>Evaluation helpers.</summary>
public static class Evaluation
{
    /// <summary>Classification accuracy (argmax of the model's output vs class-index targets) over a data set.</summary>
    /// <param name="model">The model (put in evaluation mode by the caller).</param>
    /// <param name="data">Rows with one class index per row.</param>
    /// <param name="batchSize">Rows per forward.</param>
    /// <returns>The fraction of correct rows.</returns>
    public static double Accuracy(ILayer model, Dataset data, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (data.TargetWidth != 1)
            throw new ArgumentException($"Accuracy needs one class index per row, but the data has {data.TargetWidth} targets per row.", nameof(data));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        BoftBackend backend = model.Parameters.Count > 0 ? model.Parameters[0].Backend : throw new ArgumentException("The model has no parameters to tell its backend.", nameof(model));
        int correct = 0, classes = model.OutFeatureCount;
        var rows = new int[batchSize];
        // Tensors for a full batch and, when the count is not a multiple of it, for the last partial one: two sets at most.
        var tensors = new Dictionary<int, (Tensor X, Tensor Labels, Tensor Output)>();
        try
        {
            for (int start = 0; start < data.Count; start += batchSize)
            {
                int size = Math.Min(batchSize, data.Count - start);
                if (!tensors.TryGetValue(size, out var t))
                    tensors[size] = t = (backend.Allocate(size, data.FeatureCount), backend.Allocate(size), backend.Allocate(size, classes));
                for (int i = 0; i < size; i++)
                    rows[i] = start + i;
                data.CopyBatch(rows.AsSpan(0, size), t.X, t.Labels);
                model.Forward(t.X, t.Output);
                float[] logits = t.Output.ToArray();
                for (int i = 0; i < size; i++)
                {
                    ReadOnlySpan<float> row = logits.AsSpan(i * classes, classes);
                    int best = 0;
                    for (int c = 1; c < classes; c++)
                        if (row[c] > row[best])
                            best = c;
                    if (best == (int)data.Targets(start + i)[0])
                        correct++;
                }
            }
        }
        finally
        {
            foreach (var (x, labels, output) in tensors.Values)
            {
                x.Dispose();
                labels.Dispose();
                output.Dispose();
            }
        }
        return (double)correct / data.Count;
    }
}
