// Quality at equal budget: fit one adapter configuration to a target rotation with the training core, exactly as a user
// would train it. The model is the real BoftLinear / OftLinear with W0 = I and no bias, so y = (x R) Iᵀ ⊙ s = x R (BOFT's
// boft_s is kept at 1 and not trained: only the rotation is fitted); the data are the d rows of the identity with the
// target's rows as labels, so the mean-squared-error loss is ‖R − T‖²_F / d² and one full batch is one step. Optimizer:
// Adam, cosine schedule with 5 % warm-up, the same step budget and learning-rate search for every configuration:
//   1. learning-rate search: each rate of the ladder for SearchSteps steps from the identity start, keep the best;
//   2. with that rate, Steps steps from the identity start and from Seeds − 1 random starts (N(0, 0.1²) raw parameters);
//   3. report the best relative error ‖R − T‖_F / ‖T‖_F, and ‖X R − X T‖_F / ‖X T‖_F on a fixed batch of Gaussian rows.
// Reproducible: every random number comes from the settings' seed. docs/04_Benchmarking.md §Quality at equal budget.

using Boft.Backends;
using Boft.Experiments.Analysis;
using Boft.Layers;
using Boft.Training;

namespace Boft.Experiments.Quality;

/// <summary>Settings of the fit (the same for every configuration and target).</summary>
/// <param name="Steps">Adam steps of each final run.</param>
/// <param name="SearchSteps">Steps of each learning-rate trial.</param>
/// <param name="LearningRates">The learning-rate ladder searched.</param>
/// <param name="Seeds">Starts per configuration: the identity plus Seeds − 1 random ones.</param>
/// <param name="ActivationRows">Rows of the Gaussian batch X of the activation error.</param>
/// <param name="Seed">Seed of the random starts and of X.</param>
public sealed record QualityFitSettings(int Steps = 250, int SearchSteps = 80, IReadOnlyList<double>? LearningRates = null, int Seeds = 2,
    int ActivationRows = 128, int Seed = 0)
{
    /// <summary>The ladder used when <see cref="LearningRates"/> is null.</summary>
    public static IReadOnlyList<double> DefaultLearningRates { get; } = [0.01, 0.03, 0.1];

    /// <summary>The learning rates searched.</summary>
    public IReadOnlyList<double> Rates => LearningRates ?? DefaultLearningRates;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is below 1 or a rate is not positive.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Steps, 1, nameof(Steps));
        ArgumentOutOfRangeException.ThrowIfLessThan(SearchSteps, 1, nameof(SearchSteps));
        ArgumentOutOfRangeException.ThrowIfLessThan(Seeds, 1, nameof(Seeds));
        ArgumentOutOfRangeException.ThrowIfLessThan(ActivationRows, 1, nameof(ActivationRows));
        if (Rates.Count == 0 || Rates.Any(r => !(r > 0)))
            throw new ArgumentOutOfRangeException(nameof(LearningRates), "Every learning rate must be positive, and there must be at least one.");
    }
}

/// <summary>The outcome of fitting one configuration to one target.</summary>
/// <param name="Config">The configuration.</param>
/// <param name="Target">The target's name.</param>
/// <param name="FeatureCount">d.</param>
/// <param name="TrainableParameters">Scalars trained (the rotation's stored parameters).</param>
/// <param name="EffectiveParameters">Skew degrees of freedom m·d·(b−1)/2.</param>
/// <param name="Dense">Whether the configuration is at its dense limit.</param>
/// <param name="RelativeError">Best ‖R − T‖_F / ‖T‖_F.</param>
/// <param name="ActivationError">‖X R − X T‖_F / ‖X T‖_F of the best run.</param>
/// <param name="NoFitError">‖I − T‖_F / ‖T‖_F.</param>
/// <param name="ClosedFormError">For OFT: the Procrustes optimum of the block-diagonal family (null for BOFT).</param>
/// <param name="LearningRate">The rate the search chose.</param>
/// <param name="BestStart">"identity" or "random-N".</param>
/// <param name="Steps">Steps of the final runs.</param>
public sealed record QualityResult(MethodConfig Config, string Target, int FeatureCount, long TrainableParameters, long EffectiveParameters, bool Dense,
    double RelativeError, double ActivationError, double NoFitError, double? ClosedFormError, double LearningRate, string BestStart, int Steps)
{
    /// <summary>RelativeError / ClosedFormError − 1 for OFT (how far the optimizer is from the optimum), else null.</summary>
    public double? GapToClosedForm => ClosedFormError is double c && c > 0 ? RelativeError / c - 1 : ClosedFormError is not null ? RelativeError : null;
}

