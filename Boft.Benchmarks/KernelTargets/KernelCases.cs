// The measured cases of the kernels job (KernelTargetsJob.cs): each case owns its tensors (allocated once), one timed
// action, its algorithmic FLOPs and compulsory bytes, and a fingerprint of its outputs (for the run-to-run and
// thread-count determinism check). FLOP and byte conventions: docs/04_Benchmarking.md §FLOPs and bytes.

using Boft.Backends;
using Boft.Kernels.Simd;

namespace Boft.Benchmarks.KernelTargets;

/// <summary>One timed kernel case.</summary>
internal sealed class KernelCase : IDisposable
{
    private readonly List<Tensor> tensors = [];
    private readonly List<Tensor> outputs = [];

    public KernelCase(string target, string name, int threads)
    {
        Target = target;
        Name = name;
        Threads = threads;
    }

    /// <summary>The target group (e.g. <c>rotation_forward</c>).</summary>
    public string Target { get; }

    /// <summary>The case, e.g. <c>BOFT(2,8) d=1024 T=512</c>.</summary>
    public string Name { get; }

    public int Threads { get; }

    public Action Run { get; set; } = () => { };

    /// <summary>Algorithmic FLOPs (2 per multiply-add).</summary>
    public double Flops { get; set; }

    /// <summary>Compulsory bytes (each tensor read or written once).</summary>
    public double Bytes { get; set; }

    /// <summary>Bytes the case touches per run (its working set; decides which bandwidth roof applies).</summary>
    public double WorkingSetBytes { get; set; }

    /// <summary>Untimed serial work on the calling thread before every sample (TimingOptions.IdleBeforeSampleMs).</summary>
    public double IdleBeforeMs { get; set; }

    /// <summary>The per-round medians in milliseconds.</summary>
    public List<double> RoundMedians { get; } = [];

    public double MedianMs => Median(RoundMedians);

    public Tensor Add(Tensor tensor, bool output = false)
    {
        tensors.Add(tensor);
        if (output)
            outputs.Add(tensor);
        return tensor;
    }

    /// <summary>Takes over the tensors of <paramref name="other"/> (which then owns none), so this case disposes them.</summary>
    public void Adopt(KernelCase other)
    {
        tensors.AddRange(other.tensors);
        outputs.AddRange(other.outputs);
        other.tensors.Clear();
        other.outputs.Clear();
    }

    /// <summary>A 64-bit fingerprint of every output's bits (FNV-1a).</summary>
    public ulong Fingerprint()
    {
        ulong hash = 14695981039346656037UL;
        foreach (Tensor t in outputs)
            foreach (float v in t.ToArray())
            {
                hash ^= BitConverter.SingleToUInt32Bits(v);
                hash *= 1099511628211UL;
            }
        return hash;
    }

    public void Dispose()
    {
        foreach (Tensor t in tensors)
            t.Dispose();
    }

    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            return double.NaN;
        double[] sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    }
}

/// <summary>Builders of the cases.</summary>
internal static class KernelCases
{
    public const string RotationForward = "rotation_forward";
    public const string RotationForwardBackward = "rotation_forward_backward";
    public const string MemoryBound = "memory_bound";
    public const string RotationTiled = "rotation_tiled";
    public const string Dtype = "dtype";
    public const string Gemm = "frozen_gemm";
    public const string Cayley = "cayley";
    public const string CayleyForward = "cayley_forward";
    public const string Inference = "inference";
    public const string ParallelLoop = "parallel_loop";

    /// <summary>Name suffix of the <see cref="ParallelLoop"/> rows timed on Parallel.For instead of the worker pool.</summary>
    public const string OnParallelFor = " on Parallel.For";

