// Full-layer cost (docs/04_Benchmarking.md §Full-layer cost): the real BoftLinear / OftLinear forward and forward+backward
// (Cayley + rotation + frozen GEMM + scale/bias, and the backward to the rotation parameters, the scale and the input),
// next to the plain frozen layer (Linear, W0 frozen) and the merged layer (the adapter merged into W0, one GEMM). Every
// layer is validated against the same layer on the double-precision ReferenceBackend (4 tokens: output, ∂x and the
// rotation gradient) before anything is timed, and every sample synchronizes the backend (TimingHarness).
// Memory: the model of LayerMath.Memory, and the bytes the layer, its Adam state and one forward+backward actually
// allocated (measured with GC.GetTotalAllocatedBytes; the SIMD and reference backends keep tensors in managed arrays).

using Boft.Backends;
using Boft.Experiments;
using Boft.Experiments.Analysis;
using Boft.Layers;
using Boft.Training;

namespace Boft.Benchmarks.Main;

/// <summary>One timed layer row.</summary>
internal sealed record LayerRow(string Kind, MethodConfig? Config, int D, int N, int Tokens, LayerOp Op, Timing Timing, double Flops, double Bytes,
    string Level, double RooflineFraction, double? PairedFrozenMs, double BandwidthGBs, ElementType Dtype = ElementType.Float32)
{
    /// <summary>Compulsory bytes moved per second (GB/s).</summary>
    public double Gbps => Bytes / (Timing.MedianMs / 1e3) / 1e9;

    /// <summary><see cref="Gbps"/> as a share of the measured streaming bandwidth for this row's working set (cache or DRAM).</summary>
    public double BandwidthFraction => Gbps / BandwidthGBs;

    /// <summary>Overhead over the frozen layer timed right before this row (percent), or null for frozen rows.</summary>
    public double? OverheadPercent => PairedFrozenMs is double f ? LayerMath.OverheadPercent(Timing.MedianMs, f) : null;

    public double Gflops => Flops / (Timing.MedianMs / 1e3) / 1e9;

    public double MicrosecondsPerToken => 1e3 * Timing.MedianMs / Tokens;

    public string Label => Config?.ToString() ?? Kind;
}

/// <summary>Measured allocation of one adapted layer at T tokens, next to the model.</summary>
internal sealed record MemoryRow(MethodConfig Config, int D, int N, int Tokens, LayerMemory Model, long MeasuredBytes, long ModelTotalBytes);

internal static class LayerCost
{
    public static IEnumerable<MethodConfig> Valid(IEnumerable<MethodConfig> configs, int d) => configs.Where(c => c.IsValidFor(d));

    /// <summary>Frozen, merged and adapted rows for every token count.</summary>
    /// <summary>Frozen, merged and adapted rows for every token count and activation type (the types of one token count back to
    /// back, so a 16-bit row and its float32 row are measured side by side). Memory rows: float32 only.</summary>
    public static (List<LayerRow> Rows, List<MemoryRow> Memory) Measure(BoftBackend backend, IReadOnlyList<MethodConfig> configs, int d, int[] tokenCounts,
        TimingOptions timing, MachineLimits limits, JobProgress progress, IReadOnlyList<ElementType>? dtypes = null)
    {
        int n = d;
        var random = new Random(3);
        float[] weight = Values(random, n * d, 1 / Math.Sqrt(d)), bias = Values(random, n, 0.1);
        var rows = new List<LayerRow>();
        var memory = new List<MemoryRow>();
        dtypes ??= [ElementType.Float32];
        foreach (ElementType type in dtypes)
            foreach (MethodConfig config in configs)
                Validate(backend, config, d, n, weight, bias, type);
        foreach (int tokens in tokenCounts)
        {
            float[] xs = Values(random, tokens * d, 1), gs = Values(random, tokens * n, 1);
            foreach (ElementType type in dtypes)
                MeasureOne(backend, configs, d, n, tokens, type, xs, gs, weight, bias, timing, limits, progress, rows, memory);
        }
        return (rows, memory);
    }

