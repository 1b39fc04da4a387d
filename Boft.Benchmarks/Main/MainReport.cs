// The main job's outputs: the ten-second summary (stdout), the full tables (main.md), one JSON file (main.json) and three
// SVG plots. Every column is explained in docs/04_Benchmarking.md §Columns; the JSON schema in §JSON.

using System.Globalization;
using System.Text;
using System.Text.Json;
using Boft.Experiments.Analysis;
using Boft.Experiments.Quality;

namespace Boft.Benchmarks.Main;

internal static class MainReport
{
    /// <summary>Per configuration at the quality d: mean over the targets of error / no-fit error (0 = exact, 1 = no better than R = I).</summary>
    public static double Score(IEnumerable<QualityResult> results) => results.Average(r => r.NoFitError > 0 ? r.RelativeError / r.NoFitError : r.RelativeError);

    private static string F(double value) => double.IsNaN(value) ? "n/a"
        : Math.Abs(value) >= 100 ? value.ToString("F0", CultureInfo.InvariantCulture)
        : Math.Abs(value) >= 10 ? value.ToString("F1", CultureInfo.InvariantCulture)
        : Math.Abs(value) >= 0.1 ? value.ToString("F2", CultureInfo.InvariantCulture)
        : value.ToString("F3", CultureInfo.InvariantCulture);

    private static string Pct(double fraction) => (100 * fraction).ToString("F0", CultureInfo.InvariantCulture) + "%";

    private static string Bytes(double bytes) => bytes >= 1 << 20 ? F(bytes / (1 << 20)) + " MiB" : bytes >= 1 << 10 ? F(bytes / 1024) + " KiB" : F(bytes) + " B";

    /// <summary>One summary line per configuration at the first layer d and the summary T.</summary>
    public sealed record SummaryLine(MethodConfig Config, long Dof, double? Score, double? Cross, double? Structured, double? Small, double OverheadForward,
        double OverheadTraining, long TrainPlusAdam, long SavedPerToken, long PeftExtra, double Roofline, string Recommendation);

    public static List<SummaryLine> SummaryLines(MainResults r)
    {
        int d = r.Options.FeatureCounts[0], tokens = MainJob.SummaryTokens(r.Options.Tokens);
        int qd = r.Options.QualityFeatureCounts[0];
        var lines = new List<(MethodConfig Config, double? Score, double? Cross, double? Structured, double? Small, double Of, double Ot, LayerMemory Mem, double Roof)>();
        foreach (MethodConfig c in r.Options.Configs.Where(c => c.IsValidFor(d)))
        {
            var q = r.Quality.Where(x => x.FeatureCount == qd && x.Config == c).ToList();
            double? Mean(params string[] names) => q.Where(x => names.Contains(x.Target)).Select(x => x.RelativeError).DefaultIfEmpty(double.NaN).Average() is double v && !double.IsNaN(v) ? v : null;
            LayerRow? f = Primary(r).FirstOrDefault(x => x.D == d && x.Tokens == tokens && x.Config == c && x.Op == LayerOp.AdaptedForward);
            LayerRow? t = Primary(r).FirstOrDefault(x => x.D == d && x.Tokens == tokens && x.Config == c && x.Op == LayerOp.AdaptedForwardBackward);
            double of = f?.OverheadPercent ?? double.NaN, ot = t?.OverheadPercent ?? double.NaN;
            lines.Add((c, q.Count > 0 ? Score(q) : null, Mean("givens-cross", "signed-permutation"), Mean("dct", "hadamard"), Mean("small-0.3"), of, ot,
                LayerMath.Memory(c, d, d), t?.RooflineFraction ?? double.NaN));
        }
        var numbers = lines.Select(l => new SummaryNumbers(l.Config.ToString(), l.Config.EffectiveParameters(d), l.Score ?? double.NaN, l.Ot)).ToList();
        return lines.Select((l, i) => new SummaryLine(l.Config, l.Config.EffectiveParameters(d), l.Score, l.Cross, l.Structured, l.Small, l.Of, l.Ot,
            l.Mem.TrainableBytes + l.Mem.OptimizerStateBytes, l.Mem.SavedActivationBytesPerToken, l.Mem.PeftBufferBytes, l.Roof,
            double.IsNaN(numbers[i].QualityError) || double.IsNaN(numbers[i].OverheadPercent) ? "n/a (not measured)" : Recommendation.For(numbers[i], numbers))).ToList();
    }

