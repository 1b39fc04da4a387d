// The benchmark that decides (issue 13; docs/04_Benchmarking.md): for each layer size, BOFT(m, b) against OFT(b′) by
//   1. quality at equal budget (QualityFit: the training core fits each configuration to target rotations),
//   2. full-layer cost (LayerCost: real BoftLinear / OftLinear vs the frozen and the merged layer),
//   3. memory (LayerMath.Memory and the measured allocation; PEFT's count beside it),
//   4. the machine's limits (MachineLimits: FMA peak, cache and DRAM bandwidth; every timed row's fraction of its roofline),
// plus the PyTorch peer in the same run (PeerRunner). Prints a ten-second summary on stdout and writes the full tables
// (main.md), one JSON file (main.json, schema in docs/04_Benchmarking.md §JSON) and three SVG plots to the results folder.

using System.Diagnostics;
using Boft.Backends;
using Boft.Experiments;
using Boft.Experiments.Analysis;
using Boft.Experiments.Quality;

namespace Boft.Benchmarks.Main;

internal sealed class MainJobOptions
{
    public bool Full { get; set; }

    public int[] FeatureCounts { get; set; } = [1024];

    public int[] Tokens { get; set; } = [1, 64, 512];

    public int[] QualityFeatureCounts { get; set; } = [64];

    /// <summary>The configurations of the summary and the layer cost.</summary>
    public MethodConfig[] Configs { get; set; } = DefaultConfigs;

    public QualityFitSettings Quality { get; set; } = new();

    public double BudgetMs { get; set; } = 60;

    public string Backend { get; set; } = BenchmarkBackends.Default;

    public int Threads { get; set; } = -1;

    public bool Peer { get; set; } = true;

    public string? Python { get; set; }

    public string? OutputDirectory { get; set; }

    public string? JsonPath { get; set; }

    /// <summary>The activation types of the full-layer cost (docs/09_Mixed-precision.md); the first one feeds the summary and the plots.
    /// Default float32 only, so the job keeps its time.</summary>
    public ElementType[] Dtypes { get; set; } = [ElementType.Float32];

    /// <summary>Equal-budget neighbours (skew degrees of freedom per d): OFT(8) 3.5 ~ BOFT(2,4) 3; OFT(16) 7.5 ~ BOFT(2,8) 7, BOFT(4,4) 6;
    /// OFT(32) 15.5 ~ BOFT(2,16) 15, BOFT(4,8) 14.</summary>
    public static MethodConfig[] DefaultConfigs { get; } =
    [
        MethodConfig.Oft(8), MethodConfig.Oft(16), MethodConfig.Oft(32),
        MethodConfig.Boft(2, 4), MethodConfig.Boft(4, 4), MethodConfig.Boft(2, 8), MethodConfig.Boft(4, 8), MethodConfig.Boft(2, 16),
    ];

    /// <summary>The quality ladder at d: the summary configurations plus the dense limits and the smallest blocks (default), or every
    /// valid (m, b) with b ≥ 2 (--full).</summary>
    public IEnumerable<MethodConfig> QualityConfigs(int d)
    {
        var ladder = new List<MethodConfig>(Configs);
        if (Full)
        {
            for (int b = 2; b <= d; b *= 2)
            {
                ladder.Add(MethodConfig.Oft(b));
                for (int m = 2; m <= MethodConfig.DenseFactorCount(d, b); m++)
                    ladder.Add(MethodConfig.Boft(m, b));
            }
        }
        else
        {
            ladder.AddRange([MethodConfig.Oft(4), MethodConfig.Oft(d), MethodConfig.Boft(MethodConfig.DenseFactorCount(d, 2), 2),
                MethodConfig.Boft(MethodConfig.DenseFactorCount(d, 4), 4), MethodConfig.Boft(MethodConfig.DenseFactorCount(d, 16), 16)]);
        }
        return ladder.Distinct().OrderBy(c => c.EffectiveParameters(d)).ThenBy(c => c.Method);
    }
}

/// <summary>Everything one run measured.</summary>
internal sealed record MainResults(MainJobOptions Options, string BackendText, string BackendName, MachineLimits Limits, List<QualityResult> Quality,
    List<(int D, MethodConfig Config, string Reason)> Invalid, List<LayerRow> Layer, List<MemoryRow> Memory, PeerResult? Peer, double Seconds,
    string LoadBefore, string LoadAfter, long PeakWorkingSetBytes);

