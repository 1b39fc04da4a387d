// BenchmarkDotNet suite for the main job's question: BOFT(m, b) against its paired OFT, per pass, on every backend this
// machine can run ([ParamsSource] over BenchmarkBackends.Available: the SIMD backend, CUDA when present). Categories
// Forward, Backward and ForwardBackward, OFT the baseline in each (so BDN's Ratio column is BOFT/OFT). Every configuration
// is validated against the double-precision reference in GlobalSetup before anything is timed, and every benchmark method
// ends with backend.Synchronize(), so an asynchronous backend is timed to the end of its work (the harness's rule 2,
// Boft.Experiments/Timing/TimingHarness.cs; BDN does the repetition). Pairings as in the main job (docs/04_Benchmarking.md):
// equal parameter budget (OFT b′ ≈ 1 + m(b − 1)) and equal block size (OFT b = BOFT b).

using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Boft.Backends;
using Boft.Experiments.Analysis;

namespace Boft.Benchmarks.Suites;

/// <summary>BOFT vs OFT adapter passes (x → x·R, Cayley included) on every available backend; OFT is the baseline per category.</summary>
[Config(typeof(BenchConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class BoftVsOftBench : IDisposable
{
    private BoftBackend? backend;
    private Workload? boft, oft;

    /// <summary>The backends to run on: the names of BoftBackends this machine can create (simd; cuda when present).</summary>
    public static IEnumerable<string> Backends => BenchmarkBackends.Available();

    /// <summary>Backend name.</summary>
    [ParamsSource(nameof(Backends))]
    public string Backend { get; set; } = "simd";

    /// <summary>d.</summary>
    [Params(1024)]
    public int FeatureCount { get; set; }

    /// <summary>T.</summary>
    [Params(64, 512)]
    public int Tokens { get; set; }

    /// <summary>"m,b,oftB": the BOFT shape and its paired OFT block size.</summary>
    [Params("2,8,16", "2,8,8", "4,4,16", "4,4,4")]
    public string Pairing { get; set; } = "2,8,16";

    /// <summary>Allocates, validates both methods against the reference, and runs one forward.</summary>
    [GlobalSetup]
    public void Setup()
    {
        int[] p = Pairing.Split(',').Select(int.Parse).ToArray();
        backend = BenchmarkBackends.Create(Backend);
        MethodConfig b = MethodConfig.Boft(p[0], p[1]), o = MethodConfig.Oft(p[2]);
        Workload.Validate(backend, b, FeatureCount);
        Workload.Validate(backend, o, FeatureCount);
        boft = new Workload(backend, b, FeatureCount, Tokens);
        oft = new Workload(backend, o, FeatureCount, Tokens);
        boft.RunForward();
        oft.RunForward();
        backend.Synchronize();
    }

    /// <summary>OFT forward (baseline).</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("Forward")]
    public void Oft_Forward() => Synchronized(oft!.RunForward);

    /// <summary>BOFT forward.</summary>
    [Benchmark, BenchmarkCategory("Forward")]
    public void Boft_Forward() => Synchronized(boft!.RunForward);

    /// <summary>OFT backward (baseline): rotation backward + Cayley backward.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("Backward")]
    public void Oft_Backward() => Synchronized(oft!.RunBackward);

    /// <summary>BOFT backward.</summary>
    [Benchmark, BenchmarkCategory("Backward")]
    public void Boft_Backward() => Synchronized(boft!.RunBackward);

    /// <summary>OFT forward + backward (baseline).</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("ForwardBackward")]
    public void Oft_ForwardBackward() => Synchronized(oft!.RunForwardBackward);

    /// <summary>BOFT forward + backward.</summary>
    [Benchmark, BenchmarkCategory("ForwardBackward")]
    public void Boft_ForwardBackward() => Synchronized(boft!.RunForwardBackward);

    private void Synchronized(Action operation)
    {
        operation();
        backend!.Synchronize();
    }

    /// <summary>Frees the tensors and the backend.</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        boft?.Dispose();
        oft?.Dispose();
        backend?.Dispose();
        boft = oft = null;
        backend = null;
        GC.SuppressFinalize(this);
    }
}