/// <summary>Fits adapters to target rotations with the training core.</summary>
public static class QualityFit
{
    /// <summary>Searches the learning rate, fits from several starts and reports the best errors.</summary>
    /// <param name="backend">The backend of the layer.</param>
    /// <param name="config">The configuration (valid for the target's d).</param>
    /// <param name="target">The target rotation.</param>
    /// <param name="settings">The fit settings.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentException">The configuration is not valid for the target's d.</exception>
    public static QualityResult Fit(BoftBackend backend, MethodConfig config, QualityTarget target, QualityFitSettings settings)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        int d = target.FeatureCount;
        if (!config.IsValidFor(d))
            throw new ArgumentException($"{config} is not a valid configuration for d = {d}.", nameof(config));
        double bestRate = settings.Rates[0], bestSearch = double.PositiveInfinity;
        foreach (double rate in settings.Rates)
        {
            double error = Error(Run(backend, config, target, rate, settings.SearchSteps, AdapterInitialization.Default), target.Matrix);
            if (error < bestSearch)
                (bestSearch, bestRate) = (error, rate);
        }
        double[]? bestR = null;
        double best = double.PositiveInfinity;
        string bestStart = "identity";
        for (int s = 0; s < settings.Seeds; s++)
        {
            AdapterInitialization start = s == 0 ? AdapterInitialization.Default : new AdapterInitialization(Identity: false, Seed: settings.Seed * 1000 + s);
            double[] r = Run(backend, config, target, bestRate, settings.Steps, start);
            double error = Error(r, target.Matrix);
            if (error < best)
                (best, bestR, bestStart) = (error, r, s == 0 ? "identity" : $"random-{s}");
        }
        double? closedForm = config.IsBoft ? null : Procrustes.BestBlockDiagonalError(target.Matrix, d, config.BlockSize);
        return new QualityResult(config, target.Name, d, config.StoredParameters(d), config.EffectiveParameters(d), config.IsDense(d), best,
            ActivationError(bestR!, target.Matrix, d, settings.ActivationRows, settings.Seed), target.NoFitError, closedForm, bestRate, bestStart, settings.Steps);
    }

    /// <summary>One training run; returns the fitted R (d×d, row-major, in double).</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="config">The configuration.</param>
    /// <param name="target">The target.</param>
    /// <param name="learningRate">Adam's base rate.</param>
    /// <param name="steps">Steps (one full batch each).</param>
    /// <param name="start">Initialization of the raw parameters (BOFT's scale is reset to 1 either way).</param>
    /// <returns>R.</returns>
    public static double[] Run(BoftBackend backend, MethodConfig config, QualityTarget target, double learningRate, int steps, AdapterInitialization start)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(start);
        int d = target.FeatureCount;
        float[] identity = Array.ConvertAll(DenseMatrix.Identity(d), v => (float)v);
        float[] targetRows = Array.ConvertAll(target.Matrix, v => (float)v);
        using AdapterLinear layer = config.IsBoft
            ? new BoftLinear(backend, config.BoftConfig(d), d, identity, default, start)
            : new OftLinear(backend, config.OftConfig(d), d, identity, default, start);
        if (layer.ScaleParameter is Parameter scale)
            scale.CopyFrom(Enumerable.Repeat(1f, d).ToArray());
        var data = new Dataset(identity, d, targetRows, d);
        using (var adam = new Adam([layer.Rotations], new AdamSettings(learningRate)))
        {
            var trainer = new Trainer(layer, adam, new MeanSquaredErrorLoss(),
                new TrainingOptions(Epochs: steps, BatchSize: d, Shuffle: false, Schedule: new CosineWithWarmup(Math.Max(1, steps / 20), steps), ReportEvery: steps));
            trainer.Fit(data);
        }
        layer.IsTraining = false;
        using Tensor input = backend.Upload(identity, d, d);
        using Tensor output = backend.Allocate(d, d);
        layer.Forward(input, output);
        return Array.ConvertAll(output.ToArray(), v => (double)v);
    }

    /// <summary>‖R − T‖_F / ‖T‖_F.</summary>
    /// <param name="r">R.</param>
    /// <param name="target">T.</param>
    /// <returns>The relative error.</returns>
    public static double Error(double[] r, double[] target) => DenseMatrix.FrobeniusDistance(r, target) / DenseMatrix.Frobenius(target);

    /// <summary>‖X R − X T‖_F / ‖X T‖_F on <paramref name="rows"/> Gaussian rows drawn from <paramref name="seed"/>.</summary>
    /// <param name="r">R.</param>
    /// <param name="target">T.</param>
    /// <param name="d">Feature count.</param>
    /// <param name="rows">Rows of X.</param>
    /// <param name="seed">Seed of X.</param>
    /// <returns>The relative activation error.</returns>
    public static double ActivationError(double[] r, double[] target, int d, int rows, int seed)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(target);
        var random = new Random(seed + 17);
        double difference = 0, reference = 0;
        var x = new double[d];
        for (int row = 0; row < rows; row++)
        {
            for (int i = 0; i < d; i++)
                x[i] = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            for (int j = 0; j < d; j++)
            {
                double xr = 0, xt = 0;
                for (int i = 0; i < d; i++)
                {
                    xr += x[i] * r[i * d + j];
                    xt += x[i] * target[i * d + j];
                }
                difference += (xr - xt) * (xr - xt);
                reference += xt * xt;
            }
        }
        return Math.Sqrt(difference / reference);
    }
}
