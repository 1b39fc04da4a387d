// The main job: BOFT against OFT side by side, at equal parameter budgets and at equal block sizes, for d in
// {768, 1024, 4096} and tokens in {1, 64, 512, 2048}: Cayley, forward and forward+backward medians, GFLOP/s, GB/s,
// parameter counts and the BOFT/OFT ratio. Prints the table on stdout (progress on stderr), writes markdown, SVG and
// JSON copies to the results folder. Methodology: docs/04_Benchmarking.md.

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Boft.Backends;
using Boft.Experiments;
using Boft.Experiments.Analysis;
using Boft.Kernels.Simd;

namespace Boft.Benchmarks;

/// <summary>How an OFT configuration is paired with a BOFT one.</summary>
internal sealed record Pairing(MethodConfig Boft, string Kind, MethodConfig Oft)
{
    /// <summary>Equal budget: OFT b′ with b′ − 1 ≈ m(b − 1) (same skew degrees of freedom), the valid OFT block size nearest
    /// to 1 + m(b − 1) by PEFT's adjust_oft_parameters rule. Equal block: OFT b = BOFT b.</summary>
    public static IEnumerable<Pairing> For(MethodConfig boft, int d)
    {
        int budget = OftConfig.AdjustOftParameter(d, 1 + boft.FactorCount * (boft.BlockSize - 1));
        yield return new Pairing(boft, "budget", MethodConfig.Oft(budget));
        yield return new Pairing(boft, "block", MethodConfig.Oft(boft.BlockSize));
    }

    public string Label => $"{Boft} vs {Oft} ({Kind})";
}

/// <summary>One timed measurement (one JSON object).</summary>
internal sealed record Measurement(string Method, string Backend, int D, int Tokens, int M, int B, string Op, double MedianMs, double MinMs, int Runs,
    double Gflops, double GBs, long EffectiveParameters, long StoredParameters, double Bytes, double BandwidthGBs, string Dtype = "fp32")
{
    /// <summary><see cref="GBs"/> as a share of the measured streaming bandwidth for this cell's working set (cache or DRAM).</summary>
    public double BandwidthFraction => GBs / BandwidthGBs;
}

internal sealed class CompareJobOptions
{
    public int[] FeatureCounts { get; set; } = [768, 1024, 4096];

    public int[] Tokens { get; set; } = [1, 64, 512, 2048];

    public MethodConfig[] BoftConfigs { get; set; } = [MethodConfig.Boft(2, 8), MethodConfig.Boft(4, 4), MethodConfig.Boft(6, 2)];

    public string Backend { get; set; } = BenchmarkBackends.Default;

    public int Threads { get; set; } = -1;

    public double BudgetMs { get; set; } = 200;

    public string? JsonPath { get; set; }

    public string? OutputDirectory { get; set; }

    public bool Quick { get; set; }

    /// <summary>The activation types timed (docs/09_Mixed-precision.md); 16-bit types time only the ops with a 16-bit path
    /// (forward and forward+backward: the rotation in the type; the Cayley map is float32 by contract).</summary>
    public ElementType[] Dtypes { get; set; } = [ElementType.Float32];

    /// <summary>The SIMD backend's forward rotation kernel (a side-by-side comparison of the row-layout and tiled kernels).</summary>
    public SimdRotationKernel SimdRotation { get; set; }
}

