// BenchmarkDotNet configuration: a short in-process job (the SIMD kernels need no separate host process), GitHub
// markdown and CSV exports into docs/benchmarks/<machine>/ (committed), and a DEBUG smoke mode with tiny counts.

using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Csv;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace Boft.Benchmarks.Suites;

/// <summary>The suites' BDN configuration.</summary>
public sealed class BenchConfig : ManualConfig
{
    /// <summary>Creates the configuration.</summary>
    public BenchConfig()
    {
#if DEBUG
        Job job = Job.Dry;
#else
        Job job = Job.ShortRun.WithWarmupCount(3).WithIterationCount(8).WithIterationTime(TimeInterval.FromMilliseconds(200));
#endif
        AddJob(job.WithToolchain(InProcessEmitToolchain.Instance));
        AddLogger(ConsoleLogger.Default);
        AddColumnProvider(DefaultColumnProviders.Instance);
        AddExporter(MarkdownExporter.GitHub, CsvExporter.Default);
        ArtifactsPath = Path.Combine(MachineInfo.RepositoryRoot(), "docs", "benchmarks", MachineInfo.FolderName());
        Options |= ConfigOptions.DisableLogFile;
    }
}