    /// <summary>The layer rows of the first --dtype (fp32 by default): the summary, the recommendation and the plots use them; the
    /// full-layer table and the JSON carry every type.</summary>
    public static IEnumerable<LayerRow> Primary(MainResults r) => r.Layer.Where(x => x.Dtype == r.Options.Dtypes[0]);

    public static string Header(MainResults r) => string.Create(CultureInfo.InvariantCulture,
        $"{MachineInfo.Cpu()}; backend {r.BackendText}; {string.Join(",", r.Options.Dtypes.Select(Cli.DtypeOption.Name))}{(r.Options.Dtypes.Length > 1 ? $" (summary: {Cli.DtypeOption.Name(r.Options.Dtypes[0])})" : "")}; {r.Seconds:F0} s; load {r.LoadBefore} → {r.LoadAfter}; peak working set {Bytes(r.PeakWorkingSetBytes)}\nroofs (the larger of the start and end measurements): {r.Limits.Describe()}");

    public static string Summary(MainResults r)
    {
        int d = r.Options.FeatureCounts[0], tokens = MainJob.SummaryTokens(r.Options.Tokens), qd = r.Options.QualityFeatureCounts[0];
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"BOFT vs OFT — layer d={d}→{d}, T={tokens}; quality fitted at d={qd} ({r.Options.Quality.Steps} Adam steps, best of {r.Options.Quality.Seeds} starts, rate searched)");
        sb.AppendLine(Header(r));
        sb.AppendLine();
        string head = $"{"config",-11} {"dof/d",6} | {"quality left",12} {"cross",6} {"struct",6} {"small",6} | {"ovh fwd",8} {"ovh train",9} | {"params+Adam",11} {"saved/tok",9} {"PEFT dense",10} | {"roofline",8} | recommendation";
        sb.AppendLine(head);
        sb.AppendLine(new string('-', head.Length + 10));
        foreach (SummaryLine l in SummaryLines(r))
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"{l.Config,-11} {F((double)l.Dof / d),6} | {(l.Score is double s ? Pct(s) : "n/a"),12} {Opt(l.Cross),6} {Opt(l.Structured),6} {Opt(l.Small),6} | {F(l.OverheadForward) + "%",8} {F(l.OverheadTraining) + "%",9} | " +
                $"{Bytes(l.TrainPlusAdam),11} {Bytes(l.SavedPerToken),9} {(l.PeftExtra > 0 ? Bytes(l.PeftExtra) : "none"),10} | {Pct(l.Roofline),8} | {l.Recommendation}");
        sb.AppendLine();
        sb.AppendLine("quality left = mean over the targets of error / no-fit error (0% exact, 100% no better than R = I); cross, struct, small = ‖R − T‖/‖T‖ on the");
        sb.AppendLine("cross-block, structured and ε=0.3 targets; ovh = adapted layer time / frozen layer time − 1; roofline = training step's share of min(peak, bandwidth × intensity).");
        foreach ((int id, MethodConfig c, string reason) in r.Invalid.Where(i => r.Options.Configs.Contains(i.Config)))
            sb.AppendLine(CultureInfo.InvariantCulture, $"{c} at d={id}: {reason}");
        if (r.Peer is PeerResult p)
        {
            if (p.Skipped is not null)
                sb.AppendLine($"PyTorch peer: {p.Skipped}");
            else
                sb.AppendLine("PyTorch peer (torch / ours, d=" + p.D + ", T=" + p.Tokens + "): " + string.Join("; ", p.Rows.Where(x => x.Op is "forward_backward" or "layer_forward_backward" or "peft_forward")
                    .GroupBy(x => (x.M, x.B)).Select(g => $"m={g.Key.M},b={g.Key.B}: " + string.Join(", ", g.Select(x => $"{x.Op.Replace("_backward", "+bwd", StringComparison.Ordinal)} {(x.Ratio is double v ? F(v) + "×" : "n/a")}")))));
        }
        return sb.ToString();

        static string Opt(double? v) => v is double x ? F(x) : "n/a";
    }

    public static string Markdown(MainResults r, string command)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# BOFT vs OFT: the benchmark that decides");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Command: `{command}` ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC). Columns: docs/04_Benchmarking.md.");
        sb.AppendLine();
        sb.AppendLine(Header(r).Replace("\n", "  \n", StringComparison.Ordinal));
        sb.AppendLine();
        sb.AppendLine("## Summary");
        sb.AppendLine();
        sb.AppendLine("```");
        sb.Append(Summary(r));
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine("![quality vs parameters](quality_pareto.svg)");
        sb.AppendLine("![time per token vs parameters](time_per_token.svg)");
        sb.AppendLine("![overhead vs tokens](overhead_vs_tokens.svg)");
        sb.AppendLine();
        sb.AppendLine("## Quality at equal budget");
        sb.AppendLine();
        foreach (int qd in r.Options.QualityFeatureCounts)
        {
            var rows = r.Quality.Where(q => q.FeatureCount == qd).ToList();
            if (rows.Count == 0)
                continue;
            string[] targets = rows.Select(q => q.Target).Distinct().ToArray();
            sb.AppendLine(FormattableString.Invariant($"d = {qd}: best ‖R − T‖_F/‖T‖_F (activation error ‖XR − XT‖/‖XT‖ in brackets); OFT rows: closed-form block-diagonal optimum after the slash. No-fit (R = I): ") +
                string.Join(", ", targets.Select(t => $"{t} {F(rows.First(q => q.Target == t).NoFitError)}")) + ".");
            sb.AppendLine();
            sb.AppendLine("| config | dof | stored | dense | " + string.Join(" | ", targets) + " | quality left |");
            sb.AppendLine("|---|--:|--:|---|" + string.Concat(targets.Select(_ => "--:|")) + "--:|");
            foreach (var g in rows.GroupBy(q => q.Config))
            {
                QualityResult first = g.First();
                sb.Append(CultureInfo.InvariantCulture, $"| {g.Key} | {first.EffectiveParameters} | {first.TrainableParameters} | {(first.Dense ? "dense" : "")} | ");
                foreach (string t in targets)
                {
                    QualityResult? q = g.FirstOrDefault(x => x.Target == t);
                    sb.Append(q is null ? "– | " : $"{F(q.RelativeError)} ({F(q.ActivationError)}){(q.ClosedFormError is double c ? " / " + F(c) : "")} | ");
                }
                sb.AppendLine(CultureInfo.InvariantCulture, $"{Pct(Score(g))} |");
            }
            sb.AppendLine();
            var oft = rows.Where(q => q.ClosedFormError is not null).ToList();
            if (oft.Count > 0)
            {
                var misses = oft.Where(q => q.RelativeError > q.ClosedFormError!.Value * 1.01 + 1e-4).ToList();
                sb.AppendLine(FormattableString.Invariant($"Optimizer check (every OFT row within 1 % of its closed-form Procrustes optimum): {oft.Count - misses.Count} of {oft.Count} rows within 1 %.") +
                    (misses.Count > 0 ? " Outside: " + string.Join("; ", misses.Select(q => $"{q.Config} on {q.Target} {F(q.RelativeError)} vs {F(q.ClosedFormError!.Value)}")) + " (Cayley cannot reach eigenvalue −1; see the docs)." : ""));
                sb.AppendLine();
            }
        }
        foreach ((int d, MethodConfig c, string reason) in r.Invalid)
            sb.AppendLine(CultureInfo.InvariantCulture, $"- {c} at d={d}: {reason}");
        sb.AppendLine();
        sb.AppendLine("## Full-layer cost");
        sb.AppendLine();
        sb.AppendLine("dtype: the element type of the activations, W0 and the frozen bias (docs/09_Mixed-precision.md); parameters float32. A 16-bit row's " +
                      "overhead is against the frozen layer in the same type, and its bytes count 2 per activation and weight element.");
        sb.AppendLine();
        sb.AppendLine("| d | T | dtype | layer | op | median ms | min ms | runs | µs/token | overhead vs frozen | GFLOP/s | FLOPs | bytes | GB/s | working set | % of its bandwidth | roofline |");
        sb.AppendLine("|--:|--:|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|");
        foreach (LayerRow x in r.Layer)
        {
            string overhead = x.OverheadPercent is double o ? F(o) + "%" : "–";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {x.D} | {x.Tokens} | {Cli.DtypeOption.Name(x.Dtype)} | {(x.Kind == "merged" ? $"merged {x.Label}" : x.Label)} | {OpName(x.Op)} | {F(x.Timing.MedianMs)} | {F(x.Timing.MinMs)} | {x.Timing.Runs} | {F(x.MicrosecondsPerToken)} | {overhead} | {F(x.Gflops)} | {x.Flops:E2} | {x.Bytes:E2} | {F(x.Gbps)} | {x.Level} | {Pct(x.BandwidthFraction)} | {Pct(x.RooflineFraction)} |");
        }
        sb.AppendLine();
        foreach (LayerRow f in r.Layer.Where(x => x.Kind == "frozen" && x.Op == LayerOp.FrozenForward))
            sb.AppendLine(CultureInfo.InvariantCulture, $"- frozen GEMM {Cli.DtypeOption.Name(f.Dtype)} d={f.D}, T={f.Tokens}: {F(f.Gflops)} GFLOP/s = {Pct(f.Gflops / r.Limits.PeakGflops)} of the FMA peak");
        sb.AppendLine();
        sb.AppendLine("## Memory");
        sb.AppendLine();
        sb.AppendLine("| d | T | config | trainable | Adam state | saved for backward / token | workspace / token | workspace fixed | model total at T | measured allocation at T | PEFT trainable | PEFT dense buffers |");
        sb.AppendLine("|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        foreach (MemoryRow m in r.Memory)
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {m.D} | {m.Tokens} | {m.Config} | {Bytes(m.Model.TrainableBytes)} | {Bytes(m.Model.OptimizerStateBytes)} | {Bytes(m.Model.SavedActivationBytesPerToken)} | {Bytes(m.Model.WorkspaceBytesPerToken)} | {Bytes(m.Model.WorkspaceBytesFixed)} | {Bytes(m.ModelTotalBytes)} | {Bytes(m.MeasuredBytes)} | {Bytes(m.Model.PeftTrainableBytes)} | {(m.Model.PeftBufferBytes > 0 ? Bytes(m.Model.PeftBufferBytes) : "none")} |");
        sb.AppendLine();
        if (r.Peer is PeerResult p)
        {
            sb.AppendLine("## PyTorch peer (same run)");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"`{p.Command}`{(p.Skipped is not null ? ": " + p.Skipped : "")}");
            sb.AppendLine();
            if (p.Rows.Count > 0)
            {
                sb.AppendLine("| d | T | m | b | op | torch ms | ours ms | torch / ours |");
                sb.AppendLine("|--:|--:|--:|--:|---|--:|--:|--:|");
                foreach (PeerRow x in p.Rows)
                    sb.AppendLine(CultureInfo.InvariantCulture, $"| {p.D} | {p.Tokens} | {x.M} | {x.B} | {x.Op} | {(x.TorchMs is double t ? F(t) : "n/a")} | {F(x.OursMs)} | {(x.Ratio is double v ? F(v) + "×" : "n/a")} |");
                sb.AppendLine();
                sb.AppendLine("peft_forward: PEFT's dense path (boft_P permutation matrices, dense R, x @ R) against our structured forward.");
            }
        }
        return sb.ToString();
    }

    public static string OpName(LayerOp op) => op switch
    {
        LayerOp.AdaptedForward or LayerOp.FrozenForward or LayerOp.MergedForward => "forward",
        _ => "forward_backward",
    };

    /// <summary>The JSON rows: one schema for every kind (docs/04_Benchmarking.md §JSON).</summary>
    public static string Json(MainResults r)
    {
        var rows = new List<Dictionary<string, object?>>();
        Dictionary<string, object?> Row(string kind, string method, int d, int? tokens, int? m, int? b, string op, Dictionary<string, object?> measures, string dtype = "fp32") => new()
        {
            ["kind"] = kind, ["dtype"] = dtype, ["backend"] = r.BackendName, ["method"] = method, ["d"] = d, ["tokens"] = tokens, ["m"] = m, ["b"] = b, ["op"] = op,
            ["measures"] = measures,
        };
        rows.Add(Row("limits", "machine", 0, null, null, null, "limits", new()
        {
            ["threads"] = r.Limits.Threads, ["peak_gflops"] = r.Limits.PeakGflops, ["peak_all_threads_gflops"] = r.Limits.PeakAllThreadsGflops,
            ["peak_one_thread_gflops"] = r.Limits.PeakOneThreadGflops, ["cache_gbs"] = r.Limits.CacheGBs, ["dram_gbs"] = r.Limits.DramGBs,
            ["cache_bytes"] = r.Limits.CacheBytes, ["seconds"] = r.Seconds, ["peak_working_set_bytes"] = r.PeakWorkingSetBytes,
        }));
        foreach (QualityResult q in r.Quality)
            rows.Add(Row("quality", q.Config.Method, q.FeatureCount, null, q.Config.FactorCount, q.Config.BlockSize, "fit", new()
            {
                ["target"] = q.Target, ["relative_error"] = q.RelativeError, ["activation_error"] = q.ActivationError, ["no_fit_error"] = q.NoFitError,
                ["closed_form_error"] = q.ClosedFormError, ["effective_parameters"] = q.EffectiveParameters, ["trainable_parameters"] = q.TrainableParameters,
                ["dense"] = q.Dense, ["learning_rate"] = q.LearningRate, ["best_start"] = q.BestStart, ["steps"] = q.Steps,
            }));
        foreach ((int d, MethodConfig c, string reason) in r.Invalid)
            rows.Add(Row("invalid", c.Method, d, null, c.FactorCount, c.BlockSize, "none", new() { ["reason"] = reason }));
        foreach (LayerRow x in r.Layer)
            rows.Add(Row("layer", x.Kind == "adapted" ? x.Config!.Method : x.Kind, x.D, x.Tokens, x.Config?.FactorCount, x.Config?.BlockSize, OpName(x.Op), new()
            {
                ["median_ms"] = x.Timing.MedianMs, ["min_ms"] = x.Timing.MinMs, ["runs"] = x.Timing.Runs, ["flops"] = x.Flops, ["bytes"] = x.Bytes,
                ["gflops"] = x.Gflops, ["working_set"] = x.Level, ["roofline_fraction"] = x.RooflineFraction, ["n"] = x.N,
                ["gbps"] = x.Gbps, ["bandwidth_gbs"] = x.BandwidthGBs, ["bandwidth_fraction"] = x.BandwidthFraction,
                ["paired_frozen_ms"] = x.PairedFrozenMs, ["overhead_percent"] = x.OverheadPercent,
            }, Cli.DtypeOption.Name(x.Dtype)));
        foreach (MemoryRow m in r.Memory)
            rows.Add(Row("memory", m.Config.Method, m.D, m.Tokens, m.Config.FactorCount, m.Config.BlockSize, "memory", new()
            {
                ["trainable_bytes"] = m.Model.TrainableBytes, ["optimizer_state_bytes"] = m.Model.OptimizerStateBytes,
                ["saved_activation_bytes_per_token"] = m.Model.SavedActivationBytesPerToken, ["workspace_bytes_per_token"] = m.Model.WorkspaceBytesPerToken,
                ["workspace_bytes_fixed"] = m.Model.WorkspaceBytesFixed, ["model_total_bytes"] = m.ModelTotalBytes, ["measured_allocated_bytes"] = m.MeasuredBytes,
                ["peft_trainable_bytes"] = m.Model.PeftTrainableBytes, ["peft_buffer_bytes"] = m.Model.PeftBufferBytes,
            }));
        if (r.Peer is PeerResult p)
            foreach (PeerRow x in p.Rows)
                rows.Add(Row("peer", x.M == 1 ? "oft" : "boft", p.D, p.Tokens, x.M, x.B, x.Op, new() { ["torch_ms"] = x.TorchMs, ["median_ms"] = x.OursMs, ["ratio"] = x.Ratio }));
        return JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true });
    }

    public static IEnumerable<(string Name, string Svg)> Plots(MainResults r)
    {
        int qd = r.Options.QualityFeatureCounts[0], d = r.Options.FeatureCounts[0], tokens = MainJob.SummaryTokens(r.Options.Tokens);
        string note = $"{MachineInfo.FolderName()}, backend {r.BackendText}";
        // 1. Quality vs parameters (Pareto): one series per family (BOFT by block size, over m; OFT over b); the front dashed.
        var q = r.Quality.Where(x => x.FeatureCount == qd).GroupBy(x => x.Config).Select(g => (Config: g.Key, Dof: (double)g.First().EffectiveParameters, Score: Score(g))).ToList();
        var series = q.GroupBy(x => x.Config.IsBoft ? $"BOFT b={x.Config.BlockSize} (m = 1…; dense at m={MethodConfig.DenseFactorCount(qd, x.Config.BlockSize)})" : "OFT (b = 4…d)")
            .Select(g => new SvgPlot.Series(g.Key, g.Select(x => (x.Dof, Math.Max(x.Score, 1e-4))).ToList())).ToList();
        var front = q.OrderBy(x => x.Dof).Aggregate(new List<(double, double)>(), (acc, x) =>
        {
            if (acc.Count == 0 || x.Score < acc[^1].Item2)
                acc.Add((x.Dof, Math.Max(x.Score, 1e-4)));
            return acc;
        });
        series.Add(new SvgPlot.Series("Pareto front", front, Dashed: true));
        yield return ("quality_pareto.svg", SvgPlot.Render($"Quality vs parameters at d={qd} (mean error / no-fit error over {r.Quality.Select(x => x.Target).Distinct().Count()} targets)",
            "trainable skew degrees of freedom (log)", "error left (fraction of no-fit, log)", series, note: note));
        // 2. Time per token vs parameters (training step at the summary T).
        var t = Primary(r).Where(x => x.D == d && x.Tokens == tokens && x.Op == LayerOp.AdaptedForwardBackward).ToList();
        var frozen = Primary(r).FirstOrDefault(x => x.D == d && x.Tokens == tokens && x.Op == LayerOp.FrozenForwardBackward);
        var timeSeries = t.GroupBy(x => x.Config!.IsBoft ? $"BOFT b={x.Config.BlockSize}" : "OFT")
            .Select(g => new SvgPlot.Series(g.Key, g.Select(x => ((double)x.Config!.EffectiveParameters(d), x.MicrosecondsPerToken)).ToList())).ToList();
        if (frozen is not null && t.Count > 0)
            timeSeries.Add(new SvgPlot.Series("frozen layer", [(t.Min(x => x.Config!.EffectiveParameters(d)), frozen.MicrosecondsPerToken), (t.Max(x => x.Config!.EffectiveParameters(d)), frozen.MicrosecondsPerToken)], Dashed: true));
        yield return ("time_per_token.svg", SvgPlot.Render($"Training step time per token vs parameters (d={d}, T={tokens})", "trainable skew degrees of freedom (log)",
            "µs per token, forward+backward (log)", timeSeries, note: note));
        // 3. Overhead vs tokens (training step).
        var overhead = r.Options.Configs.Where(c => c.IsValidFor(d)).Select(c => new SvgPlot.Series(c.ToString(), r.Options.Tokens.Select(tk =>
        {
            LayerRow? a = Primary(r).FirstOrDefault(x => x.D == d && x.Tokens == tk && x.Config == c && x.Op == LayerOp.AdaptedForwardBackward);
            return ((double)tk, a?.OverheadPercent ?? double.NaN);
        }).ToList())).ToList();
        yield return ("overhead_vs_tokens.svg", SvgPlot.Render($"Adapter overhead of the training step vs tokens (d={d})", "tokens T (log)",
            "overhead over the frozen layer, %", overhead, logY: false, note: note));
    }
}
