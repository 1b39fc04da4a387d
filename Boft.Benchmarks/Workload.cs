// One adapter workload (BOFT(m, b) or OFT(b) on d features and T tokens) with everything a timing needs allocated once,
// its FLOP and byte counts, and a validation against the double-precision reference that runs before anything is timed.
// "forward" = Cayley map + rotation from the raw parameters (what the PyTorch peer times); "forward_backward" adds the
// rotation backward and the Cayley backward. The frozen GEMM is not part of the adapter and not timed here.

using Boft.Backends;
using Boft.Experiments;
using Boft.Experiments.Analysis;
using Boft.Reference;

namespace Boft.Benchmarks;

/// <summary>The timed operations of the main job (JSON key <c>op</c>).</summary>
internal static class Ops
{
    public const string Cayley = "cayley";
    public const string Forward = "forward";
    public const string ForwardBackward = "forward_backward";
    public const string Rotation = "rotation";

    public static readonly string[] Table = [Cayley, Forward, ForwardBackward];
}

/// <summary>Allocated tensors for one configuration, and the timed operations.</summary>
internal sealed class Workload : IDisposable
{
    private readonly BoftBackend backend;
    private readonly Tensor parameters, blocks, input, output, gradOutput, gradInput, gradBlocks, gradParameters;

    public Workload(BoftBackend backend, MethodConfig config, int d, int tokens, int seed = 1, ElementType activationType = ElementType.Float32)
    {
        this.backend = backend;
        Config = config;
        FeatureCount = d;
        Tokens = tokens;
        ActivationType = activationType;
        (Cayley, Rotation) = config.Shapes(d);
        var random = new Random(seed);
        parameters = backend.Upload(RandomValues(random, Cayley.ParametersLength, 0.1f), Cayley.ParameterBlockCount, Cayley.ParameterBlockLength);
        blocks = backend.Allocate(Cayley.BlockCount, Cayley.BlockSize, Cayley.BlockSize);
        // Activations in the workload's type (docs/09_Mixed-precision.md); parameters, blocks and their gradients float32.
        input = backend.Upload(RandomValues(random, tokens * d, 1f), activationType, tokens, d);
        output = backend.Allocate(activationType, tokens, d);
        gradOutput = backend.Upload(RandomValues(random, tokens * d, 1f), activationType, tokens, d);
        gradInput = backend.Allocate(activationType, tokens, d);
        gradBlocks = backend.Allocate(Cayley.BlockCount, Cayley.BlockSize, Cayley.BlockSize);
        gradParameters = backend.Allocate(Cayley.ParameterBlockCount, Cayley.ParameterBlockLength);
    }

    public MethodConfig Config { get; }

    /// <summary>The element type of x, x·R and their gradients.</summary>
    public ElementType ActivationType { get; }

    public int FeatureCount { get; }

    public int Tokens { get; }

    public CayleyShape Cayley { get; }

    public RotationShape Rotation { get; }

    public Action Operation(string op) => op switch
    {
        Ops.Cayley => RunCayley,
        Ops.Forward => RunForward,
        Ops.ForwardBackward => RunForwardBackward,
        Ops.Rotation => RunRotation,
        _ => throw new ArgumentException($"Unknown op '{op}'.", nameof(op)),
    };

    public void RunCayley() => backend.CayleyForward(Cayley, parameters, null, blocks);

    public void RunRotation() => backend.Rotate(Rotation, input, blocks, false, output);

    public void RunForward()
    {
        backend.CayleyForward(Cayley, parameters, null, blocks);
        backend.Rotate(Rotation, input, blocks, false, output);
    }

    public void RunForwardBackward()
    {
        RunForward();
        RunBackward();
    }

    public void RunBackward()
    {
        backend.RotateBackward(Rotation, input, blocks, gradOutput, gradInput, gradBlocks);
        backend.CayleyBackward(Cayley, parameters, blocks, gradBlocks, null, gradParameters);
    }

    /// <summary>Algorithmic FLOPs (2 per multiply-add; docs/04_Benchmarking.md §FLOPs and bytes).</summary>
    public double Flops(string op)
    {
        double b = Cayley.BlockSize, blockCount = Cayley.ParameterBlockCount;
        double cayley = blockCount * 2 * b * b * b;          // one b×b inversion (Gauss–Jordan): b³ multiply-adds
        double cayleyBackward = blockCount * 4 * b * b * b;  // two b×b products
        double rotation = 2.0 * Rotation.FactorCount * Tokens * FeatureCount * Rotation.BlockSize;
        return op switch
        {
            Ops.Cayley => cayley,
            Ops.Rotation => rotation,
            Ops.Forward => cayley + rotation,
            Ops.ForwardBackward => cayley + rotation + 2 * rotation + cayleyBackward, // backward: gradInput + gradBlocks
            _ => 0,
        };
    }

    /// <summary>Compulsory bytes moved (each tensor read or written once; activations in their type, the rest float32).</summary>
    public double Bytes(string op)
    {
        double rows = (double)ActivationType.SizeInBytes() * Tokens * FeatureCount;
        double parameterBytes = 4.0 * Cayley.ParametersLength, blockBytes = 4.0 * Cayley.BlocksLength;
        return op switch
        {
            Ops.Cayley => parameterBytes + blockBytes,
            Ops.Rotation => 2 * rows + blockBytes,
            Ops.Forward => parameterBytes + 2 * blockBytes + 2 * rows,
            // forward, then x, gradOutput, blocks read, gradInput and gradBlocks written, then the Cayley backward
            Ops.ForwardBackward => parameterBytes + 2 * blockBytes + 2 * rows + 3 * rows + 2 * blockBytes + 2 * blockBytes + 2 * parameterBytes,
            _ => 0,
        };
    }

