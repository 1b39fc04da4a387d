// Boft benchmarks: the command line (Spectre.Console.Cli). Commands are registered in Cli/CommandRegistry.cs, one line each;
// `--help` works for every command. Methodology and columns: docs/04_Benchmarking.md.
//   (default) main      the benchmark that decides: quality at equal budget, full-layer cost, memory, roofline, peer
//   compare             BOFT vs OFT adapter timings side by side (the earlier main job)
//   peer                side by side with the PyTorch peer (adapter and full layer)
//   peak                the fp32 FMA peak and the memory bandwidth of this machine
//   finetune            a real finetuning run (--model mlp)
//   bdn                 BenchmarkDotNet suites

using Boft.Benchmarks.Cli;

return CommandRegistry.CreateApp().Run(args);
