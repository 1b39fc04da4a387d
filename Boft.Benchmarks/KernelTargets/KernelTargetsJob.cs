// The CPU kernels against the machine's limits (issue 14), side by side in one run: the fused rotation forward and
// forward+backward on compute-bound rows, memory-bound rows, the frozen GEMM (forward and the two backward shapes),
// Cayley's share of the forward, token-by-token inference (frozen vs unmerged vs merged), 2-thread vs 1-thread scaling,
// the SIMD backend's worker pool against Parallel.For, and bitwise determinism (run to run and 1 vs 2 threads). Independent of the command-line code: Run(options) is the
// whole job. Protocol: FMA peak and bandwidths measured first; then R rounds, each round timing every case once (median
// of a time budget, TimingHarness.Time, which synchronizes the backend inside the timed region) with a case's thread
// counts back to back, and the cases a ratio target compares timed interleaved sample by sample
// (TimingHarness.TimeInterleaved, ComparisonKey); a case's time is the median of its round medians, so slow phases of a
// noisy shared machine hit all cases alike. Writes kernels.md and kernels.json. docs/04_Benchmarking.md §CPU kernels.

using System.Globalization;
using System.Text;
using System.Text.Json;
using Boft.Backends;
using Boft.Experiments;
using Boft.Kernels.Simd;

namespace Boft.Benchmarks.KernelTargets;

/// <summary>Options of the kernels job.</summary>
internal sealed class KernelTargetsOptions
{
    /// <summary>Thread counts to measure (each case runs on a backend with that many threads).</summary>
    public int[] Threads { get; set; } = Environment.ProcessorCount > 1 ? [1, Environment.ProcessorCount] : [1];

    /// <summary>Rounds over all cases; each case's time is the median of its round medians.</summary>
    public int Rounds { get; set; } = 3;

    /// <summary>Time budget per case and round.</summary>
    public double BudgetMs { get; set; } = 200;

    /// <summary>Backend name (a SIMD backend; see BenchmarkBackends).</summary>
    public string Backend { get; set; } = "simd";

    /// <summary>Output folder (default: results/ under the repository root).</summary>
    public string? OutputDirectory { get; set; }

    /// <summary>Fewer shapes and one round (a smoke run; not for reported numbers).</summary>
    public bool Quick { get; set; }

    /// <summary>Only the cases of these groups (e.g. <c>frozen_gemm</c>); null for all. For iterating on one kernel; a run
    /// with a filter is not a report of the targets.</summary>
    public string[]? Only { get; set; }

    /// <summary>Only the per-pass rotation profile (RotationProfile.cs), printed to stdout; no result files.</summary>
    public bool ProfileOnly { get; set; }

    /// <summary>The command line to print in the report.</summary>
    public string Command { get; set; } = "dotnet run -c Release --project Boft.Benchmarks -- kernels";

    /// <summary>Options from <c>--threads 1,2 --rounds R --budget-ms MS --backend NAME --out DIR --quick</c> (kept here so
    /// the job does not depend on the command-line layer).</summary>
    /// <exception cref="ArgumentException">An unknown option or a missing value.</exception>
    public static KernelTargetsOptions Parse(string[] args)
    {
        var options = new KernelTargetsOptions { Command = ResultFiles.CommandLine(["kernels", .. args]) };
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            if (name is "--quick" or "--profile")
            {
                options.Quick |= name == "--quick";
                options.ProfileOnly |= name == "--profile";
                continue;
            }
            if (i + 1 >= args.Length)
                throw new ArgumentException($"{name} needs a value (kernels options: --threads 1,2 --rounds R --budget-ms MS --backend NAME --out DIR --only GROUP[,GROUP] --quick --profile).");
            string value = args[++i];
            switch (name)
            {
                case "--threads":
                    options.Threads = value.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
                    break;
                case "--rounds":
                    options.Rounds = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--budget-ms":
                    options.BudgetMs = double.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--backend":
                    options.Backend = value;
                    break;
                case "--out":
                    options.OutputDirectory = value;
                    break;
                case "--only":
                    options.Only = value.Split(',', StringSplitOptions.RemoveEmptyEntries);
                    break;
                default:
                    throw new ArgumentException($"Unknown option '{name}' (kernels options: --threads 1,2 --rounds R --budget-ms MS --backend NAME --out DIR --only GROUP[,GROUP] --quick --profile).");
            }
        }
        return options;
    }
}

