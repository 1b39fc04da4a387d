// Boft benchmarks. Subcommands (default: compare):
//   compare [--d D[,D...]] [--tokens T[,T...]] [--backend simd] [--threads N] [--budget-ms MS] [--json PATH] [--out DIR] [--quick]
//       the main job: BOFT vs OFT side by side (table on stdout, progress on stderr; markdown, SVG and JSON in results/)
//   peer [--d D] [--tokens T] [--pairs m,b,m,b...] [--python PATH] [--script PATH] [--backend simd] [--threads N]
//       side by side with the PyTorch peer, plus the FMA peak and the fused forward's share of it (results/peer.md)
//   peak [--threads N]           the fp32 FMA peak of this machine
//   kernels [--threads 1,2] [--rounds R] [--budget-ms MS] [--out DIR] [--quick]  CPU kernels against the machine's limits (results/kernels.md)
//   bdn [BenchmarkDotNet args]   BenchmarkDotNet suites (exports to docs/benchmarks/<machine>/)
//   finetune [--quick] [--backend NAME] [--threads N] [--seed N] [--seeds N] [--shift PIXELS] [--json PATH] [--out DIR]
//       a real finetuning run on the 8x8 digits: BOFT vs OFT vs full finetuning (docs/06_Finetuning.md)
//   finetune --model cnn [...]   the CNN run on MNIST (Finetune/CnnJob.cs, docs/06_Finetuning_Cnn.md)
//   conv [...]                   convolution rows: adapter cost vs the frozen conv (Conv/ConvJob.cs)
// See docs/04_Benchmarking.md.

using System.Globalization;
using BenchmarkDotNet.Running;
using Boft.Benchmarks;

return Cli.Run(args);

internal static class Cli
{
    public static int Run(string[] args)
    {
        string command = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "compare";
        string[] rest = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;
        try
        {
            switch (command)
            {
                case "compare":
                    return CompareJob.Run(ParseCompare(rest));
                case "peer":
                    return PeerJob.Run(ParsePeer(rest));
                case "kernels":
                    return Boft.Benchmarks.KernelTargets.KernelTargetsJob.Run(Boft.Benchmarks.KernelTargets.KernelTargetsOptions.Parse(rest));
                case "peak":
                    int threads = Option(rest, "--threads") is string t ? int.Parse(t, CultureInfo.InvariantCulture) : Environment.ProcessorCount;
                    FmaPeak.Result one = FmaPeak.Measure(1), all = FmaPeak.Measure(threads);
                    Console.WriteLine($"{MachineInfo.Cpu()}");
                    Console.WriteLine($"fp32 FMA peak: 1 thread {one.Gflops512:F1} GFLOP/s (Vector256 {one.Gflops256:F1}); {threads} threads {all.Gflops512:F1} GFLOP/s (Vector256 {all.Gflops256:F1})");
                    return 0;
                case "finetune" when Option(rest, "--model") == "cnn":
                    return Boft.Benchmarks.Finetune.CnnJob.Run(rest);
                case "finetune":
                    return Boft.Benchmarks.Finetune.FinetuneJob.Run(ParseFinetune(rest));
                case "conv":
                    return Boft.Benchmarks.Conv.ConvJob.Run(rest);
                case "bdn":
                    BenchmarkSwitcher.FromAssembly(typeof(Cli).Assembly).Run(rest, new Boft.Benchmarks.Suites.BenchConfig());
                    return 0;
                case "-h" or "--help" or "help":
                    Console.WriteLine(Usage);
                    return 0;
                default:
                    Console.Error.WriteLine($"Unknown command '{command}'.\n{Usage}");
                    return 2;
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException or PlatformNotSupportedException or NotSupportedException)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }

    private const string Usage = """
        usage: dotnet run -c Release --project Boft.Benchmarks -- [command] [options]
          compare  (default) BOFT vs OFT table: --d 768,1024,4096 --tokens 1,64,512,2048 --backend simd --threads N --budget-ms 200 --json PATH --out DIR --quick
          peer     vs the PyTorch peer: --d 1024 --tokens 512 --pairs 2,8,4,4,1,32 --python /usr/bin/python3 --script PATH --budget-ms 500 --torch-runs 3
          peak     fp32 FMA peak: --threads N
          kernels  CPU kernels against the machine's limits: --threads 1,2 --rounds 3 --budget-ms 200 --backend simd --out DIR --quick
          bdn      BenchmarkDotNet suites (BDN arguments, e.g. --filter *BoftVsOft*)
          finetune digits finetuning, BOFT vs OFT vs full: --quick --backend NAME --threads N --seed N --seeds N --shift PIXELS --json PATH --out DIR
                   --model cnn: the CNN on MNIST: --quick --backend NAME --threads N --seed N --pretrain-epochs N --adapt-epochs N --max-train N --json PATH --out DIR
          conv     convolution rows (UNet-like, ResNet-like): --backend NAME --threads N --budget-ms MS --out DIR
        backends: default (CUDA when present, else simd), simd (widest vectors), simd512, simd256, simd128, cuda, ilgpu-cpu, ilgpu-cpu32, reference
        """;

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        if (i < 0)
            return null;
        if (i + 1 >= args.Length)
            throw new ArgumentException($"{name} needs a value.");
        return args[i + 1];
    }