internal static class CompareJob
{
    public static int Run(CompareJobOptions options)
    {
        if (options.Quick)
        {
            options.FeatureCounts = options.FeatureCounts.Length == 3 ? [1024] : options.FeatureCounts;
            options.Tokens = options.Tokens.Length == 4 ? [64, 512] : options.Tokens;
            options.BoftConfigs = [MethodConfig.Boft(2, 8), MethodConfig.Boft(4, 4)];
            options.BudgetMs = Math.Min(options.BudgetMs, 50);
        }
        var clock = Stopwatch.StartNew();
        using BoftBackend backend = BenchmarkBackends.Create(options.Backend, options.Threads);
        if (backend is SimdBackend simd)
            simd.ForwardRotationKernel = options.SimdRotation;
        else if (options.SimdRotation != SimdRotationKernel.Auto)
            throw new ArgumentException($"--simd-rotation {options.SimdRotation}: the {backend.Name} backend is not the SIMD backend.");
        string backendText = BenchmarkBackends.Describe(backend) + (options.SimdRotation == SimdRotationKernel.Tiled ? ", tiled rotation" : "");
        foreach (ElementType type in options.Dtypes)
            if (!backend.Supports(type))
                throw new ArgumentException($"--dtype {Cli.DtypeOption.Name(type)}: the {backend.Name} backend has no {type} path yet (docs/09_Mixed-precision.md); use --backend simd or reference.");
        string loadBefore = MachineInfo.LoadAverage();
        // The memory roofs every cell's GB/s is held against: a cell whose compulsory bytes fit the last-level cache is compared
        // with the in-cache streaming bandwidth, a larger one with DRAM (MachineLimits.BandwidthFor's rule).
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        (double cacheGBs, double dramGBs, long cacheBytes) = MachineLimits.MeasureBandwidth(threads);
        double BandwidthFor(double bytes) => bytes <= cacheBytes ? cacheGBs : dramGBs;

        // Plan: per d, the BOFT configs valid there, their pairings, and the unique OFT configs.
        var plan = new List<(int D, List<Pairing> Pairings, List<MethodConfig> Configs)>();
        foreach (int d in options.FeatureCounts)
        {
            var pairings = options.BoftConfigs.Where(c => c.IsValidFor(d)).SelectMany(c => Pairing.For(c, d)).Where(p => p.Oft.IsValidFor(d)).ToList();
            var configs = pairings.Select(p => p.Boft).Concat(pairings.Select(p => p.Oft)).Distinct().ToList();
            plan.Add((d, pairings, configs));
        }
        int total = plan.Sum(p => p.Configs.Count * options.Tokens.Length * options.Dtypes.Sum(t => OpsFor(t).Length));
        var progress = new Progress(total);

        var results = new Dictionary<(MethodConfig, int, int, string, ElementType), Measurement>();
        foreach ((int d, _, List<MethodConfig> configs) in plan)
        {
            var validated = new HashSet<(MethodConfig, ElementType)>();
            foreach (int tokens in options.Tokens)
            {
                foreach (MethodConfig config in configs)
                {
                    // The types of one cell are timed back to back, so their ratio is a side-by-side measurement.
                    foreach (ElementType type in options.Dtypes)
                    {
                        using var workload = new Workload(backend, config, d, tokens, activationType: type);
                        foreach (string op in OpsFor(type))
                        {
                            progress.Step($"d={d} T={tokens} {config} {Cli.DtypeOption.Name(type)} {op}");
                            // Validate-then-time: the first measurement of each configuration and type checks it against the reference.
                            MethodConfig checkedConfig = config;
                            ElementType checkedType = type;
                            Action? validate = !validated.Add((config, type)) ? null
                                : type == ElementType.Float32 ? () => Workload.Validate(backend, checkedConfig, d)
                                : () => Workload.ValidateSixteenBit(backend, checkedConfig, d, checkedType);
                            Timing t = TimingHarness.Time(backend, workload.Operation(op), new TimingOptions(BudgetMs: options.BudgetMs), validate);
                            double seconds = t.MedianMs / 1e3;
                            results[(config, d, tokens, op, type)] = new Measurement(config.Method, backend.Name.ToLowerInvariant(), d, tokens, config.FactorCount, config.BlockSize, op,
                                t.MedianMs, t.MinMs, t.Runs, workload.Flops(op) / seconds / 1e9, workload.Bytes(op) / seconds / 1e9,
                                config.EffectiveParameters(d), config.StoredParameters(d), workload.Bytes(op), BandwidthFor(workload.Bytes(op)), Cli.DtypeOption.Name(type));
                        }
                    }
                }
            }
        }
        progress.Done();
        // Measured again after the timings and the larger kept (as the main job does): on a shared machine one measurement
        // can come out low, and a low roof would flatter the cells.
        (double cacheAgain, double dramAgain, _) = MachineLimits.MeasureBandwidth(threads);
        (cacheGBs, dramGBs) = (Math.Max(cacheGBs, cacheAgain), Math.Max(dramGBs, dramAgain));
        foreach (var key in results.Keys.ToList())
            results[key] = results[key] with { BandwidthGBs = BandwidthFor(results[key].Bytes) };
        double elapsed = clock.Elapsed.TotalSeconds;

        var rows = new List<TableRow>();
        foreach ((int d, List<Pairing> pairings, _) in plan)
            foreach (int tokens in options.Tokens)
                foreach (Pairing pairing in pairings)
                    foreach (ElementType type in options.Dtypes)
                        rows.Add(new TableRow(d, tokens, pairing, Cli.DtypeOption.Name(type),
                            OpsFor(type).ToDictionary(op => op, op => (results[(pairing.Boft, d, tokens, op, type)], results[(pairing.Oft, d, tokens, op, type)]))));

        string header = $"BOFT vs OFT adapter (x → x·R from raw parameters, Cayley included), backend {backendText}, median of ≥5 runs per cell, " +
                        $"{elapsed:F0} s total; {MachineInfo.Cpu()}; load {loadBefore} → {MachineInfo.LoadAverage()}; " +
                        string.Create(CultureInfo.InvariantCulture, $"streaming bandwidth {cacheGBs:F1} GB/s in cache, {dramGBs:F1} GB/s from DRAM (the larger of a measurement before and after the timings, {threads} threads; cells up to {cacheBytes >> 20} MiB use the cache figure)");
        Console.WriteLine(header);
        Console.WriteLine();
        Console.Write(FormatText(rows));

        string directory = options.OutputDirectory ?? Path.Combine(MachineInfo.RepositoryRoot(), "results");
        Directory.CreateDirectory(directory);
        string markdownPath = Path.Combine(directory, "compare.md");
        string svgPath = Path.Combine(directory, "compare.svg");
        string command = ResultFiles.CommandLine();
        ResultFiles.WriteText(markdownPath, FormatMarkdown(rows, results.Values, header, command, svgPath));
        ResultFiles.WriteText(svgPath, Chart(rows, options, backendText));
        string jsonPath = options.JsonPath ?? Path.Combine(directory, "compare.json");
        WriteJson(jsonPath, results.Values);
        Console.Error.WriteLine($"wrote {markdownPath}, {svgPath}, {jsonPath}");
        return 0;
    }

