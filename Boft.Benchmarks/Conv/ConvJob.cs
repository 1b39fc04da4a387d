// The `conv` command: convolution rows of the benchmark (docs/04_Benchmarking.md, "Convolutions"). For a UNet-like 3x3 conv
// (320 → 320 channels, 32x32, batch 1) and a ResNet-like 3x3 conv (64 → 64, 56x56, batch 1), all on one backend in one
// run: the frozen convolution's own cost (forward, input gradient, weight gradient) against the adapter's extra cost
// (Cayley, building W' = diag(s)·W0·Rᵀ by Merge, and the adapter backward: Rotate(W0ᵀ) + RowScaleBackward + RotateBackward
// + CayleyBackward), for BOFT(m=2, b=8) and OFT b=16 at nearly equal budgets (7d vs 7.5d skew degrees of freedom).
// Medians of repeated runs (time budget per op), GFLOP/s of the conv ops and their fraction of the measured FMA peak.
//   dotnet run -c Release --project Boft.Benchmarks -- conv [--backend NAME] [--threads N] [--budget-ms MS] [--out DIR]

using System.Diagnostics;
using System.Globalization;
using System.Text;
using Boft.Backends;
using Boft.Experiments;

namespace Boft.Benchmarks.Conv;

/// <summary>The convolution benchmark rows.</summary>
public static class ConvJob
{
    private sealed record Row(string Workload, string Method, string Op, double MedianMs, int Runs, double Gflops);