    private static int[] Ints(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();

    private static void CheckKnown(string[] args, params string[] known)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                continue;
            if (!known.Contains(args[i]))
                throw new ArgumentException($"Unknown option '{args[i]}'.\n{Usage}");
        }
    }

    private static CompareJobOptions ParseCompare(string[] args)
    {
        CheckKnown(args, "--d", "--tokens", "--backend", "--threads", "--budget-ms", "--json", "--out", "--quick");
        var options = new CompareJobOptions { Quick = args.Contains("--quick") };
        if (Option(args, "--d") is string d)
            options.FeatureCounts = Ints(d);
        if (Option(args, "--tokens") is string t)
            options.Tokens = Ints(t);
        if (Option(args, "--backend") is string b)
            options.Backend = b;
        if (Option(args, "--threads") is string th)
            options.Threads = int.Parse(th, CultureInfo.InvariantCulture);
        if (Option(args, "--budget-ms") is string ms)
            options.BudgetMs = double.Parse(ms, CultureInfo.InvariantCulture);
        options.JsonPath = Option(args, "--json");
        options.OutputDirectory = Option(args, "--out");
        return options;
    }

    private static Boft.Benchmarks.Finetune.FinetuneJobOptions ParseFinetune(string[] args)
    {
        CheckKnown(args, "--quick", "--backend", "--threads", "--seed", "--seeds", "--shift", "--json", "--out");
        var options = new Boft.Benchmarks.Finetune.FinetuneJobOptions { Quick = args.Contains("--quick") };
        if (Option(args, "--backend") is string b)
            options.Backend = b;
        if (Option(args, "--threads") is string th)
            options.Threads = int.Parse(th, CultureInfo.InvariantCulture);
        if (Option(args, "--seed") is string seed)
            options.Seed = int.Parse(seed, CultureInfo.InvariantCulture);
        if (Option(args, "--shift") is string shift)
            options.ShiftPixels = int.Parse(shift, CultureInfo.InvariantCulture);
        if (Option(args, "--seeds") is string seeds)
            options.Seeds = int.Parse(seeds, CultureInfo.InvariantCulture);
        options.JsonPath = Option(args, "--json");
        options.OutputDirectory = Option(args, "--out");
        return options;
    }

    private static PeerOptions ParsePeer(string[] args)
    {
        CheckKnown(args, "--d", "--tokens", "--pairs", "--backend", "--threads", "--budget-ms", "--python", "--script", "--out", "--torch-runs");
        var options = new PeerOptions();
        if (Option(args, "--d") is string d)
            options.FeatureCount = int.Parse(d, CultureInfo.InvariantCulture);
        if (Option(args, "--tokens") is string t)
            options.Tokens = int.Parse(t, CultureInfo.InvariantCulture);
        if (Option(args, "--pairs") is string p)
        {
            int[] values = Ints(p);
            if (values.Length % 2 != 0)
                throw new ArgumentException("--pairs takes m,b pairs.");
            options.Pairs = Enumerable.Range(0, values.Length / 2).Select(i => (values[2 * i], values[2 * i + 1])).ToArray();
        }
        if (Option(args, "--backend") is string b)
            options.Backend = b;
        if (Option(args, "--threads") is string th)
            options.Threads = int.Parse(th, CultureInfo.InvariantCulture);
        if (Option(args, "--budget-ms") is string ms)
            options.BudgetMs = double.Parse(ms, CultureInfo.InvariantCulture);
        options.Python = Option(args, "--python");
        options.Script = Option(args, "--script");
        options.OutputDirectory = Option(args, "--out");
        if (Option(args, "--torch-runs") is string runs)
            options.TorchRuns = int.Parse(runs, CultureInfo.InvariantCulture);
        return options;
    }
}
