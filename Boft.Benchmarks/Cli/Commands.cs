// The commands other than the main job: compare, peer, peak, finetune, bdn. Each is a thin adapter from validated settings
// to its job; defaults live once, in the settings below (and the job's option class for what the settings leave unset).

using System.ComponentModel;
using BenchmarkDotNet.Running;
using Boft.Backends;
using Boft.Benchmarks.Finetune;
using Boft.Experiments.Analysis;
using Boft.Kernels.Simd;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Boft.Benchmarks.Cli;

/// <summary>Runs a job and turns the documented bad-input exceptions into one message on stderr and exit code 2.</summary>
internal static class Guard
{
    public static int Run(Func<int> job)
    {
        try
        {
            return job();
        }
        catch (Exception e) when (e is ArgumentException or OptionException or NotSupportedException or PlatformNotSupportedException or FormatException)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }
}

internal sealed class CompareSettings : BackendSettings
{
    [CommandOption("-d|--features <LIST>")]
    [Description("feature counts d, comma-separated (default 768,1024,4096; --quick: 1024)")]
    public string? FeatureCounts { get; init; }

    [CommandOption("--tokens <LIST>")]
    [Description("token counts, comma-separated (default 1,64,512,2048; --quick: 64,512)")]
    public string? Tokens { get; init; }

    [CommandOption("--budget-ms <MS>")]
    [Description("time budget per measurement in ms (default 200; --quick: 50)")]
    public string? BudgetMsText { get; init; }

    public double? BudgetMs => Options.Number(BudgetMsText, "--budget-ms");

    [CommandOption("--json <PATH>")]
    [Description("JSON output path (default: <out>/compare.json)")]
    public string? JsonPath { get; init; }

    [CommandOption("--quick")]
    [Description("fewer shapes and a shorter budget, for the options not given explicitly")]
    public bool Quick { get; init; }

    [CommandOption("--dtype <TYPES>")]
    [Description("activation types, comma-separated: fp32, bf16, fp16 (default fp32); 16-bit rows time forward and forward+backward (Cayley is float32 only)")]
    public string? DtypeText { get; init; }

    [CommandOption("--simd-rotation <KERNEL>")]
    [Description("SIMD backend's rotation kernels (the forward, and the backward of OFT b = 2/4 and of b a multiple of two vectors): auto (the row-layout kernels where they apply) or tiled (docs/02_Ops/simd-backend.md §Row kernels)")]
    public string? SimdRotationText { get; init; }

    public SimdRotationKernel SimdRotation => SimdRotationText?.ToLowerInvariant() switch
    {
        null or "auto" => SimdRotationKernel.Auto,
        "tiled" => SimdRotationKernel.Tiled,
        _ => throw new ArgumentException($"--simd-rotation '{SimdRotationText}' is not a kernel; accepted values: auto, tiled."),
    };

    public override ValidationResult Validate() => Options.Guard(() => Options.All(base.Validate(), Options.CheckIntList(FeatureCounts, "--features"),
        Options.CheckIntList(Tokens, "--tokens"), Options.CheckPositive(BudgetMs, "budget-ms"), DtypeOption.Check(DtypeText),
        SimdRotation == SimdRotationKernel.Auto || IsSimdBackend(Backend) ? ValidationResult.Success()
            : ValidationResult.Error($"--simd-rotation {SimdRotationText} needs a SIMD backend (--backend simd, simd512, simd256 or simd128), not '{Backend}'.")));

    private static bool IsSimdBackend(string backend) => backend.StartsWith("simd", StringComparison.OrdinalIgnoreCase) || backend == BenchmarkBackends.Default;
}

internal sealed class CompareCommand : Command<CompareSettings>
{
    public override int Execute(CommandContext context, CompareSettings settings, CancellationToken cancellationToken) => Guard.Run(() =>
    {
        // --quick shortens only what was not given: `compare --features 512,768 --quick` keeps both feature counts.
        var options = new CompareJobOptions
        {
            FeatureCounts = Options.IntList(settings.FeatureCounts, "--features") ?? (settings.Quick ? [1024] : [768, 1024, 4096]),
            Tokens = Options.IntList(settings.Tokens, "--tokens") ?? (settings.Quick ? [64, 512] : [1, 64, 512, 2048]),
            BudgetMs = settings.BudgetMs ?? (settings.Quick ? 50 : 200),
            Backend = settings.Backend,
            Threads = settings.ThreadCount,
            JsonPath = settings.JsonPath,
            OutputDirectory = settings.OutputDirectory,
            Dtypes = DtypeOption.Parse(settings.DtypeText),
            SimdRotation = settings.SimdRotation,
        };
        if (settings.Quick)
            options.BoftConfigs = [MethodConfig.Boft(2, 8), MethodConfig.Boft(4, 4)];
        return CompareJob.Run(options);
    });
}

