// The `finetune` command: runs FinetuneExperiment on the vendored digits, prints a table, and writes markdown, an SVG plot
// and JSON to results/finetune/ (docs/06_Finetuning.md).
//   dotnet run -c Release --project Boft.Benchmarks -- finetune [--quick] [--backend NAME] [--threads N] [--seed N]
//       [--shift PIXELS] [--seeds N] [--dtype fp32,bf16,fp16] [--json PATH] [--out DIR]
// With --dtype the adaptation of every method runs in each listed element type (activations and frozen weights in the type,
// float32 masters, fp16 with dynamic loss scaling; docs/09_Mixed-precision.md), from the same float32-pretrained network.
// With --seeds N (default 3; 1 with --quick) the run is repeated for seeds 0..N−1 (split, initialization, shuffling) and the
// table reports mean ± standard deviation over the seeds.

using System.Globalization;
using System.Text;
using System.Text.Json;
using Boft.Backends;
using Boft.Experiments.Finetune;
using Boft.Data;

namespace Boft.Benchmarks.Finetune;

internal sealed class FinetuneJobOptions
{
    public string Backend { get; set; } = BenchmarkBackends.Default;

    public int Threads { get; set; } = -1;

    public bool Quick { get; set; }

    public int Seed { get; set; }

    public int? Seeds { get; set; }

    public int? ShiftPixels { get; set; }

    public IReadOnlyList<ElementType> ActivationTypes { get; set; } = [ElementType.Float32];

    public string? JsonPath { get; set; }

    public string? OutputDirectory { get; set; }
}

internal static class FinetuneJob
{
    public static int Run(FinetuneJobOptions options)
    {
        DigitsDataset digits = DigitsDataset.Load(DigitsDataset.DefaultPath);
        using BoftBackend backend = BenchmarkBackends.Create(options.Backend, options.Threads);
        int seeds = options.Seeds ?? (options.Quick ? 1 : 3);
        if (seeds < 1)
            throw new ArgumentException($"--seeds ({seeds}) must be at least 1.");
        Console.Error.WriteLine($"finetune on {BenchmarkBackends.Describe(backend)}: {digits.Count} digits, {seeds} seed(s), {MachineInfo.Cpu()}");
        var reports = new List<FinetuneReport>();
        for (int i = 0; i < seeds; i++)
        {
            FinetuneSettings settings = (options.Quick ? FinetuneSettings.Quick : new FinetuneSettings()) with { Seed = options.Seed + i, ActivationTypes = options.ActivationTypes };
            if (options.ShiftPixels is int shift)
                settings = settings with { ShiftPixels = shift };
            reports.Add(FinetuneExperiment.Run(backend, digits.Features.ToArray(), digits.Labels.ToArray(), settings, Console.Error));
        }

        string table = Table(reports, BenchmarkBackends.Describe(backend));
        Console.WriteLine(table);
        string directory = options.OutputDirectory ?? Path.Combine("results", "finetune");
        string jsonPath = options.JsonPath ?? Path.Combine(directory, "finetune.json");
        ResultFiles.WriteText(Path.Combine(directory, "finetune.md"), table + "\n![plot](finetune.svg)\n");
        ResultFiles.WriteText(Path.Combine(directory, "finetune.svg"), Chart(reports));
        ResultFiles.WriteText(jsonPath, Json(reports));
        Console.Error.WriteLine($"wrote {directory}/finetune.md, {directory}/finetune.svg and {jsonPath}");
        return 0;
    }

    private static (double Mean, double Std) Stats(IEnumerable<double> values)
    {
        double[] v = values.ToArray();
        double mean = v.Average();
        double std = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : 0;
        return (mean, std);
    }

    private static string Percent((double Mean, double Std) s, int runs) =>
        runs > 1 ? string.Create(CultureInfo.InvariantCulture, $"{100 * s.Mean:F1} ± {100 * s.Std:F1} %") : string.Create(CultureInfo.InvariantCulture, $"{100 * s.Mean:F1} %");