    /// <summary>The ops timed in <paramref name="type"/>: all three in float32; forward and forward+backward in a 16-bit type.</summary>
    private static string[] OpsFor(ElementType type) => type == ElementType.Float32 ? Ops.Table : [Ops.Forward, Ops.ForwardBackward];

    private sealed record TableRow(int D, int Tokens, Pairing Pairing, string Dtype, Dictionary<string, (Measurement Boft, Measurement Oft)> Cells);

    /// <summary>The Cayley cells of a row: the float32 ones (the Cayley map has no 16-bit path), or "fp32 only".</summary>
    private static string CayleyText(TableRow r, Func<(Measurement Boft, Measurement Oft), string> format, string missing = "fp32 only") =>
        r.Cells.TryGetValue(Ops.Cayley, out var cells) ? format(cells) : missing;

    private static string F(double value) => value >= 100 ? value.ToString("F0", CultureInfo.InvariantCulture)
        : value >= 10 ? value.ToString("F1", CultureInfo.InvariantCulture)
        : value >= 0.1 ? value.ToString("F2", CultureInfo.InvariantCulture)
        : value.ToString("F3", CultureInfo.InvariantCulture);

    private static string Ratio(double boft, double oft) => (boft / oft).ToString("F2", CultureInfo.InvariantCulture);

    private static string FormatText(List<TableRow> rows)
    {
        var sb = new StringBuilder();
        string line = $"{"d",5} {"T",5} {"dtype",5} {"BOFT",-10} {"pair",-6} {"OFT",-7} {"dof BOFT",9} {"dof OFT",9} | {"Cayley ms B/O",17} {"B/O",5} | {"fwd ms B/O",17} {"B/O",5} {"GF/s B/O",11} {"GB/s B/O",11} | {"fwd+bwd ms B/O",17} {"B/O",5} {"GF/s B/O",11}";
        sb.AppendLine(line);
        sb.AppendLine(new string('-', line.Length));
        int lastD = -1, lastT = -1;
        foreach (TableRow r in rows)
        {
            if ((r.D != lastD || r.Tokens != lastT) && lastD != -1)
                sb.AppendLine();
            lastD = r.D;
            lastT = r.Tokens;
            (Measurement fb, Measurement fo) = r.Cells[Ops.Forward];
            (Measurement bb, Measurement bo) = r.Cells[Ops.ForwardBackward];
            sb.Append(CultureInfo.InvariantCulture, $"{r.D,5} {r.Tokens,5} {r.Dtype,5} {r.Pairing.Boft,-10} {r.Pairing.Kind,-6} {r.Pairing.Oft,-7} {fb.EffectiveParameters,9} {fo.EffectiveParameters,9} | ");
            sb.Append(CultureInfo.InvariantCulture, $"{CayleyText(r, c => F(c.Boft.MedianMs) + " / " + F(c.Oft.MedianMs)),17} {CayleyText(r, c => Ratio(c.Boft.MedianMs, c.Oft.MedianMs), "—"),5} | ");
            sb.Append(CultureInfo.InvariantCulture, $"{F(fb.MedianMs) + " / " + F(fo.MedianMs),17} {Ratio(fb.MedianMs, fo.MedianMs),5} {F(fb.Gflops) + "/" + F(fo.Gflops),11} {F(fb.GBs) + "/" + F(fo.GBs),11} | ");
            sb.AppendLine(CultureInfo.InvariantCulture, $"{F(bb.MedianMs) + " / " + F(bo.MedianMs),17} {Ratio(bb.MedianMs, bo.MedianMs),5} {F(bb.Gflops) + "/" + F(bo.Gflops),11}");
        }
        return sb.ToString();
    }

