// Every command of the benchmark program, registered in one place: adding a command is one line in Register.

using Spectre.Console.Cli;

namespace Boft.Benchmarks.Cli;

internal static class CommandRegistry
{
    public static CommandApp<MainCommand> CreateApp()
    {
        var app = new CommandApp<MainCommand>();
        app.WithDescription("The benchmark that decides between BOFT and OFT: quality at equal budget, full-layer cost, memory and roofline (docs/04_Benchmarking.md).");
        app.Configure(config =>
        {
            config.SetApplicationName("dotnet run -c Release --project Boft.Benchmarks --");
            config.Settings.StrictParsing = true;
            config.Settings.CaseSensitivity = CaseSensitivity.All;
            Register(config);
        });
        return app;
    }

    private static void Register(IConfigurator config)
    {
        config.AddCommand<MainCommand>("main").WithDescription("(default) quality at equal budget, full-layer cost, memory, roofline, peer; summary + tables + JSON + SVG");
        config.AddCommand<CompareCommand>("compare").WithDescription("BOFT vs OFT adapter timings (Cayley, forward, forward+backward) side by side");
        config.AddCommand<PeerCommand>("peer").WithDescription("side by side with the PyTorch peer: adapter (structured and PEFT's dense path) and full layer");
        config.AddCommand<PeakCommand>("peak").WithDescription("fp32 FMA peak and streaming memory bandwidth (cache and DRAM)");
        config.AddCommand<FinetuneCommand>("finetune").WithDescription("a real finetuning run: BOFT vs OFT vs full finetuning (docs/06_Finetuning.md)");
        config.AddCommand<KernelsCommand>("kernels").WithDescription("CPU kernels against the machine's limits: rotation, its backward, the frozen GEMM, Cayley (results/kernels.{md,json})");
        config.AddCommand<ConvCommand>("conv").WithDescription("convolution rows: adapter cost (Cayley, W', backward) vs the frozen convolution (UNet-like, ResNet-like)");
        config.AddCommand<BdnCommand>("bdn").WithDescription("BenchmarkDotNet suites over every available backend (exports to docs/benchmarks/<machine>/)");
    }
}