/// <summary>The kernels job (see the file header).</summary>
internal static class KernelTargetsJob
{
    private const double RotationTarget = 0.60, ForwardBackwardTarget = 0.50, BandwidthTarget = 0.80, GemmTarget = 0.75;
    private const double CayleyShareTarget = 0.05, InferenceOverheadTarget = 0.10, ScalingTarget = 1.8, DtypeTarget = 1.6;

    /// <summary>Runs the job; returns the process exit code (0 also when targets are missed: misses are reported, not errors).</summary>
    public static int Run(KernelTargetsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Rounds < 1)
            throw new ArgumentException($"Rounds must be at least 1 (got {options.Rounds}).", nameof(options));
        int[] threadCounts = options.Threads.Distinct().Order().ToArray();
        bool quick = options.Quick;
        int rounds = quick ? 1 : options.Rounds;
        string loadBefore = MachineInfo.LoadAverage();
        var started = DateTime.UtcNow;
        if (options.ProfileOnly)
        {
            foreach ((int m, int b) in ProfiledRows)
            {
                Console.WriteLine("output written with feature groups outer (before):");
                Console.WriteLine(ProfileMarkdown(ForwardProfile, m, b, RotationProfile.Forward(m, b, 1024, 512, rowsOuter: false)));
                Console.WriteLine("output written with row groups outer (the kernel):");
                Console.WriteLine(ProfileMarkdown(ForwardProfile, m, b, RotationProfile.Forward(m, b, 1024, 512)));
                Console.WriteLine(ProfileMarkdown(BackwardProfile, m, b, RotationProfile.Backward(m, b, 1024, 512)));
            }
            return 0;
        }
        Console.Error.WriteLine("profiling the rotation passes ...");
        int repetitions = quick ? 3 : 20;
        var profiles = ProfiledRows.Select(p => (Kernel: ForwardProfile, p.M, p.B, Passes: RotationProfile.Forward(p.M, p.B, 1024, 512, repetitions)))
            .Concat(ProfiledRows.Select(p => (Kernel: BackwardProfile, p.M, p.B, Passes: RotationProfile.Backward(p.M, p.B, 1024, 512, repetitions)))).ToList();

        Console.Error.WriteLine("measuring the FMA peak ...");
        Dictionary<int, double> peak = threadCounts.ToDictionary(t => t, t => FmaPeak.Measure(t).Gflops512);

