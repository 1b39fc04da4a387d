// The default command: the benchmark that decides (Main/MainJob.cs). Defaults: layer d = 1024, T = 1,64,512,2048, quality
// at d = 64, the PyTorch peer when torch imports; --full widens every sweep (long tables; many minutes).

using System.ComponentModel;
using Boft.Benchmarks.Main;
using Boft.Experiments.Quality;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Boft.Benchmarks.Cli;

internal sealed class MainSettings : BackendSettings
{
    [CommandOption("--full")]
    [Description("the full sweep: layer d 768,1024,4096, T 1,16,64,256,512,2048, quality d 64,128 over every valid (m, b), longer budgets")]
    public bool Full { get; init; }

    [CommandOption("-d|--features <LIST>")]
    [Description("layer feature counts d (default 1024; --full: 768,1024,4096)")]
    public string? FeatureCounts { get; init; }

    [CommandOption("--tokens <LIST>")]
    [Description("token counts (default 1,64,512; --full: 1,16,64,256,512,2048)")]
    public string? Tokens { get; init; }

    [CommandOption("--quality-d <LIST>")]
    [Description("feature counts of the quality fit (default 64; --full: 64,128)")]
    public string? QualityFeatureCounts { get; init; }

    [CommandOption("--steps <N>")]
    [Description("Adam steps of each quality fit (default 250; --full: 600)")]
    public string? StepsText { get; init; }

    public int? Steps => Options.Int(StepsText, "--steps");

    [CommandOption("--seeds <N>")]
    [Description("starts per quality fit: the identity plus N − 1 random (default 2; --full: 3)")]
    public string? SeedsText { get; init; }

    public int? Seeds => Options.Int(SeedsText, "--seeds");

    [CommandOption("--seed <N>")]
    [Description("seed of the targets, the random starts and the activation batch (default 0)")]
    public string? SeedText { get; init; }

    public int? Seed => Options.Int(SeedText, "--seed");

    [CommandOption("--budget-ms <MS>")]
    [Description("time budget per layer measurement in ms (default 60; --full: 200)")]
    public string? BudgetMsText { get; init; }

    public double? BudgetMs => Options.Number(BudgetMsText, "--budget-ms");

    [CommandOption("--no-peer")]
    [Description("skip the PyTorch peer")]
    public bool NoPeer { get; init; }

    [CommandOption("--python <PATH>")]
    [Description("python interpreter with torch for the peer (default /usr/bin/python3)")]
    public string? Python { get; init; }

    [CommandOption("--json <PATH>")]
    [Description("JSON output path (default: <out>/main.json)")]
    public string? JsonPath { get; init; }

    [CommandOption("--dtype <TYPES>")]
    [Description("activation types of the full-layer cost, comma-separated: fp32, bf16, fp16 (default fp32; the first feeds the summary)")]
    public string? DtypeText { get; init; }

    public override ValidationResult Validate() => Options.Guard(() =>
    {
        if (Steps is int s && s < 1)
            return ValidationResult.Error($"--steps {s} is not valid; accepted values: a whole number ≥ 1.");
        if (Seeds is int n && n < 1)
            return ValidationResult.Error($"--seeds {n} is not valid; accepted values: a whole number ≥ 1.");
        ValidationResult quality = Options.CheckIntList(QualityFeatureCounts, "--quality-d", 4);
        if (quality.Successful && Options.IntList(QualityFeatureCounts, "--quality-d", 4) is int[] q && q.FirstOrDefault(v => v % 2 != 0) is int odd && odd != 0)
            return ValidationResult.Error($"--quality-d {odd} is not valid; accepted values: even whole numbers ≥ 4.");
        return Options.All(base.Validate(), Options.CheckIntList(FeatureCounts, "--features", 2), Options.CheckIntList(Tokens, "--tokens"), quality,
            Options.CheckPositive(BudgetMs, "budget-ms"), DtypeOption.Check(DtypeText));
    });
}

internal sealed class MainCommand : Command<MainSettings>
{
    public override int Execute(CommandContext context, MainSettings settings, CancellationToken cancellationToken) => Guard.Run(() =>
    {
        bool full = settings.Full;
        var options = new MainJobOptions
        {
            Full = full,
            FeatureCounts = Options.IntList(settings.FeatureCounts, "--features", 2) ?? (full ? [768, 1024, 4096] : [1024]),
            Tokens = Options.IntList(settings.Tokens, "--tokens") ?? (full ? [1, 16, 64, 256, 512, 2048] : [1, 64, 512]),
            QualityFeatureCounts = Options.IntList(settings.QualityFeatureCounts, "--quality-d", 4) ?? (full ? [64, 128] : [64]),
            Quality = new QualityFitSettings(Steps: settings.Steps ?? (full ? 600 : 250), SearchSteps: full ? 150 : 80, Seeds: settings.Seeds ?? (full ? 3 : 2), Seed: settings.Seed ?? 0),
            BudgetMs = settings.BudgetMs ?? (full ? 200 : 60),
            Backend = settings.Backend,
            Threads = settings.ThreadCount,
            Peer = !settings.NoPeer,
            Python = settings.Python,
            OutputDirectory = settings.OutputDirectory,
            JsonPath = settings.JsonPath,
            Dtypes = DtypeOption.Parse(settings.DtypeText),
        };
        return MainJob.Run(options);
    });
}