    private static string FormatMarkdown(List<TableRow> rows, IEnumerable<Measurement> measurements, string header, string command, string svgPath)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# BOFT vs OFT: side-by-side adapter timings");
        sb.AppendLine();
        sb.AppendLine(header);
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Command: `{command}` ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC). Plot: `{Path.GetFileName(svgPath)}`. ");
        sb.AppendLine("B/O = BOFT time / OFT time (below 1: BOFT faster). dof = skew degrees of freedom m·d·(b−1)/2 (the paper's count). " +
                      "forward = Cayley + rotation; GFLOP/s and GB/s use the algorithmic FLOPs and compulsory bytes of docs/04_Benchmarking.md.");
        sb.AppendLine();
        sb.AppendLine("dtype: the element type of x, x·R and their gradients (docs/09_Mixed-precision.md); parameters and blocks are float32, and the " +
                      "Cayley map is float32 only (its cells are those of the fp32 row).");
        sb.AppendLine();
        sb.AppendLine("| d | T | dtype | BOFT | pairing | OFT | dof BOFT | dof OFT | Cayley ms BOFT | OFT | B/O | fwd ms BOFT | OFT | B/O | fwd GFLOP/s BOFT | OFT | fwd GB/s BOFT | OFT | fwd+bwd ms BOFT | OFT | B/O | fwd+bwd GFLOP/s BOFT | OFT |");
        sb.AppendLine("|--:|--:|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        foreach (TableRow r in rows)
        {
            (Measurement fb, Measurement fo) = r.Cells[Ops.Forward];
            (Measurement bb, Measurement bo) = r.Cells[Ops.ForwardBackward];
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.D} | {r.Tokens} | {r.Dtype} | {r.Pairing.Boft} | {r.Pairing.Kind} | {r.Pairing.Oft} | {fb.EffectiveParameters} | {fo.EffectiveParameters} | " +
                $"{CayleyText(r, c => F(c.Boft.MedianMs))} | {CayleyText(r, c => F(c.Oft.MedianMs), "—")} | {CayleyText(r, c => Ratio(c.Boft.MedianMs, c.Oft.MedianMs), "—")} | " +
                $"{F(fb.MedianMs)} | {F(fo.MedianMs)} | {Ratio(fb.MedianMs, fo.MedianMs)} | {F(fb.Gflops)} | {F(fo.Gflops)} | {F(fb.GBs)} | {F(fo.GBs)} | " +
                $"{F(bb.MedianMs)} | {F(bo.MedianMs)} | {Ratio(bb.MedianMs, bo.MedianMs)} | {F(bb.Gflops)} | {F(bo.Gflops)} |");
        }
        sb.AppendLine();
        sb.AppendLine("## Every measurement");
        sb.AppendLine();
        sb.AppendLine("| method | dtype | d | T | m | b | op | median ms | min ms | runs | GFLOP/s | GB/s | % of bandwidth | dof | stored params |");
        sb.AppendLine("|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|");
        foreach (Measurement m in measurements.OrderBy(m => m.D).ThenBy(m => m.Tokens).ThenBy(m => m.Method).ThenBy(m => m.M).ThenBy(m => m.B).ThenBy(m => Array.IndexOf(Ops.Table, m.Op))
                     .ThenBy(m => Array.IndexOf(Cli.DtypeOption.Names.Keys.ToArray(), m.Dtype)))
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {m.Method} | {m.Dtype} | {m.D} | {m.Tokens} | {m.M} | {m.B} | {m.Op} | {F(m.MedianMs)} | {F(m.MinMs)} | {m.Runs} | {F(m.Gflops)} | {F(m.GBs)} | {(100 * m.BandwidthFraction).ToString("F1", CultureInfo.InvariantCulture)}% | {m.EffectiveParameters} | {m.StoredParameters} |");
        return sb.ToString();
    }

    private static void WriteJson(string path, IEnumerable<Measurement> measurements)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
            Directory.CreateDirectory(directory);
        var objects = measurements.Select(m => new Dictionary<string, object>
        {
            ["kind"] = "adapter",
            ["dtype"] = m.Dtype,
            ["method"] = m.Method,
            ["backend"] = m.Backend,
            ["d"] = m.D,
            ["tokens"] = m.Tokens,
            ["m"] = m.M,
            ["b"] = m.B,
            ["op"] = m.Op,
            ["median_ms"] = Math.Round(m.MedianMs, 6),
            ["min_ms"] = Math.Round(m.MinMs, 6),
            ["runs"] = m.Runs,
            ["gflops"] = Math.Round(m.Gflops, 3),
            ["gbs"] = Math.Round(m.GBs, 3),
            ["bandwidth_gbs"] = Math.Round(m.BandwidthGBs, 3),
            ["bandwidth_fraction"] = Math.Round(m.BandwidthFraction, 4),
            ["effective_parameters"] = m.EffectiveParameters,
            ["stored_parameters"] = m.StoredParameters,
        });
        ResultFiles.WriteText(path, JsonSerializer.Serialize(objects, new JsonSerializerOptions { WriteIndented = true }));
    }

    private static string Chart(List<TableRow> rows, CompareJobOptions options, string backendText)
    {
        // The chart shows the float32 rows (or, without them, the first type's): the ratio BOFT/OFT per type is in the tables.
        string shown = rows.Any(r => r.Dtype == "fp32") ? "fp32" : rows[0].Dtype;
        rows = rows.Where(r => r.Dtype == shown).ToList();
        var pairingLabels = rows.Select(r => $"{r.Pairing.Boft} {r.Pairing.Kind}").Distinct().ToList();
        var panels = new List<SvgChart.Panel>();
        foreach (string op in new[] { Ops.Forward, Ops.ForwardBackward })
        {
            foreach (int d in options.FeatureCounts)
            {
                var groups = new List<SvgChart.Group>();
                foreach (int tokens in options.Tokens)
                {
                    var values = pairingLabels.Select(label =>
                    {
                        TableRow? row = rows.FirstOrDefault(r => r.D == d && r.Tokens == tokens && $"{r.Pairing.Boft} {r.Pairing.Kind}" == label);
                        return row is null ? (double?)null : row.Cells[op].Boft.MedianMs / row.Cells[op].Oft.MedianMs;
                    }).ToArray();
                    groups.Add(new SvgChart.Group($"T={tokens}", values));
                }
                panels.Add(new SvgChart.Panel($"{(op == Ops.Forward ? "forward" : "forward+backward")}, d={d}", groups));
            }
        }
        var legend = rows.Select(r => r.Pairing).DistinctBy(p => $"{p.Boft} {p.Kind}").Select(p => $"{p.Boft} vs {p.Oft.Method.ToUpperInvariant()} ({p.Kind})").ToList();
        return SvgChart.Render($"BOFT / OFT time ratio (below 1: BOFT faster) — {backendText}", "BOFT time / OFT time (log scale)", panels,
            options.FeatureCounts.Length, legend);
    }

    /// <summary>One-line progress on stderr (stdout stays a clean table).</summary>
    private sealed class Progress(int total)
    {
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private int done;

        public void Status(string text) => Write(text);

        public void Step(string text)
        {
            done++;
            Write(text);
        }

        public void Done()
        {
            if (!Console.IsErrorRedirected)
                Console.Error.Write("\r" + new string(' ', 110) + "\r");
            Console.Error.WriteLine($"done: {done} measurements in {clock.Elapsed.TotalSeconds:F0} s");
        }

        private void Write(string text)
        {
            string message = string.Create(CultureInfo.InvariantCulture, $"[{done,3}/{total}] {clock.Elapsed.TotalSeconds,5:F0} s  {text}");
            if (Console.IsErrorRedirected)
            {
                if (done % 24 == 0)
                    Console.Error.WriteLine(message);
                return;
            }
            Console.Error.Write("\r" + message.PadRight(110)[..110]);
        }
    }
}