    private static string Table(List<FinetuneReport> reports, string backend)
    {
        FinetuneSettings s = reports[0].Settings;
        int runs = reports.Count;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# Finetuning on shifted digits ({backend})");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"MLP 64-{s.Hidden}-{s.Hidden}-10 pretrained {s.PretrainEpochs} epochs on the 8x8 digits (task A, {reports[0].TrainCount} train / {reports[0].TestCount} test), " +
            $"then adapted {s.AdaptEpochs} epochs to the same digits shifted {s.ShiftPixels} px right and down (task B); Adam, batch {s.BatchSize}, cosine schedule with warm-up, " +
            $"gradient clipping at norm 5. Mean ± standard deviation over {runs} seed(s) ({string.Join(", ", reports.Select(r => r.Settings.Seed))}): each seed draws its own split, initialization and shuffling.");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Pretrained: task A {Percent(Stats(reports.Select(r => r.PretrainedOriginalAccuracy)), runs)}, task B {Percent(Stats(reports.Select(r => r.PretrainedNewTaskAccuracy)), runs)} " +
            $"(pretraining {reports.Average(r => r.PretrainSeconds):F1} s).");
        sb.AppendLine();
        bool typed = s.ActivationTypes.Count > 1 || s.ActivationTypes[0] != ElementType.Float32;
        bool withFloat32 = s.ActivationTypes.Contains(ElementType.Float32);
        if (typed)
        {
            sb.AppendLine("dtype: activations and frozen weights in the type, trainable parameters and Adam state float32 masters; fp16 with dynamic loss scaling " +
                "(scale = the final loss scale, skipped = steps skipped on a gradient overflow), bf16 without (float32's exponent range). " +
                (withFloat32 ? "Δ B: task B accuracy minus the same method's fp32 accuracy (mean over seeds), in percentage points." : ""));
            sb.AppendLine();
            sb.AppendLine("| method | dtype | adapter | trainable (stored) | effective | task B accuracy (new) | Δ B vs fp32 | task A accuracy (kept) | time (s) | steps | scale / skipped |");
            sb.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        }
        else
        {
            sb.AppendLine("| method | adapter | trainable (stored) | effective | task B accuracy (new) | task A accuracy (kept) | time (s) | steps |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        }
        foreach (FinetuneResult first in reports[0].Results)
        {
            FinetuneResult[] all = reports.Select(r => r.Results.Single(x => x.Method == first.Method && x.ActivationType == first.ActivationType)).ToArray();
            if (!typed)
            {
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"| {first.Method} | {first.Adapter} | {first.TrainableParameters:N0} | {first.EffectiveParameters:N0} | {Percent(Stats(all.Select(r => r.NewTaskAccuracy)), runs)} | " +
                    $"{Percent(Stats(all.Select(r => r.OriginalTaskAccuracy)), runs)} | {all.Average(r => r.Seconds):F2} | {first.Steps} |");
                continue;
            }
            string delta = "";
            if (withFloat32 && first.ActivationType != ElementType.Float32)
            {
                double baseline = reports.Average(r => r.Results.Single(x => x.Method == first.Method && x.ActivationType == ElementType.Float32).NewTaskAccuracy);
                delta = string.Create(CultureInfo.InvariantCulture, $"{100 * (all.Average(r => r.NewTaskAccuracy) - baseline):+0.0;-0.0;0.0}");
            }
            string scale = first.LossScale is double ls ? string.Create(CultureInfo.InvariantCulture, $"{ls:G} / {all.Sum(r => r.SkippedSteps)}") : "";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {first.Method} | {FinetuneExperiment.DtypeName(first.ActivationType)} | {first.Adapter} | {first.TrainableParameters:N0} | {first.EffectiveParameters:N0} | " +
                $"{Percent(Stats(all.Select(r => r.NewTaskAccuracy)), runs)} | {delta} | {Percent(Stats(all.Select(r => r.OriginalTaskAccuracy)), runs)} | " +
                $"{all.Average(r => r.Seconds):F2} | {first.Steps} | {scale} |");
        }
        return sb.ToString();
    }

    private static string Chart(List<FinetuneReport> reports)
    {
        FinetuneReport first = reports[0];
        bool typed = first.Settings.ActivationTypes.Count > 1 || first.Settings.ActivationTypes[0] != ElementType.Float32;
        var groups = first.Results.Select(r => new SvgChart.Group(
            typed ? $"{r.Method} {FinetuneExperiment.DtypeName(r.ActivationType)} ({r.TrainableParameters:N0} trainable)" : $"{r.Method} ({r.TrainableParameters:N0} trainable)",
        [
            reports.Average(x => x.Results.Single(y => y.Method == r.Method && y.ActivationType == r.ActivationType).NewTaskAccuracy),
            reports.Average(x => x.Results.Single(y => y.Method == r.Method && y.ActivationType == r.ActivationType).OriginalTaskAccuracy),
        ])).ToList();
        groups.Insert(0, new SvgChart.Group("pretrained", [reports.Average(r => r.PretrainedNewTaskAccuracy), reports.Average(r => r.PretrainedOriginalAccuracy)]));
        return SvgChart.Render($"Adapting an MLP to digits shifted {first.Settings.ShiftPixels} px ({first.Backend}, mean of {reports.Count} seed(s))", "test accuracy",
            [new SvgChart.Panel("accuracy by method", groups)], columns: 1, ["task B: shifted digits (new task)", "task A: original digits (kept)"],
            linearMaximum: 1.0, panelWidth: 960);
    }

    private static string Json(List<FinetuneReport> reports) => JsonSerializer.Serialize(reports.Select(report => new
    {
        backend = report.Backend,
        train_count = report.TrainCount,
        test_count = report.TestCount,
        settings = new
        {
            seed = report.Settings.Seed,
            pretrain_epochs = report.Settings.PretrainEpochs,
            adapt_epochs = report.Settings.AdaptEpochs,
            batch_size = report.Settings.BatchSize,
            shift_pixels = report.Settings.ShiftPixels,
            hidden = report.Settings.Hidden,
            dtypes = report.Settings.ActivationTypes.Select(FinetuneExperiment.DtypeName).ToArray(),
        },
        pretrained = new { original_accuracy = report.PretrainedOriginalAccuracy, new_task_accuracy = report.PretrainedNewTaskAccuracy, seconds = report.PretrainSeconds },
        results = report.Results.Select(r => new
        {
            method = r.Method,
            dtype = FinetuneExperiment.DtypeName(r.ActivationType),
            adapter = r.Adapter,
            trainable_parameters = r.TrainableParameters,
            effective_parameters = r.EffectiveParameters,
            new_task_accuracy = r.NewTaskAccuracy,
            original_task_accuracy = r.OriginalTaskAccuracy,
            seconds = r.Seconds,
            steps = r.Steps,
            final_loss = r.FinalLoss,
            loss_scale = r.LossScale,
            loss_scale_skipped_steps = r.SkippedSteps,
        }),
    }), new JsonSerializerOptions { WriteIndented = true });
}