internal sealed class PeerSettings : BackendSettings
{
    [CommandOption("-d|--features <D>")]
    [Description("feature count d (default 1024)")]
    public string? FeatureCountText { get; init; }

    public int FeatureCount => Options.Int(FeatureCountText, "--features") ?? 1024;

    [CommandOption("--tokens <T>")]
    [Description("token count (default 512)")]
    public string? TokensText { get; init; }

    public int Tokens => Options.Int(TokensText, "--tokens") ?? 512;

    [CommandOption("--pairs <LIST>")]
    [Description("BOFT shapes as m,b pairs, comma-separated (default 2,8,4,4,1,32; m = 1 is OFT with full raw blocks)")]
    public string? Pairs { get; init; }

    [CommandOption("--python <PATH>")]
    [Description("python interpreter with torch (default /usr/bin/python3)")]
    public string? Python { get; init; }

    [CommandOption("--script <PATH>")]
    [Description("the peer script (default: Peer/torch_peer.py next to the executable)")]
    public string? Script { get; init; }

    [CommandOption("--budget-ms <MS>")]
    [Description("time budget per measurement in ms (default 500)")]
    public string? BudgetMsText { get; init; }

    public double? BudgetMs => Options.Number(BudgetMsText, "--budget-ms");

    [CommandOption("--torch-runs <N>")]
    [Description("how often the peer runs (its best median is kept; default 3)")]
    public string? TorchRunsText { get; init; }

    public int TorchRuns => Options.Int(TorchRunsText, "--torch-runs") ?? 3;

    public override ValidationResult Validate() => Options.Guard(() =>
    {
        if (FeatureCount < 2)
            return ValidationResult.Error($"--features {FeatureCount} is not valid; accepted values: a whole number ≥ 2.");
        if (Tokens < 1)
            return ValidationResult.Error($"--tokens {Tokens} is not valid; accepted values: a whole number ≥ 1.");
        if (TorchRuns < 1)
            return ValidationResult.Error($"--torch-runs {TorchRuns} is not valid; accepted values: a whole number ≥ 1.");
        ValidationResult pairs = Options.CheckIntList(Pairs, "--pairs");
        if (pairs.Successful && Pairs is not null && Options.IntList(Pairs, "--pairs")!.Length % 2 != 0)
            return ValidationResult.Error($"--pairs '{Pairs}' is not valid; accepted values: m,b pairs, e.g. 2,8,4,4.");
        return Options.All(base.Validate(), pairs, Options.CheckPositive(BudgetMs, "budget-ms"));
    });
}

internal sealed class PeerCommand : Command<PeerSettings>
{
    public override int Execute(CommandContext context, PeerSettings settings, CancellationToken cancellationToken) => Guard.Run(() =>
    {
        var options = new PeerOptions
        {
            FeatureCount = settings.FeatureCount,
            Tokens = settings.Tokens,
            Backend = settings.Backend,
            Threads = settings.ThreadCount,
            Python = settings.Python,
            Script = settings.Script,
            OutputDirectory = settings.OutputDirectory,
            TorchRuns = settings.TorchRuns,
        };
        if (settings.BudgetMs is double ms)
            options.BudgetMs = ms;
        if (Options.IntList(settings.Pairs, "--pairs") is int[] p)
            options.Pairs = Enumerable.Range(0, p.Length / 2).Select(i => (p[2 * i], p[2 * i + 1])).ToArray();
        return PeerJob.Run(options);
    });
}

internal sealed class PeakSettings : CommandSettings
{
    [CommandOption("--threads <N>")]
    [Description("threads of the all-core measurement (default: all cores)")]
    public string? ThreadsText { get; init; }

    public int? Threads => Options.Int(ThreadsText, "--threads");

    public override ValidationResult Validate() => Options.Guard(() =>
        Threads is int t && t < 1 ? ValidationResult.Error($"--threads {t} is not valid; accepted values: a whole number ≥ 1.") : ValidationResult.Success());
}

internal sealed class PeakCommand : Command<PeakSettings>
{
    public override int Execute(CommandContext context, PeakSettings settings, CancellationToken cancellationToken)
    {
        int threads = settings.Threads ?? Environment.ProcessorCount;
        MachineLimits limits = MachineLimits.Measure(threads);
        Console.WriteLine(MachineInfo.Cpu());
        Console.WriteLine(limits.Describe());
        return 0;
    }
}

internal sealed class FinetuneCommandSettings : BackendSettings
{
    [CommandOption("--model <NAME>")]
    [Description("the model to finetune: mlp (the digits MLP) or cnn (a CNN on MNIST, docs/06_Finetuning_Cnn.md)")]
    [DefaultValue("mlp")]
    public string Model { get; init; } = "mlp";

