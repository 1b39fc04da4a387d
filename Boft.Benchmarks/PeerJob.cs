// Side by side with the PyTorch peer (Boft.Benchmarks/Peer/torch_peer.py, copied next to the executable: the adapter x → x·R
// from raw blocks, Cayley included, structured gathers + batched bmm, torch.linalg.solve; PEFT's dense path; and the full
// layer, nn.Linear alone and nn.Linear plus the structured adapter and boft_s; 2 threads, fp32) in one run: FMA peak, our
// timings, torch's timings, our timings again; ratios = torch / ours (the mean of our two passes), the targets of issue 4,
// the full layer layer-to-layer, and the fused forward's share of the FMA peak. docs/04_Benchmarking.md §PyTorch peer.

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Boft.Backends;
using Boft.Experiments;
using Boft.Experiments.Analysis;
using Boft.Benchmarks.Main;

namespace Boft.Benchmarks;

internal sealed class PeerOptions
{
    public int FeatureCount { get; set; } = 1024;

    public int Tokens { get; set; } = 512;

    public (int M, int B)[] Pairs { get; set; } = [(2, 8), (4, 4), (1, 32)];

    public string Backend { get; set; } = BenchmarkBackends.Default;

    public int Threads { get; set; } = -1;

    public double BudgetMs { get; set; } = 500;

    public string? Python { get; set; }

    public string? Script { get; set; }

    public string? OutputDirectory { get; set; }

    /// <summary>How often the peer script runs; each torch number is the best (lowest) of these runs' medians.</summary>
    public int TorchRuns { get; set; } = 3;
}

internal static class PeerJob
{
    private const double ForwardTarget = 20, CayleyTarget = 5, PeakTarget = 0.30;