    private static void MeasureOne(BoftBackend backend, IReadOnlyList<MethodConfig> configs, int d, int n, int tokens, ElementType type, float[] xs, float[] gs,
        float[] weight, float[] bias, TimingOptions timing, MachineLimits limits, JobProgress progress, List<LayerRow> rows, List<MemoryRow> memory)
    {
        {
            string dt = type == ElementType.Float32 ? "" : $" {Cli.DtypeOption.Name(type)}";
            using Tensor x = backend.Upload(xs, type, tokens, d);
            using Tensor g = backend.Upload(gs, type, tokens, n);
            using Tensor y = backend.Allocate(type, tokens, n);
            using Tensor gx = backend.Allocate(type, tokens, d);
            // The frozen layer is timed right before each configuration (paired measurement: the overhead of a row is against
            // the frozen time taken seconds earlier, which cancels most of the drift of a shared machine); its reported row is
            // the median of those paired medians.
            using var frozen = new Linear(backend, d, n, weight, bias, trainable: false, activationType: type);
            var frozenForward = new List<Timing>();
            var frozenTraining = new List<Timing>();
            progress.Step($"d={d} T={tokens}{dt} frozen layer");
            foreach (MethodConfig config in configs)
            {
                progress.Step($"d={d} T={tokens}{dt} {config}");
                Timing pairedForward = TimingHarness.Time(backend, () => frozen.Forward(x, y), timing);
                Timing pairedTraining = TimingHarness.Time(backend, () =>
                {
                    frozen.Forward(x, y);
                    frozen.Backward(g, gx);
                }, timing);
                frozenForward.Add(pairedForward);
                frozenTraining.Add(pairedTraining);
                long before = GC.GetTotalAllocatedBytes(precise: true);
                using AdapterLinear layer = Create(backend, config, d, n, weight, bias, type);
                using var adam = new Adam(layer.TrainableParameters, new AdamSettings(1e-3));
                layer.Forward(x, y);
                layer.Backward(g, gx);
                backend.Synchronize();
                long measured = GC.GetTotalAllocatedBytes(precise: true) - before;
                LayerMemory model = LayerMath.Memory(config, d, n);
                long modelTotal = 4L * n * d + 4L * n + model.TrainableBytes * 2 /* values + gradients */ + model.OptimizerStateBytes
                                  + (model.SavedActivationBytesPerToken - 4L * d + model.WorkspaceBytesPerToken) * tokens + model.WorkspaceBytesFixed;
                if (type == ElementType.Float32)
                    memory.Add(new MemoryRow(config, d, n, tokens, model, measured, modelTotal));
                rows.Add(Row("adapted", config, d, n, tokens, LayerOp.AdaptedForward, TimingHarness.Time(backend, () => layer.Forward(x, y), timing), limits, pairedForward, type));
                rows.Add(Row("adapted", config, d, n, tokens, LayerOp.AdaptedForwardBackward, TimingHarness.Time(backend, () =>
                {
                    layer.Forward(x, y);
                    layer.Backward(g, gx);
                }, timing), limits, pairedTraining, type));
                layer.Merge();
                rows.Add(Row("merged", config, d, n, tokens, LayerOp.MergedForward, TimingHarness.Time(backend, () => layer.Forward(x, y), timing), limits, pairedForward, type));
            }
            if (frozenForward.Count == 0)
            {
                frozenForward.Add(TimingHarness.Time(backend, () => frozen.Forward(x, y), timing));
                frozenTraining.Add(TimingHarness.Time(backend, () =>
                {
                    frozen.Forward(x, y);
                    frozen.Backward(g, gx);
                }, timing));
            }
            rows.Insert(rows.Count - 3 * configs.Count, Row("frozen", null, d, n, tokens, LayerOp.FrozenForward, MedianOf(frozenForward), limits, null, type));
            rows.Insert(rows.Count - 3 * configs.Count, Row("frozen", null, d, n, tokens, LayerOp.FrozenForwardBackward, MedianOf(frozenTraining), limits, null, type));
        }
    }

    private static LayerRow Row(string kind, MethodConfig? config, int d, int n, int tokens, LayerOp op, Timing timing, MachineLimits limits, Timing? frozen, ElementType type)
    {
        MethodConfig math = config ?? MethodConfig.Oft(d);
        double flops = LayerMath.Flops(op, math, tokens, d, n), bytes = LayerMath.Bytes(op, math, tokens, d, n, type.SizeInBytes());
        return new LayerRow(kind, config, d, n, tokens, op, timing, flops, bytes, limits.Level(bytes), limits.Fraction(flops, bytes, timing.MedianMs / 1e3), frozen?.MedianMs,
            limits.BandwidthFor(bytes), type);
    }

