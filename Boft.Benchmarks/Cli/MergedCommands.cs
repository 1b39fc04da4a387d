// Commands whose jobs parse their own option lists (conv, kernels, finetune --model cnn): the Spectre settings below
// declare every flag (so --help lists them and unknown flags are rejected by Spectre), then hand the job the same
// arguments in its own syntax.

using System.ComponentModel;
using Boft.Benchmarks.Conv;
using Boft.Benchmarks.Finetune;
using Boft.Benchmarks.KernelTargets;
using Spectre.Console.Cli;

namespace Boft.Benchmarks.Cli;

internal static class PassThrough
{
    public static void Add(List<string> args, string flag, string? value)
    {
        if (value is not null)
        {
            args.Add(flag);
            args.Add(value);
        }
    }
}

internal sealed class ConvSettings : BackendSettings
{
    [CommandOption("--budget-ms <MS>")]
    [Description("time budget per op in milliseconds (default 400)")]
    public string? BudgetText { get; init; }

    public List<string> ToArgs()
    {
        var args = new List<string>();
        if (Backend != "default")
            PassThrough.Add(args, "--backend", Backend);
        PassThrough.Add(args, "--threads", ThreadsText);
        PassThrough.Add(args, "--budget-ms", BudgetText);
        PassThrough.Add(args, "--out", OutputDirectory);
        return args;
    }
}

internal sealed class ConvCommand : Command<ConvSettings>
{
    public override int Execute(CommandContext context, ConvSettings settings, CancellationToken cancellationToken) =>
        Guard.Run(() => ConvJob.Run([.. settings.ToArgs()]));
}

internal sealed class KernelsSettings : CommandSettings
{
    [CommandOption("--threads <LIST>")]
    [Description("thread counts to measure, comma-separated (default 1,2)")]
    public string? Threads { get; init; }

    [CommandOption("--rounds <R>")]
    [Description("rounds of every case (default 3)")]
    public string? Rounds { get; init; }

    [CommandOption("--budget-ms <MS>")]
    [Description("time budget per case and round in milliseconds (default 200)")]
    public string? Budget { get; init; }

    [CommandOption("--backend <NAME>")]
    [Description("SIMD backend: simd, simd512, simd256, simd128")]
    public string? Backend { get; init; }

    [CommandOption("--out <DIR>")]
    [Description("folder for kernels.{md,json} (default: results/)")]
    public string? OutputDirectory { get; init; }

    [CommandOption("--only <GROUP>")]
    [Description("one group of cases, for iterating (e.g. frozen_gemm)")]
    public string? Only { get; init; }

    [CommandOption("--quick")]
    [Description("a short run")]
    public bool Quick { get; init; }

    [CommandOption("--profile")]
    [Description("only the per-pass rotation profile")]
    public bool Profile { get; init; }

    public List<string> ToArgs()
    {
        var args = new List<string>();
        PassThrough.Add(args, "--threads", Threads);
        PassThrough.Add(args, "--rounds", Rounds);
        PassThrough.Add(args, "--budget-ms", Budget);
        PassThrough.Add(args, "--backend", Backend);
        PassThrough.Add(args, "--out", OutputDirectory);
        PassThrough.Add(args, "--only", Only);
        if (Quick)
            args.Add("--quick");
        if (Profile)
            args.Add("--profile");
        return args;
    }
}

internal sealed class KernelsCommand : Command<KernelsSettings>
{
    public override int Execute(CommandContext context, KernelsSettings settings, CancellationToken cancellationToken) =>
        Guard.Run(() => KernelTargetsJob.Run(KernelTargetsOptions.Parse([.. settings.ToArgs()])));
}

/// <summary>The CNN run's own flags, mapped from <c>finetune --model cnn</c>.</summary>
internal static class CnnFinetune
{
    public static int Run(FinetuneCommandSettings settings)
    {
        var args = new List<string>();
        if (settings.Backend != "default")
            PassThrough.Add(args, "--backend", settings.Backend);
        PassThrough.Add(args, "--threads", settings.ThreadsText);
        PassThrough.Add(args, "--seed", settings.SeedText);
        PassThrough.Add(args, "--pretrain-epochs", settings.PretrainEpochsText);
        PassThrough.Add(args, "--adapt-epochs", settings.AdaptEpochsText);
        PassThrough.Add(args, "--max-train", settings.MaxTrainText);
        PassThrough.Add(args, "--json", settings.JsonPath);
        PassThrough.Add(args, "--out", settings.OutputDirectory);
        if (settings.Quick)
            args.Add("--quick");
        if (settings.SeedsText is not null || settings.ShiftPixelsText is not null)
            throw new ArgumentException("--seeds and --shift apply to --model mlp only; the cnn run takes --seed, --pretrain-epochs, --adapt-epochs, --max-train.");
        return CnnJob.Run([.. args]);
    }
}