    private static float[] Random(Random random, long count, float scale)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++)
            values[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        return values;
    }

    /// <summary><paramref name="run"/> with the SIMD backend's tiled rotation kernels forced (the comparison rows); other
    /// backends have one kernel, so <paramref name="run"/> itself.</summary>
    private static Action OnTiledKernels(BoftBackend backend, Action run) => backend is not SimdBackend simd ? run : () =>
    {
        simd.ForwardRotationKernel = SimdRotationKernel.Tiled;
        try
        {
            run();
        }
        finally
        {
            simd.ForwardRotationKernel = SimdRotationKernel.Auto;
        }
    };

    /// <summary><paramref name="run"/> with the SIMD backends' parallel ops on Parallel.For instead of their worker pool.</summary>
    private static Action OnParallelForLoops(Action run) => () =>
    {
        SimdBackend.UseWorkerPool = false;
        try
        {
            run();
        }
        finally
        {
            SimdBackend.UseWorkerPool = true;
        }
    };

    /// <summary>
    /// An op of <paramref name="basis"/> re-labelled as a <see cref="ParallelLoop"/> row: on the worker pool, or on
    /// Parallel.For (<paramref name="parallelFor"/>), timed back to back or after <paramref name="idleBeforeMs"/> of serial
    /// work. Its FLOPs and bytes are the basis case's.
    /// </summary>
    public static KernelCase ParallelLoopCase(KernelCase basis, bool parallelFor, double idleBeforeMs)
    {
        string when = idleBeforeMs > 0 ? $", {idleBeforeMs.ToString(System.Globalization.CultureInfo.InvariantCulture)} ms idle before" : ", back to back";
        var c = new KernelCase(ParallelLoop, $"{basis.Target}: {basis.Name}{when}{(parallelFor ? OnParallelFor : "")}", basis.Threads)
        {
            Run = parallelFor ? OnParallelForLoops(basis.Run) : basis.Run,
            Flops = basis.Flops,
            Bytes = basis.Bytes,
            WorkingSetBytes = basis.WorkingSetBytes,
            IdleBeforeMs = idleBeforeMs,
        };
        c.Adopt(basis);
        return c;
    }

    /// <summary>Blocks of a BOFT(m, b) (or OFT) shape from the Cayley map of small random parameters (orthogonal blocks).</summary>
    private static Tensor Blocks(BoftBackend backend, KernelCase c, CayleyShape cayley, Random random)
    {
        using Tensor parameters = backend.Upload(Random(random, cayley.ParametersLength, 0.1f), cayley.ParameterBlockCount, cayley.ParameterBlockLength);
        Tensor blocks = c.Add(backend.Allocate(cayley.BlockCount, cayley.BlockSize, cayley.BlockSize));
        backend.CayleyForward(cayley, parameters, null, blocks);
        return blocks;
    }

    /// <summary><c>y = x·R</c> (rotation only, blocks precomputed): 2·m·T·d·b FLOPs; x read and y written once.
    /// <paramref name="target"/> <see cref="RotationTiled"/> forces the SIMD backend's tiled kernel (the comparison row).</summary>
    public static KernelCase Rotation(BoftBackend backend, string target, int threads, int m, int b, int d, int tokens)
    {
        var random = new Random(1);
        BoftShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve();
        var c = new KernelCase(target, $"BOFT({m},{b}) d={d} T={tokens}", threads);
        Tensor blocks = Blocks(backend, c, shape.Cayley, random);
        Tensor x = c.Add(backend.Upload(Random(random, (long)tokens * d, 1f), tokens, d));
        Tensor y = c.Add(backend.Allocate(tokens, d), output: true);
        RotationShape rotation = shape.Rotation;
        c.Run = () => backend.Rotate(rotation, x, blocks, false, y);
        if (target == RotationTiled)
            c.Run = OnTiledKernels(backend, c.Run);
        c.Flops = 2.0 * m * tokens * d * b;
        c.Bytes = 4.0 * (2.0 * tokens * d + shape.Cayley.BlocksLength);
        c.WorkingSetBytes = c.Bytes;
        return c;
    }

    /// <summary><c>y = x·R</c> with x and y in <paramref name="type"/> (docs/09_Mixed-precision.md): the same FLOPs in every type,
    /// 2 bytes per element read and written in bf16/fp16 instead of 4. Names end with the type (fp32, bf16, fp16).</summary>
    public static KernelCase RotationInType(BoftBackend backend, int threads, int m, int b, int d, int tokens, ElementType type)
    {
        var random = new Random(6);
        BoftShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve();
        string method = m == 1 ? $"OFT({b})" : $"BOFT({m},{b})";
        string dtype = type switch { ElementType.BFloat16 => "bf16", ElementType.Float16 => "fp16", _ => "fp32" };
        var c = new KernelCase(Dtype, $"{method} d={d} T={tokens} {dtype}", threads);
        Tensor blocks = Blocks(backend, c, shape.Cayley, random);
        Tensor x = c.Add(backend.Upload(Random(random, (long)tokens * d, 1f), type, tokens, d));
        Tensor y = c.Add(backend.Allocate(type, tokens, d), output: true);
        RotationShape rotation = shape.Rotation;
        c.Run = () => backend.Rotate(rotation, x, blocks, false, y);
        c.Flops = 2.0 * m * tokens * d * b;
        c.Bytes = 2.0 * type.SizeInBytes() * tokens * d + 4.0 * shape.Cayley.BlocksLength;
        c.WorkingSetBytes = c.Bytes;
        return c;
    }

    /// <summary>Prefix of the tiled-kernel copies of the forward+backward rows in <see cref="RotationTiled"/>.</summary>
    public const string ForwardBackwardPrefix = "fwd+bwd ";

    /// <summary>Rotation forward then backward (input and block gradients): 6·m·T·d·b useful FLOPs (the backward's
    /// recompute of the forward is not counted). <paramref name="tiled"/> forces the SIMD backend's tiled kernels (a
    /// <see cref="RotationTiled"/> row named with <see cref="ForwardBackwardPrefix"/>).</summary>
    public static KernelCase RotationWithBackward(BoftBackend backend, int threads, int m, int b, int d, int tokens, bool tiled = false)
    {
        var random = new Random(2);
        BoftShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve();
        var c = new KernelCase(tiled ? RotationTiled : RotationForwardBackward, $"{(tiled ? ForwardBackwardPrefix : "")}BOFT({m},{b}) d={d} T={tokens}", threads);
        Tensor blocks = Blocks(backend, c, shape.Cayley, random);
        Tensor x = c.Add(backend.Upload(Random(random, (long)tokens * d, 1f), tokens, d));
        Tensor y = c.Add(backend.Allocate(tokens, d), output: true);
        Tensor gy = c.Add(backend.Upload(Random(random, (long)tokens * d, 1f), tokens, d));
        Tensor gx = c.Add(backend.Allocate(tokens, d), output: true);
        Tensor gBlocks = c.Add(backend.Allocate(shape.Cayley.BlockCount, b, b), output: true);
        RotationShape rotation = shape.Rotation;
        c.Run = () =>
        {
            backend.Rotate(rotation, x, blocks, false, y);
            backend.RotateBackward(rotation, x, blocks, gy, gx, gBlocks);
        };
        if (tiled)
            c.Run = OnTiledKernels(backend, c.Run);
        c.Flops = 6.0 * m * tokens * d * b;
        double rows = 4.0 * tokens * d, blockBytes = 4.0 * shape.Cayley.BlocksLength;
        c.Bytes = 2 * rows + blockBytes + 3 * rows + blockBytes + blockBytes; // forward x→y; backward reads x, gy, writes gx, gBlocks
        c.WorkingSetBytes = 4 * rows + 2 * blockBytes;
        return c;
    }

    /// <summary>The frozen GEMM <c>C[M×N] = A[M×K]·B</c> in one of the three linear ops.</summary>
    /// <param name="op">"forward" (y = x·Wᵀ: M = T, K = d, N = n), "backward_input" (g_x = g_y·W: M = T, K = n, N = d),
    /// "backward_weight" (g_W += g_yᵀ·x: M = n, K = T, N = d).</param>
    public static KernelCase Linear(BoftBackend backend, int threads, string op, int d, int n, int tokens)
    {
        var random = new Random(3);
        var c = new KernelCase(Gemm, $"{op} d={d} n={n} T={tokens}", threads);
        Tensor weight = c.Add(backend.Upload(Random(random, (long)n * d, 0.05f), n, d));
        Tensor x = c.Add(backend.Upload(Random(random, (long)tokens * d, 1f), tokens, d));
        Tensor gy = c.Add(backend.Upload(Random(random, (long)tokens * n, 1f), tokens, n));
        switch (op)
        {
            case "forward":
                Tensor y = c.Add(backend.Allocate(tokens, n), output: true);
                c.Run = () => backend.Linear(x, weight, y);
                break;
            case "backward_input":
                Tensor gx = c.Add(backend.Allocate(tokens, d), output: true);
                c.Run = () => backend.LinearBackwardInput(gy, weight, gx);
                break;
            case "backward_weight":
                Tensor gw = c.Add(backend.Allocate(n, d), output: true);
                c.Run = () =>
                {
                    backend.Fill(gw, 0); // accumulating op: start from zero each run so the fingerprint is stable (≈1% of the time at 512 tokens)
                    backend.LinearBackwardWeight(gy, x, gw);
                };
                break;
            default:
                throw new ArgumentException($"Unknown linear op '{op}'.", nameof(op));
        }
        c.Flops = 2.0 * tokens * d * n;
        c.Bytes = 4.0 * ((double)n * d + (double)tokens * d + (double)tokens * n) + (op == "backward_weight" ? 4.0 * n * d : 0);
        c.WorkingSetBytes = c.Bytes;
        return c;
    }

    /// <summary>The OFT(b) Cayley map alone, or Cayley + rotation ("forward" of the adapter) at <paramref name="tokens"/>.</summary>
    public static KernelCase OftCayley(BoftBackend backend, int threads, int b, bool exact, int d, int tokens, bool withRotation)
    {
        var random = new Random(4);
        OftShape shape = new OftConfig(d, BlockSize: b, Orthogonalization: exact ? Orthogonalization.ExactCayley : Orthogonalization.CayleyNeumann).Resolve();
        string map = exact ? "exact" : "neumann";
        var c = new KernelCase(withRotation ? CayleyForward : Cayley, $"OFT({b}) {map} d={d} T={tokens}", threads);
        CayleyShape cayley = shape.Cayley;
        Tensor parameters = c.Add(backend.Upload(Random(random, cayley.ParametersLength, 0.1f), cayley.ParameterBlockCount, cayley.ParameterBlockLength));
        Tensor blocks = c.Add(backend.Allocate(cayley.BlockCount, b, b), output: true);
        Tensor x = c.Add(backend.Upload(Random(random, (long)tokens * d, 1f), tokens, d));
        Tensor y = c.Add(backend.Allocate(tokens, d), output: withRotation);
        RotationShape rotation = shape.Rotation;
        c.Run = withRotation
            ? () =>
            {
                backend.CayleyForward(cayley, parameters, null, blocks);
                backend.Rotate(rotation, x, blocks, false, y);
            }
            : () => backend.CayleyForward(cayley, parameters, null, blocks);
        c.Flops = 2.0 * cayley.BlockCount * b * b * b + (withRotation ? 2.0 * tokens * d * b : 0);
        c.Bytes = 4.0 * (cayley.ParametersLength + cayley.BlocksLength) + (withRotation ? 8.0 * tokens * d : 0);
        c.WorkingSetBytes = c.Bytes;
        return c;
    }

    /// <summary>Token-by-token inference on a d→n layer: "frozen" = x·W0ᵀ + bias; "unmerged" = ((x·R)·W0ᵀ)⊙s + bias with
    /// the adapter's blocks precomputed (as at inference); "merged" = x·W'ᵀ ⊙ s + bias with W' = W0·Rᵀ merged once.</summary>
    public static KernelCase Layer(BoftBackend backend, int threads, string variant, int m, int b, int d, int tokens)
    {
        var random = new Random(5);
        BoftShape shape = new BoftConfig(d, BlockSize: b, FactorCount: m).Resolve();
        var c = new KernelCase(Inference, $"{variant} BOFT({m},{b}) d=n={d} T={tokens}", threads);
        Tensor weight = c.Add(backend.Upload(Random(random, (long)d * d, 0.05f), d, d));
        Tensor scale = c.Add(backend.Upload(Random(random, d, 1f), d));
        Tensor bias = c.Add(backend.Upload(Random(random, d, 1f), d));
        Tensor x = c.Add(backend.Upload(Random(random, (long)tokens * d, 1f), tokens, d));
        Tensor rotated = c.Add(backend.Allocate(tokens, d));
        Tensor linear = c.Add(backend.Allocate(tokens, d));
        Tensor y = c.Add(backend.Allocate(tokens, d), output: true);
        Tensor blocks = Blocks(backend, c, shape.Cayley, random);
        RotationShape rotation = shape.Rotation;
        switch (variant)
        {
            case "frozen":
                c.Run = () =>
                {
                    backend.Linear(x, weight, linear);
                    backend.ScaleBias(linear, null, bias, y);
                };
                break;
            case "unmerged":
                c.Run = () =>
                {
                    backend.Rotate(rotation, x, blocks, false, rotated);
                    backend.Linear(rotated, weight, linear);
                    backend.ScaleBias(linear, scale, bias, y);
                };
                break;
            case "merged":
                Tensor merged = c.Add(backend.Allocate(d, d));
                backend.Merge(rotation, weight, blocks, scale, merged);
                c.Run = () =>
                {
                    backend.Linear(x, merged, linear);
                    backend.ScaleBias(linear, null, bias, y);
                };
                break;
            default:
                throw new ArgumentException($"Unknown layer variant '{variant}'.", nameof(variant));
        }
        c.Flops = 2.0 * tokens * d * d + (variant == "unmerged" ? 2.0 * m * tokens * d * b : 0);
        c.Bytes = 4.0 * ((double)d * d + 2.0 * tokens * d);
        c.WorkingSetBytes = c.Bytes;
        return c;
    }
}
