// The `finetune --model cnn` command: runs CnnExperiment on the committed MNIST digits, prints a table, and writes
// markdown, an SVG plot and JSON to results/finetune-cnn/ (docs/06_Finetuning_Cnn.md). Self-contained option parsing:
//   dotnet run -c Release --project Boft.Benchmarks -- finetune --model cnn [--quick] [--backend NAME] [--threads N]
//       [--seed N] [--pretrain-epochs N] [--adapt-epochs N] [--max-train N] [--json PATH] [--out DIR]

using System.Globalization;
using System.Text;
using System.Text.Json;
using Boft.Backends;
using Boft.Experiments.Finetune;

namespace Boft.Benchmarks.Finetune;

/// <summary>The CNN finetuning command.</summary>
public static class CnnJob
{
    /// <summary>Runs the command.</summary>
    /// <param name="args">The options after <c>finetune</c> (a <c>--model cnn</c> pair is ignored).</param>
    /// <returns>The exit code.</returns>
    public static int Run(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        bool quick = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--quick")
            {
                quick = true;
                continue;
            }
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                throw new ArgumentException($"Unexpected argument '{args[i]}' for finetune --model cnn.");
            options[args[i]] = args[++i];
        }
        string[] known = ["--model", "--backend", "--threads", "--seed", "--pretrain-epochs", "--adapt-epochs", "--max-train", "--json", "--out"];
        foreach (string key in options.Keys)
            if (!known.Contains(key))
                throw new ArgumentException($"Unknown option '{key}' for finetune --model cnn; known: --quick, {string.Join(", ", known)}.");
        int Int(string name, int fallback) => options.TryGetValue(name, out string? v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

        CnnSettings settings = quick ? CnnSettings.Quick : new CnnSettings();
        settings = settings with
        {
            Seed = Int("--seed", settings.Seed),
            PretrainEpochs = Int("--pretrain-epochs", settings.PretrainEpochs),
            AdaptEpochs = Int("--adapt-epochs", settings.AdaptEpochs),
            MaxTrainImages = Int("--max-train", settings.MaxTrainImages),
        };
        CnnDigits digits = CnnDigits.Load(CnnDigits.DefaultPath);
        using BoftBackend backend = BenchmarkBackends.Create(options.GetValueOrDefault("--backend", BenchmarkBackends.Default), Int("--threads", -1));
        Console.Error.WriteLine($"finetune --model cnn on {BenchmarkBackends.Describe(backend)}: {digits.Count} MNIST digits, {MachineInfo.Cpu()}");
        CnnReport report = CnnExperiment.Run(backend, digits, settings, Console.Error);

        string table = Table(report, BenchmarkBackends.Describe(backend));
        Console.WriteLine(table);
        string directory = options.GetValueOrDefault("--out", Path.Combine("results", "finetune-cnn"));
        string jsonPath = options.GetValueOrDefault("--json", Path.Combine(directory, "cnn.json"));
        ResultFiles.WriteText(Path.Combine(directory, "cnn.md"), table + "\n![plot](cnn.svg)\n");
        ResultFiles.WriteText(Path.Combine(directory, "cnn.svg"), Chart(report));
        ResultFiles.WriteText(jsonPath, Json(report));
        Console.Error.WriteLine($"wrote {directory}/cnn.md, {directory}/cnn.svg and {jsonPath}");
        return 0;
    }

    private static string Table(CnnReport r, string backend)
    {
        CnnSettings s = r.Settings;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# CNN finetuning on rotated MNIST digits ({backend})");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"CNN {string.Join(" → ", r.Layers)}, ReLU between layers. Pretrained {s.PretrainEpochs} epochs on upright 28x28 digits (task A, {r.TrainCount} train / {r.TestCount} test), " +
            $"then adapted {s.AdaptEpochs} epochs to the same digits rotated 90° clockwise (task B); Adam, batch {s.BatchSize}, cosine schedule with warm-up, gradient clipping at norm 5, seed {s.Seed}.");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Pretrained: task A {100 * r.PretrainedOriginalAccuracy:F1} %, task B {100 * r.PretrainedNewTaskAccuracy:F1} % (pretraining {r.PretrainSeconds:F1} s).");
        sb.AppendLine();
        sb.AppendLine("| method | adapter | trainable (stored) | effective | task B accuracy (new) | task A accuracy (kept) | time (s) | steps |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (FinetuneResult x in r.Results)
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {x.Method} | {x.Adapter} | {x.TrainableParameters:N0} | {x.EffectiveParameters:N0} | {100 * x.NewTaskAccuracy:F1} % | {100 * x.OriginalTaskAccuracy:F1} % | {x.Seconds:F1} | {x.Steps} |");
        return sb.ToString();
    }

    private static string Chart(CnnReport r)
    {
        var groups = r.Results.Select(x => new SvgChart.Group($"{x.Method} ({x.TrainableParameters:N0} trainable)", [x.NewTaskAccuracy, x.OriginalTaskAccuracy])).ToList();
        groups.Insert(0, new SvgChart.Group("pretrained", [r.PretrainedNewTaskAccuracy, r.PretrainedOriginalAccuracy]));
        return SvgChart.Render($"Adapting a CNN to MNIST digits rotated 90° ({r.Backend}, seed {r.Settings.Seed})", "test accuracy",
            [new SvgChart.Panel("accuracy by method", groups)], columns: 1, ["task B: rotated digits (new task)", "task A: upright digits (kept)"],
            linearMaximum: 1.0, panelWidth: 960);
    }

    private static string Json(CnnReport r) => JsonSerializer.Serialize(new
    {
        backend = r.Backend,
        train_count = r.TrainCount,
        test_count = r.TestCount,
        layers = r.Layers,
        settings = new
        {
            seed = r.Settings.Seed,
            pretrain_epochs = r.Settings.PretrainEpochs,
            adapt_epochs = r.Settings.AdaptEpochs,
            batch_size = r.Settings.BatchSize,
            max_train_images = r.Settings.MaxTrainImages,
            channels = r.Settings.ChannelWidths,
        },
        pretrained = new { original_accuracy = r.PretrainedOriginalAccuracy, new_task_accuracy = r.PretrainedNewTaskAccuracy, seconds = r.PretrainSeconds },
        results = r.Results.Select(x => new
        {
            method = x.Method,
            adapter = x.Adapter,
            trainable_parameters = x.TrainableParameters,
            effective_parameters = x.EffectiveParameters,
            new_task_accuracy = x.NewTaskAccuracy,
            original_task_accuracy = x.OriginalTaskAccuracy,
            seconds = x.Seconds,
            steps = x.Steps,
            final_loss = x.FinalLoss,
        }),
    }, new JsonSerializerOptions { WriteIndented = true });
}