    [CommandOption("--quick")]
    [Description("a short run (1 seed, few epochs), for smoke tests")]
    public bool Quick { get; init; }

    [CommandOption("--seed <N>")]
    [Description("first seed (default 0)")]
    public string? SeedText { get; init; }

    public int? Seed => Options.Int(SeedText, "--seed");

    [CommandOption("--seeds <N>")]
    [Description("number of seeds (default 3; --quick: 1)")]
    public string? SeedsText { get; init; }

    public int? Seeds => Options.Int(SeedsText, "--seeds");

    [CommandOption("--shift <PIXELS>")]
    [Description("shift of task B in pixels (default 1)")]
    public string? ShiftPixelsText { get; init; }

    public int? ShiftPixels => Options.Int(ShiftPixelsText, "--shift");

    [CommandOption("--pretrain-epochs <N>")]
    [Description("cnn only: epochs of pretraining on task A")]
    public string? PretrainEpochsText { get; init; }

    [CommandOption("--adapt-epochs <N>")]
    [Description("cnn only: epochs of adaptation on task B")]
    public string? AdaptEpochsText { get; init; }

    [CommandOption("--max-train <N>")]
    [Description("cnn only: at most this many training images")]
    public string? MaxTrainText { get; init; }

    [CommandOption("--json <PATH>")]
    [Description("JSON output path (default: <out>/finetune.json)")]
    public string? JsonPath { get; init; }

    [CommandOption("--dtype <TYPES>")]
    [Description("mlp only: element types to adapt in, comma-separated: fp32, bf16, fp16 (default fp32); 16-bit activations and frozen weights, float32 masters, fp16 with loss scaling")]
    public string? DtypeText { get; init; }

    public override ValidationResult Validate() => Options.Guard(() =>
    {
        if (DtypeOption.Check(DtypeText) is { Successful: false } dtype)
            return dtype;
        if (Model == "cnn" && DtypeText is not null && DtypeOption.Parse(DtypeText) is not [ElementType.Float32])
            return ValidationResult.Error("--dtype bf16/fp16 is for --model mlp only: Conv2d has no 16-bit path yet (docs/09_Mixed-precision.md).");
        if (!FinetuneModels.All.ContainsKey(Model))
            return ValidationResult.Error($"--model '{Model}' is not a model; accepted values: {string.Join(", ", FinetuneModels.All.Keys)}.");
        if (Seeds is int s && s < 1)
            return ValidationResult.Error($"--seeds {s} is not valid; accepted values: a whole number ≥ 1.");
        if (ShiftPixels is int p && p is < 0 or > 7)
            return ValidationResult.Error($"--shift {p} is not valid; accepted values: 0 to 7 pixels.");
        return base.Validate();
    });
}

/// <summary>The finetuning runs by <c>--model</c> name; adding a model is one line.</summary>
internal static class FinetuneModels
{
    public static IReadOnlyDictionary<string, Func<FinetuneJobOptions, int>> All { get; } = new Dictionary<string, Func<FinetuneJobOptions, int>>
    {
        ["mlp"] = FinetuneJob.Run,
        ["cnn"] = _ => throw new InvalidOperationException("the cnn run is dispatched by FinetuneCommand with its own flags"),
    };
}

internal sealed class FinetuneCommand : Command<FinetuneCommandSettings>
{
    public override int Execute(CommandContext context, FinetuneCommandSettings settings, CancellationToken cancellationToken) => Guard.Run(() =>
        settings.Model == "cnn" ? CnnFinetune.Run(settings) : FinetuneModels.All[settings.Model](new FinetuneJobOptions
        {
            Backend = settings.Backend,
            Threads = settings.ThreadCount,
            Quick = settings.Quick,
            Seed = settings.Seed ?? 0,
            Seeds = settings.Seeds,
            ShiftPixels = settings.ShiftPixels,
            ActivationTypes = DtypeOption.Parse(settings.DtypeText),
            JsonPath = settings.JsonPath,
            OutputDirectory = settings.OutputDirectory,
        }));
}

internal sealed class BdnSettings : CommandSettings
{
    [CommandOption("--filter <PATTERN>")]
    [Description("BenchmarkDotNet filter, e.g. '*BoftVsOft*' (default: every suite); further BDN arguments go after --")]
    [DefaultValue("*")]
    public string Filter { get; init; } = "*";
}

internal sealed class BdnCommand : Command<BdnSettings>
{
    public override int Execute(CommandContext context, BdnSettings settings, CancellationToken cancellationToken)
    {
        string[] args = ["--filter", settings.Filter, .. context.Remaining.Raw];
        BenchmarkSwitcher.FromAssembly(typeof(BdnCommand).Assembly).Run(args, new Suites.BenchConfig());
        return 0;
    }
}
