// The PyTorch peer inside the main job (and the `peer` command's script): Peer/torch_peer.py next to the executable (a
// copy of the shared reference's torch_adapter_bench.py with full-layer timings added, and the boft_ref.py it imports)
// runs with 2 OpenMP/OpenBLAS threads, fp32, and prints one JSON line per (m, b). Compared side by side with ours in the
// same run: the adapter (Cayley, forward, forward+backward; PEFT's dense path for the forward) and the full layer
// (nn.Linear alone, and nn.Linear plus the structured adapter and BOFT's scale, forward and forward+backward). m = 1 means
// full raw b×b blocks on the peer's side, so ours is BOFT(1, b) too (the same work as OFT(b) with a half-difference skew).

using System.Diagnostics;
using System.Text.Json;
using Boft.Backends;
using Boft.Experiments;
using Boft.Experiments.Analysis;

namespace Boft.Benchmarks.Main;

/// <summary>One side-by-side number: torch's median and ours, ratio = torch / ours.</summary>
internal sealed record PeerRow(int M, int B, string Op, double? TorchMs, double OursMs)
{
    public double? Ratio => TorchMs / OursMs;
}

/// <summary>The peer's outcome; <see cref="Skipped"/> says why there are no rows.</summary>
internal sealed record PeerResult(int D, int Tokens, List<PeerRow> Rows, string? Skipped, string Command);

internal static class PeerRunner
{
    public const string DefaultPython = "/usr/bin/python3";

    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "Peer", "torch_peer.py");

    public static PeerResult Run(BoftBackend backend, string? python, int d, int tokens, IReadOnlyList<(int M, int B)> pairs, TimingOptions timing,
        double torchBudgetSeconds, JobProgress progress)
    {
        python ??= File.Exists(DefaultPython) ? DefaultPython : "python3";
        string arguments = $"{ScriptPath} {d} {tokens} {string.Join(' ', pairs.Select(p => $"{p.M} {p.B}"))}";
        if (!File.Exists(ScriptPath))
            return new PeerResult(d, tokens, [], $"skipped: {ScriptPath} is missing", arguments);
        if (!TorchAvailable(python))
            return new PeerResult(d, tokens, [], $"skipped: '{python}' cannot import torch (apt-get install -y python3-torch, or pass --python PATH)", $"{python} {arguments}");
        var configs = pairs.Select(p => MethodConfig.Boft(p.M, p.B)).Where(c => c.IsValidFor(d)).ToList();
        MachineLimits unused = new(1, 1, 1, 1, 1, 1, long.MaxValue);
        var ours = new Dictionary<(int, int, string), double>();
        foreach (MethodConfig config in configs)
        {
            progress.Step($"ours: adapter {config}");
            Workload.Validate(backend, config, d);
            using var workload = new Workload(backend, config, d, tokens);
            foreach (string op in new[] { Ops.Cayley, Ops.Forward, Ops.ForwardBackward })
                ours[(config.FactorCount, config.BlockSize, op)] = TimingHarness.Time(backend, workload.Operation(op), timing).MedianMs;
        }
        (List<LayerRow> layer, _) = LayerCost.Measure(backend, configs, d, [tokens], timing, unused, progress);
        double frozenForward = layer.Single(r => r.Kind == "frozen" && r.Op == LayerOp.FrozenForward).Timing.MedianMs;
        double frozenBackward = layer.Single(r => r.Kind == "frozen" && r.Op == LayerOp.FrozenForwardBackward).Timing.MedianMs;
        foreach (MethodConfig config in configs)
        {
            ours[(config.FactorCount, config.BlockSize, "layer_forward")] = layer.Single(r => r.Config == config && r.Op == LayerOp.AdaptedForward).Timing.MedianMs;
            ours[(config.FactorCount, config.BlockSize, "layer_forward_backward")] = layer.Single(r => r.Config == config && r.Op == LayerOp.AdaptedForwardBackward).Timing.MedianMs;
            ours[(config.FactorCount, config.BlockSize, "layer_frozen_forward")] = frozenForward;
            ours[(config.FactorCount, config.BlockSize, "layer_frozen_forward_backward")] = frozenBackward;
            ours[(config.FactorCount, config.BlockSize, "peft_forward")] = ours[(config.FactorCount, config.BlockSize, Ops.Forward)];
        }
        progress.Step($"torch: {python} {arguments}");
        List<JsonElement> torch = RunScript(python, arguments, torchBudgetSeconds);
        var rows = new List<PeerRow>();
        foreach (MethodConfig config in configs)
        {
            JsonElement? row = torch.Cast<JsonElement?>().FirstOrDefault(t => t!.Value.GetProperty("m").GetInt32() == config.FactorCount && t.Value.GetProperty("b").GetInt32() == config.BlockSize);
            foreach (string op in new[] { Ops.Cayley, Ops.Forward, Ops.ForwardBackward, "peft_forward", "layer_frozen_forward", "layer_frozen_forward_backward", "layer_forward", "layer_forward_backward" })
            {
                string key = op + "_ms";
                double? theirs = row is JsonElement e && e.TryGetProperty(key, out JsonElement v) ? v.GetDouble() : null;
                rows.Add(new PeerRow(config.FactorCount, config.BlockSize, op, theirs, ours[(config.FactorCount, config.BlockSize, op)]));
            }
        }
        string shown = arguments.Replace(ScriptPath, "Boft.Benchmarks/Peer/torch_peer.py", StringComparison.Ordinal);
        return new PeerResult(d, tokens, rows, null, $"BOFT_PEER_BUDGET={torchBudgetSeconds} OMP_NUM_THREADS=2 {python} {shown}");
    }

    /// <summary>Runs the peer script and returns its JSON rows; <paramref name="budgetSeconds"/> null keeps the script's own budget.</summary>
    public static List<JsonElement> RunScript(string python, string arguments, double? budgetSeconds)
    {
        var info = new ProcessStartInfo(python, arguments) { RedirectStandardOutput = true, UseShellExecute = false };
        info.Environment["OMP_NUM_THREADS"] = "2";
        info.Environment["OPENBLAS_NUM_THREADS"] = "2";
        if (budgetSeconds is double budget)
            info.Environment["BOFT_PEER_BUDGET"] = budget.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using Process process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {python}.");
        var rows = new List<JsonElement>();
        string? line;
        while ((line = process.StandardOutput.ReadLine()) is not null)
        {
            if (line.TrimStart().StartsWith('{'))
                rows.Add(JsonDocument.Parse(line).RootElement.Clone());
        }
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"The PyTorch peer exited with code {process.ExitCode}: {python} {arguments}");
        return rows;
    }

    public static bool TorchAvailable(string python)
    {
        try
        {
            var info = new ProcessStartInfo(python, "-c \"import torch\"") { UseShellExecute = false, RedirectStandardError = true };
            using Process? process = Process.Start(info);
            if (process is null)
                return false;
            process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