    public static int Run(PeerOptions options)
    {
        string? script = options.Script ?? Main.PeerRunner.ScriptPath;
        string python = options.Python ?? (File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
        if (script is null || !File.Exists(script))
        {
            Console.Error.WriteLine($"The PyTorch peer script '{script}' was not found. Pass --script PATH/torch_peer.py (Boft.Benchmarks/Peer/ in the repository).");
            return 2;
        }
        if (!PeerRunner.TorchAvailable(python))
        {
            Console.Error.WriteLine($"'{python}' cannot import torch. Install Debian's packages (apt-get install -y python3-torch python3-numpy libopenblas0-pthread) or pass --python PATH to an interpreter with torch; then rerun.");
            return 2;
        }
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        using BoftBackend backend = BenchmarkBackends.Create(options.Backend, options.Threads);
        int d = options.FeatureCount, tokens = options.Tokens;
        var configs = options.Pairs.Select(p => MethodConfig.Boft(p.M, p.B)).ToList(); // m = 1: full raw b×b blocks, exactly what the peer times
        foreach (MethodConfig config in configs)
            Workload.Validate(backend, config, d);

        string loadBefore = MachineInfo.LoadAverage();
        Console.Error.WriteLine($"measuring the FMA peak on {threads} threads ...");
        FmaPeak.Result peak = FmaPeak.Measure(threads);
        FmaPeak.Result peakOne = FmaPeak.Measure(1);
        Console.Error.WriteLine("measuring Boft (pass 1) ...");
        var first = MeasureOurs(backend, configs, d, tokens, options.BudgetMs);
        string arguments = $"{script} {d} {tokens} {string.Join(' ', options.Pairs.Select(p => $"{p.M} {p.B}"))}";
        // Torch with OpenMP is very sensitive to other load on a 2-core machine (consecutive runs differ up to 10×), so it runs
        // several times and keeps its best median per number: the ratios are conservative.
        var torchRuns = new List<List<JsonElement>>();
        for (int run = 0; run < Math.Max(1, options.TorchRuns); run++)
        {
            Console.Error.WriteLine($"running the PyTorch peer ({run + 1}/{options.TorchRuns}): {python} {arguments}");
            torchRuns.Add(PeerRunner.RunScript(python, arguments, budgetSeconds: null));
        }
        List<Dictionary<string, double>> torch = BestOf(torchRuns);
        Console.Error.WriteLine("measuring Boft (pass 2) ...");
        var second = MeasureOurs(backend, configs, d, tokens, options.BudgetMs);
        // Full layer, layer to layer: our BoftLinear / Linear (validated against the reference backend) vs nn.Linear plus the
        // structured adapter and boft_s.
        Console.Error.WriteLine("measuring Boft's full layer ...");
        JobProgress progress = JobProgress.Lines();
        progress.Phase("full layer", configs.Count + 1);
        (List<Main.LayerRow> layer, _) = Main.LayerCost.Measure(backend, configs, d, [tokens], new TimingOptions(BudgetMs: options.BudgetMs),
            new MachineLimits(1, 1, 1, 1, 1, 1, long.MaxValue), progress);
        string loadAfter = MachineInfo.LoadAverage();

        var sb = new StringBuilder();
        var json = new List<Dictionary<string, object>>();
        sb.AppendLine("# Boft (SIMD backend) vs the PyTorch peer, adapter only");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{MachineInfo.Cpu()}; backend {BenchmarkBackends.Describe(backend)}; torch: 2 threads (OMP/OpenBLAS), fp32; load {loadBefore} → {loadAfter}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        sb.AppendLine(CultureInfo.InvariantCulture, $"Command: `{ResultFiles.CommandLine()}` (runs `{python} {arguments.Replace(Main.PeerRunner.ScriptPath, "Boft.Benchmarks/Peer/torch_peer.py", StringComparison.Ordinal)}` in the middle).");
        sb.AppendLine();
        // The denominator of "% of peak" is the larger of the measured all-thread peak and threads × the 1-thread peak: on a
        // shared machine the all-thread loop may not get every core, and a smaller denominator would flatter the kernel.
        double peakGflops = Math.Max(peak.Gflops512, threads * peakOne.Gflops512);
        sb.AppendLine(CultureInfo.InvariantCulture, $"FMA peak (register-resident FMA loop, best of 5): {peak.Gflops512:F1} GFLOP/s measured on {threads} threads ({peak.Gflops256:F1} with Vector256), {peakOne.Gflops512:F1} on 1 thread; % of peak below uses {peakGflops:F1} GFLOP/s = max(measured, {threads} × 1-thread).");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Ours = mean of the medians of two passes (before and after torch). Torch = the best of {torchRuns.Count} runs' medians (its runs vary by up to 10× under load; the all-runs numbers are in peer.json). Ratios = torch time / our time. Targets (issue 4): forward and forward+backward ≥ 20×, Cayley ≥ 5×, fused forward ≥ 30% of the FMA peak for b ≥ 8.");
        sb.AppendLine();
        sb.AppendLine("| d | T | m | b | op | torch ms | ours ms (pass 1 / 2) | torch / ours | target | met |");
        sb.AppendLine("|--:|--:|--:|--:|---|--:|--:|--:|--:|---|");
        var peakRows = new StringBuilder();
        peakRows.AppendLine("| m | b | fused forward (rotation only) ms | GFLOP/s | % of FMA peak | target (b ≥ 8) | met |");
        peakRows.AppendLine("|--:|--:|--:|--:|--:|--:|---|");
        for (int i = 0; i < configs.Count; i++)
        {
            MethodConfig config = configs[i];
            Dictionary<string, double>? row = torch.FirstOrDefault(t => (int)t["m"] == config.FactorCount && (int)t["b"] == config.BlockSize);
            foreach ((string op, string key, double target) in new[] { (Ops.Cayley, "cayley_ms", CayleyTarget), (Ops.Forward, "forward_ms", ForwardTarget), (Ops.ForwardBackward, "forward_backward_ms", ForwardTarget) })
            {
                double ours = 0.5 * (first[(config, op)].MedianMs + second[(config, op)].MedianMs);
                double? theirs = row is not null && row.TryGetValue(key, out double v) ? v : null;
                double? ratio = theirs / ours;
                string met = ratio is null ? "n/a" : ratio >= target ? "yes" : $"no ({ratio / target:P0} of target)";
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {d} | {tokens} | {config.FactorCount} | {config.BlockSize} | {op} | {theirs?.ToString("F3", CultureInfo.InvariantCulture) ?? "n/a"} | {ours:F3} ({first[(config, op)].MedianMs:F3} / {second[(config, op)].MedianMs:F3}) | {ratio?.ToString("F1", CultureInfo.InvariantCulture) ?? "n/a"}× | {target}× | {met} |");
                json.Add(new Dictionary<string, object>
                {
                    ["method"] = config.FactorCount == 1 ? "oft" : "boft", ["backend"] = backend.Name.ToLowerInvariant(), ["d"] = d, ["tokens"] = tokens,
                    ["m"] = config.FactorCount, ["b"] = config.BlockSize, ["op"] = op, ["median_ms"] = Math.Round(ours, 6),
                    ["torch_ms"] = theirs ?? double.NaN, ["ratio"] = ratio ?? double.NaN,
                    ["torch_runs_ms"] = torchRuns.Select(run => run.FirstOrDefault(t => t.GetProperty("m").GetInt32() == config.FactorCount && t.GetProperty("b").GetInt32() == config.BlockSize) is JsonElement e && e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out JsonElement x) ? x.GetDouble() : double.NaN).ToArray(),
                });
            }
            if (row is not null && row.TryGetValue("peft_forward_ms", out double dense))
            {
                double ours = 0.5 * (first[(config, Ops.Forward)].MedianMs + second[(config, Ops.Forward)].MedianMs);
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {d} | {tokens} | {config.FactorCount} | {config.BlockSize} | forward, PEFT's dense path | {dense:F3} | {ours:F3} | {dense / ours:F1}× | – | – |");
            }
            foreach ((string key, LayerOp op, bool frozen) in new[]
            {
                ("layer_frozen_forward_ms", LayerOp.FrozenForward, true), ("layer_frozen_forward_backward_ms", LayerOp.FrozenForwardBackward, true),
                ("layer_forward_ms", LayerOp.AdaptedForward, false), ("layer_forward_backward_ms", LayerOp.AdaptedForwardBackward, false),
            })
            {
                if (row is null || !row.TryGetValue(key, out double theirs))
                    continue;
                double ours = layer.First(r => r.Op == op && (frozen || r.Config == config)).Timing.MedianMs;
                string what = frozen ? $"full layer {Main.MainReport.OpName(op)}: nn.Linear vs Linear (frozen)" : $"full layer {Main.MainReport.OpName(op)}: nn.Linear + adapter vs BoftLinear";
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {d} | {tokens} | {config.FactorCount} | {config.BlockSize} | {what} | {theirs:F3} | {ours:F3} | {theirs / ours:F1}× | – | – |");
                json.Add(new Dictionary<string, object>
                {
                    ["method"] = frozen ? "frozen" : config.FactorCount == 1 ? "oft" : "boft", ["backend"] = backend.Name.ToLowerInvariant(), ["d"] = d, ["tokens"] = tokens,
                    ["m"] = config.FactorCount, ["b"] = config.BlockSize, ["op"] = key[..^3], ["median_ms"] = Math.Round(ours, 6), ["torch_ms"] = theirs, ["ratio"] = theirs / ours,
                });
            }
            Timing rotation = first[(config, Ops.Rotation)].MedianMs <= second[(config, Ops.Rotation)].MedianMs ? first[(config, Ops.Rotation)] : second[(config, Ops.Rotation)];
            double rotationMs = 0.5 * (first[(config, Ops.Rotation)].MedianMs + second[(config, Ops.Rotation)].MedianMs);
            double gflops = 2.0 * config.FactorCount * tokens * d * config.BlockSize / (rotationMs / 1e3) / 1e9;
            double share = gflops / peakGflops;
            string peakMet = config.BlockSize >= 8 ? (share >= PeakTarget ? "yes" : $"no ({share / PeakTarget:P0} of target)") : "–";
            peakRows.AppendLine(CultureInfo.InvariantCulture, $"| {config.FactorCount} | {config.BlockSize} | {rotationMs:F3} (min {rotation.MinMs:F3}) | {gflops:F1} | {share:P1} | {(config.BlockSize >= 8 ? "30%" : "–")} | {peakMet} |");
        }
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Fused forward (rotation only, Cayley excluded; 2·m·T·d·b FLOPs) against the peak of {peakGflops:F1} GFLOP/s:");
        sb.AppendLine();
        sb.Append(peakRows);
        Console.Write(sb.ToString());

        string directory = options.OutputDirectory ?? Path.Combine(MachineInfo.RepositoryRoot(), "results");
        Directory.CreateDirectory(directory);
        ResultFiles.WriteText(Path.Combine(directory, "peer.md"), sb.ToString());
        ResultFiles.WriteText(Path.Combine(directory, "peer.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        Console.Error.WriteLine($"wrote {Path.Combine(directory, "peer.md")} and peer.json");
        return 0;
    }

    /// <summary>Per (m, b), the minimum of every numeric field over the runs.</summary>
    private static List<Dictionary<string, double>> BestOf(List<List<JsonElement>> runs)
    {
        var best = new Dictionary<(int M, int B), Dictionary<string, double>>();
        foreach (JsonElement row in runs.SelectMany(r => r))
        {
            var key = (row.GetProperty("m").GetInt32(), row.GetProperty("b").GetInt32());
            if (!best.TryGetValue(key, out Dictionary<string, double>? values))
                best[key] = values = new Dictionary<string, double>();
            foreach (JsonProperty property in row.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number))
            {
                double value = property.Value.GetDouble();
                values[property.Name] = values.TryGetValue(property.Name, out double old) && property.Name.EndsWith("_ms", StringComparison.Ordinal) ? Math.Min(old, value) : value;
            }
        }
        return best.Values.ToList();
    }

    private static Dictionary<(MethodConfig, string), Timing> MeasureOurs(BoftBackend backend, List<MethodConfig> configs, int d, int tokens, double budgetMs)
    {
        var result = new Dictionary<(MethodConfig, string), Timing>();
        foreach (MethodConfig config in configs)
        {
            using var workload = new Workload(backend, config, d, tokens);
            foreach (string op in new[] { Ops.Cayley, Ops.Forward, Ops.ForwardBackward, Ops.Rotation })
                result[(config, op)] = TimingHarness.Time(backend, workload.Operation(op), new TimingOptions(BudgetMs: budgetMs, MinRuns: 20));
        }
        return result;
    }
}