    /// <summary>Runs the command.</summary>
    /// <param name="args">Options after <c>conv</c>.</param>
    /// <returns>The exit code.</returns>
    public static int Run(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        string backendName = BenchmarkBackends.Default, outDir = Path.Combine("results", "conv");
        int threads = -1;
        double budgetMs = 400;
        for (int i = 0; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--backend": backendName = value; break;
                case "--threads": threads = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--budget-ms": budgetMs = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--out": outDir = value; break;
                default: throw new ArgumentException($"Unknown option '{args[i]}' for conv; known: --backend, --threads, --budget-ms, --out.");
            }
            i++;
        }
        using BoftBackend backend = BenchmarkBackends.Create(backendName, threads);
        int peakThreads = threads > 0 ? threads : Environment.ProcessorCount;
        double peak = FmaPeak.Measure(peakThreads).Gflops512;
        Console.Error.WriteLine($"conv on {BenchmarkBackends.Describe(backend)}, {MachineInfo.Cpu()}, FMA peak {peak:F1} GFLOP/s ({peakThreads} threads), budget {budgetMs} ms per op");
        var workloads = new (string Name, Conv2dShape Shape)[]
        {
            ("UNet-like 320ch 32x32", Conv2dShape.Square(320, 320, 3, 32, 32, padding: 1)),
            ("ResNet-like 64ch 56x56", Conv2dShape.Square(64, 64, 3, 56, 56, padding: 1)),
        };
        var rows = new List<Row>();
        foreach ((string name, Conv2dShape shape) in workloads)
            rows.AddRange(Measure(backend, name, shape, budgetMs));
        string table = Table(rows, BenchmarkBackends.Describe(backend), peak, peakThreads);
        Console.WriteLine(table);
        ResultFiles.WriteText(Path.Combine(outDir, "conv.md"), table);
        Console.Error.WriteLine($"wrote {outDir}/conv.md");
        return 0;
    }

    private static IEnumerable<Row> Measure(BoftBackend backend, string name, Conv2dShape shape, double budgetMs)
    {
        const int batch = 1;
        int n = shape.OutChannels, d = shape.FilterDimension;
        var random = new Random(1);
        float[] Values(int length, double scale = 1) => Enumerable.Range(0, length).Select(_ => (float)((2 * random.NextDouble() - 1) * scale)).ToArray();
        using Tensor x = backend.Upload(Values(batch * shape.InputImageLength), shape.InputDimensions(batch));
        using Tensor w = backend.Upload(Values(n * d, 0.05), n, d);
        using Tensor bias = backend.Upload(Values(n), n);
        using Tensor y = backend.Allocate(shape.OutputDimensions(batch));
        using Tensor gy = backend.Upload(Values(batch * shape.OutputImageLength), shape.OutputDimensions(batch));
        using Tensor gx = backend.Allocate(shape.InputDimensions(batch));
        using Tensor gw = backend.Allocate(n, d);
        double flops = 2.0 * shape.MultiplyAdds(batch);
        var rows = new List<Row>
        {
            Time(backend, name, "frozen conv", "forward (conv2d + bias)", flops, budgetMs, () => backend.Conv2d(shape, x, w, bias, y)),
            Time(backend, name, "frozen conv", "input gradient", flops, budgetMs, () => backend.Conv2dBackwardInput(shape, gy, w, gx)),
            Time(backend, name, "frozen conv", "weight + bias gradient", flops, budgetMs, () => backend.Conv2dBackwardWeight(shape, gy, x, gw, null)),
        };
        foreach ((string method, RotationShape rotation, CayleyShape cayley, bool scaled) in Adapters(d))
        {
            using Tensor parameters = backend.Upload(Values(cayley.ParametersLength, 0.05), cayley.ParametersLength);
            using Tensor blocks = backend.Allocate(cayley.BlocksLength);
            using Tensor gradBlocks = backend.Allocate(cayley.BlocksLength);
            using Tensor gradParameters = backend.Allocate(cayley.ParametersLength);
            using Tensor scale = backend.Upload(Enumerable.Repeat(1f, n).ToArray(), 1, n);
            using Tensor gradScale = backend.Allocate(1, n);
            using Tensor adapted = backend.Allocate(n, d);
            using Tensor rotated = backend.Allocate(n, d);
            using Tensor scaledGrad = backend.Allocate(n, d);
            backend.CayleyForward(cayley, parameters, null, blocks);
            double cayleyMs = 0, mergeMs = 0, backwardMs = 0;
            Row cay = Time(backend, name, method, "Cayley (raw → blocks)", 0, budgetMs, () => backend.CayleyForward(cayley, parameters, null, blocks));
            Row merge = Time(backend, name, method, "build W' (Merge)", 0, budgetMs, () => backend.Merge(rotation, w, blocks, scaled ? scale : null, adapted));
            Row back = Time(backend, name, method, "adapter backward (W' → blocks → raw)", 0, budgetMs, () =>
            {
                Tensor rowsGrad = gw;
                if (scaled)
                {
                    backend.Rotate(rotation, w, blocks, transpose: true, rotated);
                    backend.RowScaleBackward(rotated, scale, gw, scaledGrad, gradScale);
                    rowsGrad = scaledGrad;
                }
                backend.RotateBackward(rotation, rowsGrad, blocks, w, rotated, gradBlocks);
                backend.CayleyBackward(cayley, parameters, blocks, gradBlocks, null, gradParameters);
            });
            (cayleyMs, mergeMs, backwardMs) = (cay.MedianMs, merge.MedianMs, back.MedianMs);
            rows.Add(cay);
            rows.Add(merge);
            rows.Add(back);
            rows.Add(new Row(name, method, "adapter total (forward + backward)", cayleyMs + mergeMs + backwardMs, 0, 0));
        }
        return rows;
    }

    private static IEnumerable<(string Method, RotationShape Rotation, CayleyShape Cayley, bool Scaled)> Adapters(int d)
    {
        BoftShape boft = new BoftConfig(d, BlockSize: 8, FactorCount: 2).Resolve();
        OftShape oft = new OftConfig(d, BlockSize: 16, Orthogonalization: Orthogonalization.ExactCayley).Resolve();
        yield return ($"BOFT(m=2, b=8): {boft.EffectiveParameterCount:N0} skew dof", boft.Rotation, boft.Cayley, true);
        yield return ($"OFT b=16: {oft.StoredParameterCount:N0} skew dof", oft.Rotation, oft.Cayley, false);
    }

    private static Row Time(BoftBackend backend, string workload, string method, string op, double flops, double budgetMs, Action action)
    {
        // The shared validate-then-time harness: it synchronizes the backend inside every timed sample.
        Timing t = TimingHarness.Time(backend, action, new TimingOptions(budgetMs, MinRuns: 3, MaxRuns: 200, WarmupMs: 0));
        return new Row(workload, method, op, t.MedianMs, t.Runs, flops > 0 ? flops / (t.MedianMs / 1e3) / 1e9 : 0);
    }

    private static string Table(List<Row> rows, string backend, double peak, int peakThreads)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# Convolutions: adapter cost vs the frozen convolution ({backend})");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Batch 1, 3x3 kernels, padding 1, float32. Medians; FMA peak {peak:F1} GFLOP/s on {peakThreads} threads. {MachineInfo.Cpu()}; load {MachineInfo.LoadAverage()}.");
        foreach (IGrouping<string, Row> workload in rows.GroupBy(r => r.Workload))
        {
            double convForward = workload.First(r => r.Op.StartsWith("forward", StringComparison.Ordinal)).MedianMs;
            double convTotal = workload.Where(r => r.Method == "frozen conv").Sum(r => r.MedianMs);
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"## {workload.Key}");
            sb.AppendLine();
            sb.AppendLine("| method | op | median (ms) | runs | GFLOP/s | of FMA peak | vs conv forward | vs conv fwd+bwd |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
            foreach (Row r in workload)
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"| {r.Method} | {r.Op} | {r.MedianMs:F3} | {(r.Runs > 0 ? r.Runs.ToString(CultureInfo.InvariantCulture) : "—")} | {(r.Gflops > 0 ? r.Gflops.ToString("F1", CultureInfo.InvariantCulture) : "")} | " +
                    $"{(r.Gflops > 0 ? (100 * r.Gflops / peak).ToString("F0", CultureInfo.InvariantCulture) + " %" : "")} | {r.MedianMs / convForward:F3} | {r.MedianMs / convTotal:F3} |");
        }
        return sb.ToString();
    }
}
