// GPU check runner, used by scripts/gpu-check.sh:
//   GpuCheck tests  --out DIR [--category Cuda] [--where-xml '<filter>...</filter>']
//       runs the NUnit fixtures of Boft.Tests in-process (NUnit's framework runner), prints one line per test, writes
//       DIR/tests.xml and DIR/tests-summary.txt; exit code 1 when a test failed.
//   GpuCheck timing --out DIR [--device cuda|cpu] [--quick]
//       validates each kernel against the reference at a small size, then times it at the listed sizes with the shared
//       harness (Boft.Experiments.TimingHarness: 2 warm-ups, median of 10 samples, each ending in Accelerator.Synchronize
//       inside the timed region) and writes DIR/kernel-timings.csv and .md with
//       GB/s and GFLOP/s from the byte and FLOP models of docs/03_Kernels.
// Needs only the .NET runtime, not the SDK: gpu-check.sh --bundle packs this program's build output with a runtime.

using System.Diagnostics;
using System.Globalization;
using System.Text;
using Boft;
using Boft.Experiments;
using Boft.Kernels.Ilgpu;
using Boft.Reference;
using ILGPU;
using ILGPU.Runtime;
using NUnit;
using NUnit.Framework.Api;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;

namespace Boft.GpuCheck;

internal static class Program
{
    private static int Main(string[] args)
    {
        string mode = args.Length > 0 ? args[0] : "";
        string outDirectory = Option(args, "--out") ?? "results/gpu-check";
        Directory.CreateDirectory(outDirectory);
        return mode switch
        {
            "tests" => RunTests(outDirectory, Option(args, "--category"), Option(args, "--where-xml")),
            "timing" => Timing.Run(outDirectory, Option(args, "--device") ?? "cuda", args.Contains("--quick")),
            _ => Usage(),
        };
    }

    private static int Usage()
    {
        Console.Error.WriteLine("usage: GpuCheck tests --out DIR [--category NAME] [--where-xml XML] | GpuCheck timing --out DIR [--device cuda|cpu] [--quick]");
        return 2;
    }

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static int RunTests(string outDirectory, string? category, string? whereXml)
    {
        var runner = new NUnitTestAssemblyRunner(new DefaultTestAssemblyBuilder());
        var settings = new Dictionary<string, object>
        {
            [FrameworkPackageSettings.TestParametersDictionary] = new Dictionary<string, string>(),
            [FrameworkPackageSettings.NumberOfTestWorkers] = 0,
        };
        runner.Load(typeof(Boft.Tests.Ilgpu.IlgpuKernelTestBase).Assembly, settings);
        string filterXml = whereXml ?? (category is null ? "<filter/>" : $"<filter><cat>{System.Security.SecurityElement.Escape(category)}</cat></filter>");
        var listener = new ConsoleListener();
        var stopwatch = Stopwatch.StartNew();
        ITestResult result = runner.Run(listener, TestFilter.FromXml(filterXml));
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"filter {filterXml}: {result.PassCount} passed, {result.FailCount} failed, {result.SkipCount} skipped, {result.InconclusiveCount} inconclusive, {result.WarningCount} warnings in {stopwatch.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine(summary);
        File.WriteAllText(Path.Combine(outDirectory, "tests-summary.txt"), summary + Environment.NewLine + listener.Failures);
        File.WriteAllText(Path.Combine(outDirectory, "tests.xml"), result.ToXml(true).OuterXml);
        Console.WriteLine($"PASSED={result.PassCount} FAILED={result.FailCount} SKIPPED={result.SkipCount}");
        return result.FailCount > 0 ? 1 : 0;
    }

    /// <summary>Prints one line per finished test case and collects the failures.</summary>
    private sealed class ConsoleListener : ITestListener
    {
        private readonly StringBuilder failures = new();

        public string Failures => failures.ToString();

        public void TestStarted(ITest test)
        {
        }

        public void TestFinished(ITestResult result)
        {
            if (result.Test.IsSuite && result.ResultState.Status != TestStatus.Failed)
                return;
            string line = string.Create(CultureInfo.InvariantCulture, $"{result.ResultState.Status,-12} {result.Duration,7:F2}s {result.FullName}");
            Console.WriteLine(line);
            if (result.ResultState.Status == TestStatus.Failed)
                failures.AppendLine(line).AppendLine(result.Message).AppendLine();
        }

        public void TestOutput(TestOutput output) => Console.Write(output.Text);

        public void SendMessage(TestMessage message)
        {
        }
    }
}

/// <summary>Validated kernel timings.</summary>
internal static class Timing
{
    private sealed record Scenario(string Name, int FeatureCount, int FactorCount, int BlockSize, int Rows);