        var backends = threadCounts.ToDictionary(t => t, t => BenchmarkBackends.Create(options.Backend, t));
        var cases = new List<KernelCase>();
        try
        {
            var perThreads = threadCounts.Select(t => BuildCases(backends[t], t, quick, options.Only).ToList()).ToList();
            foreach (List<KernelCase> list in perThreads)
                cases.AddRange(list);
            // Timed in this order: each case on every thread count back to back, so the 1 → 2-thread speed-ups compare times
            // from the same moment of a machine whose speed drifts (runs a minute apart differed by 1.5× here).
            var timingOrder = Enumerable.Range(0, perThreads.Max(l => l.Count))
                .SelectMany(i => perThreads.Where(l => i < l.Count).Select(l => l[i])).ToList();

            Console.Error.WriteLine("measuring memory bandwidth at each memory-bound working set ...");
            var bandwidth = new Dictionary<(int Threads, long Bytes), double>();
            var copyBandwidth = new Dictionary<(int Threads, long Bytes), double>();
            foreach (KernelCase c in cases.Where(c => c.Target == KernelCases.MemoryBound))
            {
                long bytes = RoundWorkingSet(c.WorkingSetBytes);
                if (!bandwidth.ContainsKey((c.Threads, bytes)))
                {
                    bandwidth[(c.Threads, bytes)] = MemoryBandwidth.Measure(c.Threads, bytes).GigabytesPerSecond;
                    copyBandwidth[(c.Threads, bytes)] = MemoryBandwidth.MeasureCopy(c.Threads, bytes).GigabytesPerSecond;
                }
            }
            foreach (int t in threadCounts)
                bandwidth[(t, MemoryBandwidth.DramWorkingSet)] = MemoryBandwidth.Measure(t, MemoryBandwidth.DramWorkingSet).GigabytesPerSecond;

            // Determinism: every case's outputs, twice, and across thread counts (same case name).
            var fingerprints = new Dictionary<KernelCase, (ulong First, ulong Second)>();
            foreach (KernelCase c in cases)
            {
                c.Run();
                ulong first = c.Fingerprint();
                c.Run();
                fingerprints[c] = (first, c.Fingerprint());
            }

            // The cases a ratio target compares (ComparisonKey) are timed interleaved, sample by sample, so the ratio's two
            // medians come from the same moments; each set still gets every case's budget.
            var comparisonSets = timingOrder.GroupBy(c => (c.Threads, ComparisonKey(c))).Select(g => g.ToList()).ToList();
            for (int round = 0; round < rounds; round++)
            {
                Console.Error.WriteLine($"round {round + 1}/{rounds} ({cases.Count} cases) ...");
                foreach (List<KernelCase> set in comparisonSets)
                {
                    IReadOnlyList<Timing> timings = TimingHarness.TimeInterleaved(
                        set.Select(c => new InterleavedOperation(c.Run, backends[c.Threads].Synchronize, c.IdleBeforeMs)).ToList(),
                        new TimingOptions(options.BudgetMs, MinRuns: 3, WarmupMs: 10));
                    for (int i = 0; i < set.Count; i++)
                        set[i].RoundMedians.Add(timings[i].MedianMs);
                }
            }
            // Peaks again at the end; the higher of the two is the roof (the conservative choice for our percentages).
            foreach (int t in threadCounts)
                peak[t] = Math.Max(peak[t], FmaPeak.Measure(t).Gflops512);

            var report = new Report(options, threadCounts, peak, bandwidth, copyBandwidth, cases, fingerprints, profiles, loadBefore, MachineInfo.LoadAverage(), started, DateTime.UtcNow,
                BenchmarkBackends.Describe(backends[threadCounts[^1]]));
            string directory = options.OutputDirectory ?? Path.Combine(MachineInfo.RepositoryRoot(), "results");
            ResultFiles.WriteText(Path.Combine(directory, "kernels.md"), report.Markdown());
            ResultFiles.WriteText(Path.Combine(directory, "kernels.json"), report.Json());
            Console.WriteLine(report.Markdown());
            Console.Error.WriteLine($"wrote {Path.Combine(directory, "kernels.md")} and kernels.json");
            return 0;
        }
        finally
        {
            foreach (KernelCase c in cases)
                c.Dispose();
            foreach (BoftBackend b in backends.Values)
                b.Dispose();
        }
    }

    /// <summary>
    /// Cases with the same key (and thread count) are timed interleaved: the row-layout kernels and the tiled one on a shape
    /// (forward, or forward+backward), the float32, bf16 and fp16 rows of a shape, the Cayley map and Cayley + forward, and the
    /// frozen, unmerged and merged inference layers. Not the worker-pool rows: after a pooled sample the pool's workers spin
    /// for <see cref="SimdBackend.WorkerSpin"/>, and would share the cores with an interleaved Parallel.For sample.
    /// </summary>
    internal static string ComparisonKey(KernelCase c)
    {
        static string WithoutSuffix(string name) =>
            name.EndsWith(" fp32", StringComparison.Ordinal) || name.EndsWith(" bf16", StringComparison.Ordinal) || name.EndsWith(" fp16", StringComparison.Ordinal)
                ? name[..^5] : name;
        return c.Target switch
        {
            KernelCases.RotationTiled when c.Name.StartsWith(KernelCases.ForwardBackwardPrefix, StringComparison.Ordinal) =>
                "forward+backward " + c.Name[KernelCases.ForwardBackwardPrefix.Length..],
            KernelCases.RotationForwardBackward => "forward+backward " + c.Name,
            KernelCases.RotationForward or KernelCases.MemoryBound or KernelCases.RotationTiled => "forward " + c.Name,
            KernelCases.Dtype => "dtype " + WithoutSuffix(c.Name),
            KernelCases.Cayley or KernelCases.CayleyForward => "cayley " + c.Name,
            KernelCases.Inference => "inference " + c.Name[(c.Name.IndexOf(' ', StringComparison.Ordinal) + 1)..],
            _ => c.Target + " " + c.Name,
        };
    }

    /// <summary>The rows whose rotation forward is profiled pass by pass (d = 1024, 512 tokens, one thread).</summary>
    private static readonly (int M, int B)[] ProfiledRows = [(2, 8), (1, 32)];

    /// <summary>The profiled kernels: the tiled forward (the forward's kernel where no row kernel applies) and the backward.</summary>
    private const string ForwardProfile = "forward (tiled)", BackwardProfile = "backward (tiled: input gradient and block gradients)";

    private static string ProfileMarkdown(string kernel, int m, int b, List<PassTime> passes)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Rotation {kernel} BOFT({m},{b}), d = 1024, 512 tokens, 1 thread, per pass (median over the repetitions of the sum over all tiles; µs per call):");
        sb.AppendLine();
        sb.AppendLine("| pass | µs | share | work | instruction mix (from the kernel source) |");
        sb.AppendLine("|---|---:|---:|---|---|");
        foreach (PassTime p in passes)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {p.Pass} | {p.Microseconds:F1} | {p.Share:P0} | {p.Work} | {p.InstructionMix} |");
        return sb.ToString();
    }

    /// <summary>The working set the bandwidth probe uses for a case (rounded to 64 KiB, at least 256 KiB).</summary>
    private static long RoundWorkingSet(double bytes) => Math.Max(256L * 1024, (long)Math.Ceiling(bytes / 65536) * 65536);

    private static IEnumerable<KernelCase> BuildCases(BoftBackend backend, int threads, bool quick, string[]? only)
    {
        foreach (KernelCase c in AllCases(backend, threads, quick))
        {
            if (only is null || only.Contains(c.Target) || (c.Target == KernelCases.CayleyForward && only.Contains(KernelCases.Cayley)))
                yield return c;
            else
                c.Dispose();
        }
    }

    private static IEnumerable<KernelCase> AllCases(BoftBackend backend, int threads, bool quick)
    {
        // Compute-bound rotation rows: b ≥ 8, 512 tokens, d = 1024 (x and y: 4 MiB, in the 32 MiB L3) and d = 256 (1 MiB, L2-sized).
        (int M, int B, int D)[] compute = quick ? [(2, 8, 1024)] : [(2, 8, 1024), (4, 8, 1024), (2, 16, 1024), (1, 32, 1024), (2, 8, 256), (1, 32, 256)];
        foreach ((int m, int b, int d) in compute)
            yield return KernelCases.Rotation(backend, KernelCases.RotationForward, threads, m, b, d, 512);
        foreach ((int m, int b, int d) in quick ? compute : compute.Take(4))
            yield return KernelCases.RotationWithBackward(backend, threads, m, b, d, 512);
        // Memory-bound rows: small b in cache, and working sets beyond the last-level cache (d = 4096, 4096 tokens: 128 MiB).
        (int M, int B, int D, int T)[] memory = quick ? [(1, 2, 1024, 512)] : [(1, 2, 1024, 512), (1, 4, 1024, 512), (1, 2, 4096, 4096), (2, 8, 4096, 4096)];
        foreach ((int m, int b, int d, int t) in memory)
            yield return KernelCases.Rotation(backend, KernelCases.MemoryBound, threads, m, b, d, t);
        // The same forward rows on the tiled kernel, side by side with the row-layout kernels the backend picks (every row here has one).
        foreach ((int m, int b, int d, int t) in compute.Select(r => (r.M, r.B, r.D, 512)).Concat(memory))
            yield return KernelCases.Rotation(backend, KernelCases.RotationTiled, threads, m, b, d, t);
        foreach ((int m, int b, int d) in quick ? compute : compute.Take(4))
            yield return KernelCases.RotationWithBackward(backend, threads, m, b, d, 512, tiled: true);
        // bf16 and fp16 against float32 (issue 11's target shapes and the memory-bound OFT(2), OFT(4)), side by side in each round.
        if (!quick && backend.Supports(ElementType.BFloat16))
            foreach ((int m, int b) in new[] { (2, 8), (1, 16), (1, 4), (1, 2) })
                foreach (ElementType type in new[] { ElementType.Float32, ElementType.BFloat16, ElementType.Float16 })
                    yield return KernelCases.RotationInType(backend, threads, m, b, 4096, 2048, type);
        foreach (int d in quick ? new[] { 1024 } : [1024, 4096])
            foreach (string op in new[] { "forward", "backward_input", "backward_weight" })
                yield return KernelCases.Linear(backend, threads, op, d, d, 512);
        foreach (int b in quick ? new[] { 8 } : [2, 4, 8, 16, 32])
            foreach (bool exact in new[] { true, false })
            {
                yield return KernelCases.OftCayley(backend, threads, b, exact, 1024, 512, withRotation: false);
                yield return KernelCases.OftCayley(backend, threads, b, exact, 1024, 512, withRotation: true);
            }
        foreach (int tokens in quick ? new[] { 1 } : [1, 2, 4, 8])
            foreach (string variant in new[] { "frozen", "unmerged", "merged" })
                yield return KernelCases.Layer(backend, threads, variant, 2, 8, 4096, tokens);
        // The SIMD backend's worker pool against Parallel.For, back to back and after 1 ms of serial work (a pipeline's
        // pause between ops), on a small op (the Cayley map), a token-level one and a full-size one.
        if (threads > 1 && backend is SimdBackend)
        {
            Func<KernelCase>[] ops =
            [
                () => KernelCases.OftCayley(backend, threads, 16, exact: true, 1024, 512, withRotation: false),
                () => KernelCases.Rotation(backend, KernelCases.RotationForward, threads, 2, 8, 4096, 8),
                () => KernelCases.Rotation(backend, KernelCases.RotationForward, threads, 1, 32, 1024, 512),
            ];
            foreach (Func<KernelCase> op in quick ? ops.Take(1) : ops)
                foreach (double idleMs in new[] { 0.0, 1.0 })
                    foreach (bool parallelFor in new[] { false, true })
                        yield return KernelCases.ParallelLoopCase(op(), parallelFor, idleMs);
        }
    }

    /// <summary>The computed report (markdown and JSON from the same rows).</summary>
    private sealed class Report(KernelTargetsOptions options, int[] threadCounts, Dictionary<int, double> peak, Dictionary<(int Threads, long Bytes), double> bandwidth,
        Dictionary<(int Threads, long Bytes), double> copyBandwidth, List<KernelCase> cases, Dictionary<KernelCase, (ulong First, ulong Second)> fingerprints,
        List<(string Kernel, int M, int B, List<PassTime> Passes)> profiles, string loadBefore, string loadAfter, DateTime started, DateTime finished, string backendName)
    {
        private static readonly CultureInfo C = CultureInfo.InvariantCulture;

        private sealed record TargetRow(string Target, int Threads, string Case, string Measured, double Value, double Threshold, bool LowerIsBetter, string Note)
        {
            public bool Met => LowerIsBetter ? Value <= Threshold : Value >= Threshold;
        }

        private double Gflops(KernelCase c) => c.Flops / (c.MedianMs * 1e6);

        private double PeakShare(KernelCase c) => Gflops(c) / peak[c.Threads];

        private double Bandwidth(KernelCase c) => c.Target == KernelCases.MemoryBound && bandwidth.TryGetValue((c.Threads, RoundWorkingSet(c.WorkingSetBytes)), out double gbps)
            ? gbps : bandwidth[(c.Threads, MemoryBandwidth.DramWorkingSet)];

        private double Gbps(KernelCase c) => c.Bytes / (c.MedianMs * 1e6);

        private KernelCase? Find(string target, int threads, string name) => cases.FirstOrDefault(c => c.Target == target && c.Threads == threads && c.Name == name);

        private string Cell(KernelCase c) => $"{c.MedianMs.ToString("F3", C)} ms";

        private List<TargetRow> Targets()
        {
            var rows = new List<TargetRow>();
            foreach (KernelCase c in cases)
            {
                switch (c.Target)
                {
                    case KernelCases.RotationForward:
                        rows.Add(new("rotation forward ≥ 60% FMA peak", c.Threads, c.Name, $"{PeakShare(c):P0} ({Gflops(c):F1} GFLOP/s, {Cell(c)})", PeakShare(c), RotationTarget, false, ""));
                        break;
                    case KernelCases.RotationForwardBackward:
                        rows.Add(new("rotation fwd+bwd ≥ 50% FMA peak", c.Threads, c.Name, $"{PeakShare(c):P0} ({Gflops(c):F1} GFLOP/s, {Cell(c)})", PeakShare(c), ForwardBackwardTarget, false, ""));
                        break;
                    case KernelCases.MemoryBound:
                        double share = Gbps(c) / Bandwidth(c);
                        // The roof is the in-place stream; beside it the out-of-place copy, the best an op that reads x and
                        // writes y elsewhere can move (docs/04_Benchmarking.md §Streaming).
                        double copy = copyBandwidth.GetValueOrDefault((c.Threads, RoundWorkingSet(c.WorkingSetBytes)));
                        rows.Add(new("memory-bound row ≥ 80% bandwidth", c.Threads, c.Name, $"{share:P0} ({Gbps(c):F1} of {Bandwidth(c):F1} GB/s, {Cell(c)})", share, BandwidthTarget, false,
                            $"working set {c.WorkingSetBytes / 1048576:F1} MiB; out-of-place copy {copy:F1} GB/s, {Gbps(c) / copy:P0} of it"));
                        break;
                    case KernelCases.RotationTiled:
                        bool withBackward = c.Name.StartsWith(KernelCases.ForwardBackwardPrefix, StringComparison.Ordinal);
                        KernelCase? picked = withBackward
                            ? Find(KernelCases.RotationForwardBackward, c.Threads, c.Name[KernelCases.ForwardBackwardPrefix.Length..])
                            : Find(KernelCases.RotationForward, c.Threads, c.Name) ?? Find(KernelCases.MemoryBound, c.Threads, c.Name);
                        if (picked is not null)
                        {
                            double gain = c.MedianMs / picked.MedianMs;
                            rows.Add(new(withBackward ? "kernels picked vs tiled, fwd+bwd" : "row-layout forward faster than tiled", c.Threads, c.Name,
                                $"{gain:F2}× ({Cell(c)} tiled → {Cell(picked)})", gain, 1.0, false, ""));
                        }
                        break;
                    case KernelCases.Dtype when !c.Name.EndsWith(" fp32", StringComparison.Ordinal):
                        KernelCase? float32 = Find(KernelCases.Dtype, c.Threads, c.Name[..^5] + " fp32");
                        if (float32 is not null)
                        {
                            bool bf16 = c.Name.EndsWith(" bf16", StringComparison.Ordinal);
                            double speedup = float32.MedianMs / c.MedianMs;
                            rows.Add(new(bf16 ? "bf16 ≥ 1.6× float32 (issue 11)" : "fp16 faster than float32", c.Threads, c.Name, $"{speedup:F2}× ({Cell(float32)} → {Cell(c)})",
                                speedup, bf16 ? DtypeTarget : 1.0, false, $"{Gbps(c):F1} GB/s"));
                        }
                        break;
                    case KernelCases.Gemm:
                        rows.Add(new("frozen GEMM ≥ 75% FMA peak", c.Threads, c.Name, $"{PeakShare(c):P0} ({Gflops(c):F1} GFLOP/s, {Cell(c)})", PeakShare(c), GemmTarget, false, ""));
                        break;
                    case KernelCases.Cayley:
                        KernelCase? forward = Find(KernelCases.CayleyForward, c.Threads, c.Name);
                        if (forward is not null)
                        {
                            double cayleyShare = c.MedianMs / forward.MedianMs;
                            rows.Add(new("Cayley ≤ 5% of forward", c.Threads, c.Name, $"{cayleyShare:P1} ({Cell(c)} of {Cell(forward)})", cayleyShare, CayleyShareTarget, true, ""));
                        }
                        break;
                    case KernelCases.ParallelLoop when !c.Name.EndsWith(KernelCases.OnParallelFor, StringComparison.Ordinal):
                        KernelCase? parallelFor = Find(KernelCases.ParallelLoop, c.Threads, c.Name + KernelCases.OnParallelFor);
                        if (parallelFor is not null)
                        {
                            double poolSpeedup = parallelFor.MedianMs / c.MedianMs;
                            rows.Add(new("worker pool vs Parallel.For", c.Threads, c.Name, $"{poolSpeedup:F2}× ({Cell(parallelFor)} on Parallel.For → {Cell(c)})",
                                poolSpeedup, 1.0, false, ""));
                        }
                        break;
                    case KernelCases.Inference when c.Name.StartsWith("unmerged", StringComparison.Ordinal):
                        KernelCase? frozen = Find(KernelCases.Inference, c.Threads, "frozen" + c.Name["unmerged".Length..]);
                        KernelCase? merged = Find(KernelCases.Inference, c.Threads, "merged" + c.Name["unmerged".Length..]);
                        if (frozen is not null)
                        {
                            double overhead = c.MedianMs / frozen.MedianMs - 1;
                            string mergedNote = merged is null ? "" : $"merged {merged.MedianMs / frozen.MedianMs - 1:+0.0%;-0.0%}";
                            rows.Add(new("unmerged adds ≤ 10% to frozen", c.Threads, c.Name["unmerged ".Length..], $"{overhead:+0.0%;-0.0%} ({Cell(c)} vs {Cell(frozen)})", overhead,
                                InferenceOverheadTarget, true, mergedNote));
                        }
                        break;
                }
            }
            if (threadCounts.Length > 1 && threadCounts[0] == 1)
            {
                int many = threadCounts[^1];
                foreach (KernelCase one in cases.Where(c => c.Threads == 1 && (c.Target is KernelCases.RotationForward or KernelCases.RotationForwardBackward or KernelCases.Gemm)))
                {
                    KernelCase? all = Find(one.Target, many, one.Name);
                    if (all is null)
                        continue;
                    double speedup = one.MedianMs / all.MedianMs;
                    rows.Add(new($"{many} threads ≥ 1.8× 1 thread", many, $"{one.Target}: {one.Name}", $"{speedup:F2}× ({Cell(one)} → {Cell(all)})", speedup, ScalingTarget, false, ""));
                }
            }
            return rows;
        }

        private (int RunToRun, int AcrossThreads, int Total, List<string> Failures) Determinism()
        {
            int runToRun = 0, across = 0;
            var failures = new List<string>();
            foreach (KernelCase c in cases)
            {
                (ulong first, ulong second) = fingerprints[c];
                if (first == second)
                    runToRun++;
                else
                    failures.Add($"{c.Target} {c.Name} threads {c.Threads}: run to run");
                KernelCase? one = Find(c.Target, threadCounts[0], c.Name);
                if (one is null || fingerprints[one].First == first)
                    across++;
                else
                    failures.Add($"{c.Target} {c.Name}: {threadCounts[0]} vs {c.Threads} threads");
            }
            return (runToRun, across, cases.Count, failures);
        }

        public string Markdown()
        {
            var sb = new StringBuilder();
            sb.AppendLine("# CPU kernels against the machine's limits");
            sb.AppendLine();
            sb.AppendLine(C, $"Machine: {MachineInfo.Cpu()}; backend {backendName}. Command: `{options.Command}`.");
            sb.AppendLine(C, $"Run {started:yyyy-MM-dd HH:mm} to {finished:HH:mm} UTC; load average before {loadBefore}, after {loadAfter} (a shared, noisy machine).");
            sb.AppendLine(C, $"Protocol: {(options.Quick ? 1 : options.Rounds)} rounds over all cases, each case timed for {options.BudgetMs:F0} ms per round (median), on every thread count back to back; the cases a ratio target compares (row vs tiled kernel, bf16/fp16 vs float32, Cayley vs Cayley + forward, unmerged/merged vs frozen) interleaved sample by sample, each sample after an untimed run of its own case; a case's time is the median of its round medians.");
            sb.AppendLine(C, $"FMA peak (fp32, best of the start and end measurements): {string.Join(", ", threadCounts.Select(t => $"{t} thread{(t == 1 ? "" : "s")} {peak[t]:F1} GFLOP/s"))}. " +
                $"DRAM bandwidth (256 MiB read+write stream): {string.Join(", ", threadCounts.Select(t => $"{t} thread{(t == 1 ? "" : "s")} {bandwidth[(t, MemoryBandwidth.DramWorkingSet)]:F1} GB/s"))}.");
            sb.AppendLine();
            sb.AppendLine("| target | threads | case | measured | met |");
            sb.AppendLine("|---|---:|---|---|:---:|");
            foreach (TargetRow row in Targets())
                sb.AppendLine(C, $"| {row.Target} | {row.Threads} | {row.Case} | {row.Measured}{(row.Note.Length > 0 ? $"; {row.Note}" : "")} | {(row.Met ? "yes" : "**no**")} |");
            (int runToRun, int across, int total, List<string> failures) = Determinism();
            sb.AppendLine();
            sb.AppendLine(C, $"Bitwise determinism: {runToRun}/{total} cases identical run to run, {across}/{total} identical between {threadCounts[0]} and more threads{(failures.Count == 0 ? "." : ": " + string.Join("; ", failures))}");
            sb.AppendLine();
            foreach ((string kernel, int m, int b, List<PassTime> passes) in profiles)
                sb.AppendLine(ProfileMarkdown(kernel, m, b, passes));
            sb.AppendLine("All cases (median of round medians; round medians in kernels.json):");
            sb.AppendLine();
            sb.AppendLine("| group | case | threads | ms | GFLOP/s | % FMA peak | GB/s |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|---:|");
            foreach (KernelCase c in cases)
                sb.AppendLine(C, $"| {c.Target} | {c.Name} | {c.Threads} | {c.MedianMs:F3} | {Gflops(c):F1} | {PeakShare(c):P0} | {Gbps(c):F1} |");
            return sb.ToString();
        }

        public string Json()
        {
            (int runToRun, int across, int total, List<string> failures) = Determinism();
            var root = new Dictionary<string, object?>
            {
                ["machine"] = MachineInfo.Cpu(),
                ["backend"] = backendName,
                ["command"] = options.Command,
                ["started_utc"] = started.ToString("o", C),
                ["finished_utc"] = finished.ToString("o", C),
                ["load_before"] = loadBefore,
                ["load_after"] = loadAfter,
                ["rounds"] = options.Quick ? 1 : options.Rounds,
                ["budget_ms"] = options.BudgetMs,
                ["fma_peak_gflops"] = threadCounts.ToDictionary(t => t.ToString(C), t => Math.Round(peak[t], 2)),
                ["bandwidth_gbps"] = bandwidth.Select(kv => new Dictionary<string, object> { ["threads"] = kv.Key.Threads, ["working_set_bytes"] = kv.Key.Bytes, ["gbps"] = Math.Round(kv.Value, 2) }).ToList(),
                ["copy_bandwidth_gbps"] = copyBandwidth.Select(kv => new Dictionary<string, object> { ["threads"] = kv.Key.Threads, ["working_set_bytes"] = kv.Key.Bytes, ["gbps"] = Math.Round(kv.Value, 2) }).ToList(),
                ["targets"] = Targets().Select(r => new Dictionary<string, object>
                {
                    ["target"] = r.Target, ["threads"] = r.Threads, ["case"] = r.Case, ["value"] = Math.Round(r.Value, 4), ["threshold"] = r.Threshold,
                    ["lower_is_better"] = r.LowerIsBetter, ["met"] = r.Met, ["measured"] = r.Measured, ["note"] = r.Note,
                }).ToList(),
                ["rotation_profile"] = profiles.Select(p => new Dictionary<string, object>
                {
                    ["kernel"] = p.Kernel, ["case"] = $"BOFT({p.M},{p.B}) d=1024 T=512", ["threads"] = 1,
                    ["passes"] = p.Passes.Select(x => new Dictionary<string, object> { ["pass"] = x.Pass, ["us"] = Math.Round(x.Microseconds, 2), ["share"] = Math.Round(x.Share, 4), ["work"] = x.Work, ["instruction_mix"] = x.InstructionMix }).ToList(),
                }).ToList(),
                ["determinism"] = new Dictionary<string, object> { ["run_to_run"] = runToRun, ["across_threads"] = across, ["cases"] = total, ["failures"] = failures },
                ["cases"] = cases.Select(c => new Dictionary<string, object>
                {
                    ["group"] = c.Target, ["case"] = c.Name, ["threads"] = c.Threads, ["median_ms"] = Math.Round(c.MedianMs, 5),
                    ["round_medians_ms"] = c.RoundMedians.Select(v => Math.Round(v, 5)).ToList(), ["flops"] = c.Flops, ["bytes"] = c.Bytes,
                    ["gflops"] = Math.Round(Gflops(c), 2), ["fma_peak_share"] = Math.Round(PeakShare(c), 4), ["gbps"] = Math.Round(Gbps(c), 2),
                    ["fingerprint"] = fingerprints[c].First.ToString("x16", C),
                }).ToList(),
            };
            return JsonSerializer.Serialize(root, new JsonSerializerOptions { WriteIndented = true }) + "\n";
        }
    }
}