    private static Timing MedianOf(List<Timing> timings)
    {
        var sorted = timings.OrderBy(t => t.MedianMs).ToList();
        int n = sorted.Count;
        double median = n % 2 == 1 ? sorted[n / 2].MedianMs : 0.5 * (sorted[n / 2 - 1].MedianMs + sorted[n / 2].MedianMs);
        return new Timing(median, sorted.Min(t => t.MinMs), sorted.Sum(t => t.Runs));
    }

    private static AdapterLinear Create(BoftBackend backend, MethodConfig config, int d, int n, float[] weight, float[] bias, ElementType type = ElementType.Float32)
    {
        var start = new AdapterInitialization(Identity: false, Seed: 5);
        return config.IsBoft
            ? new BoftLinear(backend, config.BoftConfig(d), n, weight, bias, start, activationType: type)
            : new OftLinear(backend, config.OftConfig(d), n, weight, bias, start, activationType: type);
    }

    /// <summary>The layer on the backend against the same layer on the reference backend, 4 tokens: y, ∂x, ∂rotation and the merged y.
    /// float32: 1e-3 of the largest magnitude (see Check). A 16-bit type: the reference emulates the contract's roundings, but an
    /// intermediate (x R, its product with W0) may land one ulp apart at a rounding boundary and pass that on, so 4 ulps of the
    /// type (4·2^-8 bf16, 4·2^-11 fp16) of the largest magnitude; the merged y is held against the reference's merged y.</summary>
    private static void Validate(BoftBackend backend, MethodConfig config, int d, int n, float[] weight, float[] bias, ElementType type = ElementType.Float32)
    {
        const int tokens = 4;
        var random = new Random(11);
        float[] xs = Values(random, tokens * d, 1), gs = Values(random, tokens * n, 1);
        using var reference = new ReferenceBackend();
        (float[] Y, float[] Gx, float[] Gr, float[] Merged) Run(BoftBackend b)
        {
            using AdapterLinear layer = Create(b, config, d, n, weight, bias, type);
            using Tensor x = b.Upload(xs, type, tokens, d), g = b.Upload(gs, type, tokens, n), y = b.Allocate(type, tokens, n), gx = b.Allocate(type, tokens, d);
            layer.Forward(x, y);
            layer.Backward(g, gx);
            float[] forward = y.ToArray(), gradInput = gx.ToArray(), gradRotation = layer.Rotations.RequiredGradient.ToArray();
            layer.Merge();
            layer.Forward(x, y);
            return (forward, gradInput, gradRotation, y.ToArray());
        }
        var ours = Run(backend);
        var exact = Run(reference);
        double tolerance = type switch { ElementType.BFloat16 => 4 * Math.Pow(2, -8), ElementType.Float16 => 4 * Math.Pow(2, -11), _ => 1e-3 };
        string what = type == ElementType.Float32 ? "" : $" ({Cli.DtypeOption.Name(type)})";
        Check(ours.Y, exact.Y, "y" + what, config, d, tolerance);
        Check(ours.Gx, exact.Gx, "∂x" + what, config, d, tolerance);
        Check(ours.Gr, exact.Gr, "∂rotation" + what, config, d, tolerance);
        Check(ours.Merged, type == ElementType.Float32 ? exact.Y : exact.Merged, "merged y" + what, config, d, tolerance);
    }

    /// <summary>float32 against the double reference, 1e-3 of the largest magnitude (a d-term GEMM in float32 rounds to ~1e-5
    /// relative; a wrong index, factor order or transpose gives O(1) errors).</summary>
    private static void Check(float[] actual, float[] expected, string what, MethodConfig config, int d, double tolerance = 1e-3)
    {
        double scale = 1e-30, worst = 0;
        foreach (float e in expected)
            scale = Math.Max(scale, Math.Abs(e));
        for (int i = 0; i < actual.Length; i++)
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        if (!(worst <= tolerance * scale))
            throw new InvalidOperationException($"Validation failed for the {config} layer at d={d}: {what} differs from the reference backend by {worst:E2} (scale {scale:E2}).");
    }

    private static float[] Values(Random random, int length, double scale)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
            values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return values;
    }
}