    public void Dispose()
    {
        foreach (Tensor t in new[] { parameters, blocks, input, output, gradOutput, gradInput, gradBlocks, gradParameters })
            t.Dispose();
    }

    /// <summary>
    /// Runs forward and backward on <paramref name="tokens"/> rows and compares blocks, x·R, gradInput and gradParameters with
    /// the double-precision reference (float32 tolerance 1e-4 relative to the largest value: a wrong index or factor order
    /// gives O(1) errors).
    /// </summary>
    /// <exception cref="InvalidOperationException">The backend disagrees with the reference.</exception>
    public static void Validate(BoftBackend backend, MethodConfig config, int d, int tokens = 5)
    {
        using var w = new Workload(backend, config, d, tokens, seed: 7);
        w.RunForward();
        w.RunBackward();
        double[] p = ToDouble(w.parameters.ToArray()), x = ToDouble(w.input.ToArray()), g = ToDouble(w.gradOutput.ToArray());
        int b = w.Cayley.BlockSize;
        double[] skew = new double[w.Cayley.ParameterBlockCount * b * b];
        if (w.Cayley.Skew == SkewKind.HalfDifference)
            SkewReference.HalfDifference(p, b, skew);
        else
            SkewReference.FromPacked(p, b, skew);
        var c = new double[skew.Length];
        CayleyReference.Forward(skew, b, c);
        var u = new double[x.Length];
        RotationReference.Forward(w.Rotation, x, c, false, u);
        var gx = new double[x.Length];
        var gc = new double[c.Length];
        RotationReference.Backward(w.Rotation, x, c, g, gx, gc);
        var gs = new double[c.Length];
        CayleyReference.Backward(skew, gc, b, gs);
        var gp = new double[p.Length];
        if (w.Cayley.Skew == SkewKind.HalfDifference)
            SkewReference.HalfDifferenceBackward(gs, b, gp);
        else
            SkewReference.FromPackedBackward(gs, b, gp);
        Check(w.blocks.ToArray(), c, "blocks", config, d);
        Check(w.output.ToArray(), u, "x·R", config, d);
        Check(w.gradInput.ToArray(), gx, "gradInput", config, d);
        Check(w.gradParameters.ToArray(), gp, "gradParameters", config, d);
    }

    /// <summary>
    /// A 16-bit workload against the same workload on the reference backend, which computes in double and rounds every stored
    /// 16-bit value once as the contract does (docs/09_Mixed-precision.md): x·R and gradInput within 2 ulps of the type of the
    /// largest value (both round once; one ulp apart at a rounding boundary), gradParameters within 1e-3 of the largest (float32,
    /// from identical 16-bit inputs). A wrong index or factor order gives O(1) errors.
    /// </summary>
    /// <exception cref="InvalidOperationException">The backend disagrees with the reference.</exception>
    public static void ValidateSixteenBit(BoftBackend backend, MethodConfig config, int d, ElementType type, int tokens = 5)
    {
        using var reference = new ReferenceBackend();
        (float[] Y, float[] Gx, float[] Gp) Run(BoftBackend b)
        {
            using var w = new Workload(b, config, d, tokens, seed: 7, type);
            w.RunForward();
            w.RunBackward();
            return (w.output.ToArray(), w.gradInput.ToArray(), w.gradParameters.ToArray());
        }
        var ours = Run(backend);
        var exact = Run(reference);
        double ulps = 2 * Math.Pow(2, type == ElementType.BFloat16 ? -7 : -10);
        CheckRelative(ours.Y, exact.Y, ulps, $"x·R ({type})", config, d);
        CheckRelative(ours.Gx, exact.Gx, ulps, $"gradInput ({type})", config, d);
        CheckRelative(ours.Gp, exact.Gp, 1e-3, $"gradParameters ({type} activations)", config, d);
    }

    private static void CheckRelative(float[] actual, float[] expected, double tolerance, string what, MethodConfig config, int d)
    {
        double scale = 1e-30, worst = 0;
        foreach (float e in expected)
            scale = Math.Max(scale, Math.Abs(e));
        for (int i = 0; i < actual.Length; i++)
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        if (!(worst <= tolerance * scale))
            throw new InvalidOperationException($"Validation failed for {config} at d={d}: {what} differs from the reference backend by {worst:E2} (scale {scale:E2}).");
    }

    private static void Check(float[] actual, double[] expected, string what, MethodConfig config, int d)
    {
        double scale = 1e-30, worst = 0;
        foreach (double e in expected)
            scale = Math.Max(scale, Math.Abs(e));
        for (int i = 0; i < actual.Length; i++)
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        if (!(worst <= 1e-4 * Math.Max(scale, 1)))
            throw new InvalidOperationException($"Validation failed for {config} at d={d}: {what} differs from the reference by {worst:E2} (scale {scale:E2}).");
    }

    private static double[] ToDouble(float[] values) => Array.ConvertAll(values, v => (double)v);

    private static float[] RandomValues(Random random, int length, float scale)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
            values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return values;
    }
}