    public static int Run(string outDirectory, string device, bool quick)
    {
        using IlgpuBackend backend = device == "cpu" ? IlgpuBackend.CreateCpuSimulator(32) : IlgpuBackend.CreateCuda();
        BoftKernels kernels = backend.Kernels;
        Accelerator accelerator = backend.Accelerator;
        Scenario[] scenarios = quick
            ? [new("oft_d64_b32", 64, 1, 32, 64), new("boft_d64_b4_m3", 64, 3, 4, 64), new("boft_d64_b2_m6_dense", 64, 6, 2, 16)]
            :
            [
                new("oft_d4096_b32", 4096, 1, 32, 16384),
                new("boft_d4096_b8_m2", 4096, 2, 8, 16384),
                new("boft_d4096_b4_m4", 4096, 4, 4, 16384),
                new("boft_d4096_b32_m2", 4096, 2, 32, 16384),
                new("boft_d4096_b16_m4", 4096, 4, 16, 16384),
                new("boft_d4096_b2_m12_dense", 4096, 12, 2, 4096),
                new("boft_d8192_b32_m2_T65536", 8192, 2, 32, 65536),
                new("boft_d8192_b4_m12_dense", 8192, 12, 4, 2048),
                new("oft_d3072_b96", 3072, 1, 96, 8192),
            ];
        var csv = new StringBuilder("scenario,op,d,m,b,rows,ms,GB_per_s,GFLOP_per_s,max_abs_error\n");
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Kernel timings on {accelerator.Name} ({accelerator.AcceleratorType}, {accelerator.NumMultiprocessors} multiprocessors)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"GEMM: {kernels.GemmImplementation}. Median of 10 synchronized samples after 2 warm-ups (TimingHarness); error = max |kernel − double reference| at 8 rows, checked before timing.");
        md.AppendLine();
        md.AppendLine("| scenario | op | d | m | b | rows | ms | GB/s | GFLOP/s | max abs error |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        int status = 0;
        foreach (Scenario s in scenarios)
        {
            try
            {
                foreach (string line in RunScenario(kernels, accelerator, s))
                {
                    csv.AppendLine(line);
                    string[] f = line.Split(',');
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {f[0]} | {f[1]} | {f[2]} | {f[3]} | {f[4]} | {f[5]} | {f[6]} | {f[7]} | {f[8]} | {f[9]} |");
                    Console.WriteLine(line);
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                status = 1;
                Console.WriteLine($"{s.Name}: FAILED {e.GetType().Name}: {e.Message}");
                md.AppendLine(CultureInfo.InvariantCulture, $"| {s.Name} | FAILED | | | | | | | | {e.GetType().Name}: {e.Message.Replace('|', '/')} |");
            }
        }
        File.WriteAllText(Path.Combine(outDirectory, "kernel-timings.csv"), csv.ToString());
        File.WriteAllText(Path.Combine(outDirectory, "kernel-timings.md"), md.ToString());
        return status;
    }

    private static IEnumerable<string> RunScenario(BoftKernels kernels, Accelerator accelerator, Scenario s)
    {
        int d = s.FeatureCount, m = s.FactorCount, b = s.BlockSize, rows = s.Rows;
        var shape = new RotationShape(d, m, d / b, b, new ButterflyPermutations(d, m, b));
        var cayley = new CayleyShape(m * (d / b), b, SkewKind.HalfDifference, null, shared: false);
        uint state = 12345;
        float[] Random(long n, double scale)
        {
            // xorshift32: fast enough for the 2^29-element inputs of the largest scenario.
            var values = new float[n];
            for (long i = 0; i < n; i++)
            {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                values[i] = (float)((state * (1.0 / uint.MaxValue) * 2 - 1) * scale);
            }
            return values;
        }
        using var raw = accelerator.Allocate1D(Random(cayley.ParametersLength, 0.2));
        using var blocks = accelerator.Allocate1D<float>(cayley.BlocksLength);
        using var gradBlocks = accelerator.Allocate1D<float>(cayley.BlocksLength);
        using var gradRaw = accelerator.Allocate1D<float>(cayley.ParametersLength);
        using var x = accelerator.Allocate1D(Random((long)rows * d, 1));
        using var u = accelerator.Allocate1D<float>((long)rows * d);
        using var g = accelerator.Allocate1D(Random((long)rows * d, 1));
        using var gx = accelerator.Allocate1D<float>((long)rows * d);
        using var weight = accelerator.Allocate1D(Random((long)d * d, 0.02));
        using var merged = accelerator.Allocate1D<float>((long)d * d);
        using var h = accelerator.Allocate1D<float>((long)rows * d);
        kernels.CayleyForward(cayley, raw.View, default, blocks.View);

        // Validation at 8 rows against the double reference.
        const int check = 8;
        double rotateError = Error(kernels, accelerator, shape, blocks.View, x.View.SubView(0, check * d), g.View.SubView(0, check * d), raw.View,
            out double backwardError, out double cayleyError);

        double bytesRow = 4.0 * rows * d;
        double flopRotate = 2.0 * m * rows * d * b;
        yield return Line(s, "CayleyForward", Time(accelerator, () => kernels.CayleyForward(cayley, raw.View, default, blocks.View)),
            4.0 * 2 * cayley.BlocksLength, 2.0 * cayley.BlockCount * b * b * b, cayleyError);
        yield return Line(s, "CayleyBackward", Time(accelerator, () => kernels.CayleyBackward(cayley, raw.View, blocks.View, blocks.View, default, gradRaw.View)),
            4.0 * 4 * cayley.BlocksLength, 4.0 * cayley.BlockCount * b * b * b, double.NaN);
        yield return Line(s, "Rotate", Time(accelerator, () => kernels.Rotate(shape, x.View, blocks.View, false, u.View)), 2 * bytesRow, flopRotate, rotateError);
        yield return Line(s, "RotateBackward", Time(accelerator, () => kernels.RotateBackward(shape, x.View, blocks.View, g.View, gx.View, gradBlocks.View)),
            3 * bytesRow, flopRotate * (3 - 1.0 / m), backwardError);
        yield return Line(s, "Merge", Time(accelerator, () => kernels.Merge(shape, weight.View, blocks.View, default, merged.View)),
            2.0 * 4 * d * d, 2.0 * m * d * d * b, double.NaN);
        yield return Line(s, "Linear(d->d)", Time(accelerator, () => kernels.Linear(u.View, weight.View, d, d, h.View)),
            4.0 * (2.0 * rows * d + (double)d * d), 2.0 * rows * d * d, double.NaN);
    }

    private static double Error(BoftKernels kernels, Accelerator accelerator, RotationShape shape, ArrayView<float> blocks, ArrayView<float> x, ArrayView<float> g,
        ArrayView<float> raw, out double backwardError, out double cayleyError)
    {
        double[] hostBlocks = Host(accelerator, blocks);
        double[] hostRaw = Host(accelerator, raw);
        var skew = new double[hostRaw.Length];
        SkewReference.HalfDifference(hostRaw, shape.BlockSize, skew);
        var expectedBlocks = new double[skew.Length];
        CayleyReference.Forward(skew, shape.BlockSize, expectedBlocks);
        cayleyError = MaxDiff(hostBlocks, expectedBlocks);
        using var output = accelerator.Allocate1D<float>(x.Length);
        using var gradInput = accelerator.Allocate1D<float>(x.Length);
        using var gradBlocks = accelerator.Allocate1D<float>(blocks.Length);
        kernels.Rotate(shape, x, blocks, false, output.View);
        kernels.RotateBackward(shape, x, blocks, g, gradInput.View, gradBlocks.View);
        double[] hx = Host(accelerator, x), hg = Host(accelerator, g);
        var expected = new double[hx.Length];
        RotationReference.Forward(shape, hx, hostBlocks, false, expected);
        var expectedInput = new double[hx.Length];
        var expectedGradBlocks = new double[hostBlocks.Length];
        RotationReference.Backward(shape, hx, hostBlocks, hg, expectedInput, expectedGradBlocks);
        backwardError = Math.Max(MaxDiff(Host(accelerator, gradInput.View), expectedInput), MaxDiff(Host(accelerator, gradBlocks.View), expectedGradBlocks));
        return MaxDiff(Host(accelerator, output.View), expected);
    }

    private static double[] Host(Accelerator accelerator, ArrayView<float> view)
    {
        accelerator.Synchronize();
        var values = new float[view.Length];
        view.CopyToCPU(values);
        return Array.ConvertAll(values, v => (double)v);
    }

    private static double MaxDiff(double[] a, double[] b)
    {
        double max = 0;
        for (int i = 0; i < a.Length; i++)
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }

    private static double Time(Accelerator accelerator, Action action) =>
        TimingHarness.Time(action, accelerator.Synchronize, new TimingOptions(BudgetMs: 0, MinRuns: 10, MaxRuns: 10, WarmupMs: 0)).MedianMs;

    private static string Line(Scenario s, string op, double ms, double bytes, double flops, double error) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{s.Name},{op},{s.FeatureCount},{s.FactorCount},{s.BlockSize},{s.Rows},{ms:F4},{bytes / ms / 1e6:G4},{flops / ms / 1e6:G4},{(double.IsNaN(error) ? "" : error.ToString("E2", CultureInfo.InvariantCulture))}");
}