internal static class MainJob
{
    public static int Run(MainJobOptions options)
    {
        var clock = Stopwatch.StartNew();
        string loadBefore = MachineInfo.LoadAverage();
        using BoftBackend backend = BenchmarkBackends.Create(options.Backend, options.Threads);
        foreach (ElementType type in options.Dtypes)
            if (!backend.Supports(type))
                throw new ArgumentException($"--dtype {Cli.DtypeOption.Name(type)}: the {backend.Name} backend has no {type} path yet (docs/09_Mixed-precision.md); use --backend simd or reference.");
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        MainResults results = JobProgress.Run(progress =>
        {
            progress.Phase("machine limits (FMA peak, bandwidth)", 1);
            progress.Step("measuring");
            MachineLimits limits = MachineLimits.Measure(threads, quick: !options.Full);

            var invalid = new List<(int, MethodConfig, string)>();
            var quality = new List<QualityResult>();
            foreach (int qd in options.QualityFeatureCounts)
            {
                var configs = new List<MethodConfig>();
                foreach (MethodConfig c in options.QualityConfigs(qd))
                {
                    if (c.IsValidFor(qd))
                        configs.Add(c);
                    else
                        invalid.Add((qd, c, $"not a valid shape at d={qd} (b must divide d and m ≤ log2(d/b) + 1)"));
                }
                IReadOnlyList<QualityTarget> targets = QualityTargets.All(qd, options.Quality.Seed);
                progress.Phase($"quality at d={qd}", configs.Count * targets.Count);
                foreach (MethodConfig config in configs)
                    foreach (QualityTarget target in targets)
                    {
                        progress.Step($"{config} → {target.Name}");
                        quality.Add(QualityFit.Fit(backend, config, target, options.Quality));
                    }
            }

            var layer = new List<LayerRow>();
            var memory = new List<MemoryRow>();
            var timing = new TimingOptions(BudgetMs: options.BudgetMs);
            foreach (int d in options.FeatureCounts)
            {
                var configs = new List<MethodConfig>();
                foreach (MethodConfig c in options.Configs)
                {
                    if (c.IsValidFor(d))
                        configs.Add(c);
                    else
                        invalid.Add((d, c, $"not a valid shape at d={d} (b must divide d and m ≤ log2(d/b) + 1)"));
                }
                progress.Phase($"full layer at d={d}", options.Tokens.Length * (configs.Count + 1) * options.Dtypes.Length);
                (List<LayerRow> rows, List<MemoryRow> mem) = LayerCost.Measure(backend, configs, d, options.Tokens, timing, limits, progress, options.Dtypes);
                layer.AddRange(rows);
                memory.AddRange(mem);
            }

            PeerResult? peer = null;
            if (options.Peer)
            {
                int d = options.FeatureCounts[0], tokens = SummaryTokens(options.Tokens);
                var pairs = options.Configs.Where(c => c.IsValidFor(d)).Select(c => (c.FactorCount, c.BlockSize)).Distinct().ToList();
                // Default: two pairs (BOFT(2,8) and OFT(16) as m = 1) so the peer stays within the 2-minute run; --full: every configuration.
                if (!options.Full)
                    pairs = [(2, 8), (1, 16)];
                progress.Phase($"PyTorch peer at d={d}, T={tokens}", 2 * pairs.Count + 2);
                peer = PeerRunner.Run(backend, options.Python, d, tokens, pairs, new TimingOptions(BudgetMs: options.BudgetMs), options.Full ? 1.0 : 0.3, progress);
            }
            // The roof is measured again at the end and the larger of the two kept: on a shared machine a roof measured in a
            // busy moment is too low and would flatter every row (fractions above 100 %).
            progress.Phase("machine limits again", 1);
            progress.Step("measuring");
            limits = limits.Max(MachineLimits.Measure(threads, quick: !options.Full));
            MachineLimits roof = limits;
            layer = layer.Select(x => x with { Level = roof.Level(x.Bytes), RooflineFraction = roof.Fraction(x.Flops, x.Bytes, x.Timing.MedianMs / 1e3), BandwidthGBs = roof.BandwidthFor(x.Bytes) }).ToList();
            return new MainResults(options, BenchmarkBackends.Describe(backend), backend.Name.ToLowerInvariant(), limits, quality, invalid, layer, memory, peer,
                0, loadBefore, "", 0);
        });
        results = results with
        {
            Seconds = clock.Elapsed.TotalSeconds,
            LoadAfter = MachineInfo.LoadAverage(),
            PeakWorkingSetBytes = Process.GetCurrentProcess().PeakWorkingSet64,
        };

        Console.Write(MainReport.Summary(results));
        string directory = options.OutputDirectory ?? Path.Combine(MachineInfo.RepositoryRoot(), "results", "main");
        string json = options.JsonPath ?? Path.Combine(directory, "main.json");
        ResultFiles.WriteText(Path.Combine(directory, "main.md"), MainReport.Markdown(results, ResultFiles.CommandLine()));
        ResultFiles.WriteText(json, MainReport.Json(results));
        foreach ((string name, string svg) in MainReport.Plots(results))
            ResultFiles.WriteText(Path.Combine(directory, name), svg);
        Console.Error.WriteLine($"wrote {Path.Combine(directory, "main.md")}, {json} and the plots (quality_pareto.svg, time_per_token.svg, overhead_vs_tokens.svg) in {results.Seconds:F0} s");
        return 0;
    }

    /// <summary>The token count of the summary: 512 when measured, else the largest measured.</summary>
    public static int SummaryTokens(int[] tokens) => tokens.Contains(512) ? 512 : tokens.Max();

}
