// The pure arithmetic of the main job's tables, kept apart from any timing so it can be tested on fixed numbers
// (docs/04_Benchmarking.md §Columns): algorithmic FLOPs and compulsory bytes of the adapted layer, the plain frozen layer
// and the merged layer; the roofline bound min(peak, bandwidth × intensity) and the fraction of it a timing reached; the
// adapter's overhead over the frozen layer; memory per configuration, ours and PEFT's.
// Conventions: float32 (4 bytes); 2 FLOPs per multiply-add; T tokens, d inputs, n outputs; m factors of k = d/b blocks
// (BOFT) or one factor (OFT), K = m·k blocks of b×b in all.

namespace Boft.Experiments.Analysis;

/// <summary>What is timed: the adapted layer, the plain frozen layer or the merged layer, forward or forward+backward.</summary>
public enum LayerOp
{
    /// <summary>Adapted layer forward: Cayley, rotation, frozen GEMM, scale and bias.</summary>
    AdaptedForward,

    /// <summary>Adapted layer forward + backward (gradient of the rotation parameters, the scale and the input).</summary>
    AdaptedForwardBackward,

    /// <summary>The plain frozen layer forward: y = x W0ᵀ + bias.</summary>
    FrozenForward,

    /// <summary>The plain frozen layer forward + backward to the input (W0 frozen).</summary>
    FrozenForwardBackward,

    /// <summary>The merged layer forward (W' = diag(s) W0 Rᵀ, one GEMM).</summary>
    MergedForward,
}

/// <summary>Memory of one adapted layer, in bytes (float32).</summary>
/// <param name="TrainableBytes">Trainable parameters (rotation parameters and BOFT's scale).</param>
/// <param name="OptimizerStateBytes">Adam's two moments of the trainable parameters.</param>
/// <param name="SavedActivationBytesPerToken">Kept from forward to backward per token: the input row x (d) and the pre-scale row h (n).</param>
/// <param name="WorkspaceBytesPerToken">Scratch per token besides the saved rows: x·R (d), ∂h (n), ∂(x·R) (d), ∂x (d).</param>
/// <param name="WorkspaceBytesFixed">Scratch independent of T: the blocks C and ∂C (2·K·b²).</param>
/// <param name="PeftTrainableBytes">PEFT's trainable parameters for the same layer.</param>
/// <param name="PeftBufferBytes">PEFT's dense extras: BOFT's boft_P buffer (m·d²) plus the dense factors and R built per forward ((m + 1)·d²); none for OFTv2.</param>
public sealed record LayerMemory(long TrainableBytes, long OptimizerStateBytes, long SavedActivationBytesPerToken, long WorkspaceBytesPerToken,
    long WorkspaceBytesFixed, long PeftTrainableBytes, long PeftBufferBytes);

/// <summary>FLOPs, bytes, roofline, overhead and memory of the main job.</summary>
public static class LayerMath
{
    /// <summary>Blocks K of the configuration on d features: m·d/b.</summary>
    /// <param name="config">The configuration.</param>
    /// <param name="d">Feature count.</param>
    /// <returns>K.</returns>
    public static long BlockCount(MethodConfig config, int d)
    {
        ArgumentNullException.ThrowIfNull(config);
        return (long)config.FactorCount * (d / config.BlockSize);
    }

    /// <summary>Algorithmic FLOPs of <paramref name="op"/> (config ignored for the frozen and merged ops).</summary>
    /// <param name="op">The op.</param>
    /// <param name="config">The configuration.</param>
    /// <param name="tokens">T.</param>
    /// <param name="d">Inputs.</param>
    /// <param name="n">Outputs.</param>
    /// <returns>FLOPs.</returns>
    public static double Flops(LayerOp op, MethodConfig config, int tokens, int d, int n)
    {
        ArgumentNullException.ThrowIfNull(config);
        double t = tokens, b = config.BlockSize, k = BlockCount(config, d);
        double gemm = 2 * t * d * n, bias = t * n;
        double cayley = 2 * k * b * b * b, rotation = 2 * config.FactorCount * t * d * b;
        double scale = config.IsBoft ? t * n : 0;
        return op switch
        {
            LayerOp.FrozenForward or LayerOp.MergedForward => gemm + bias,
            LayerOp.FrozenForwardBackward => gemm + bias + gemm,
            LayerOp.AdaptedForward => cayley + rotation + gemm + bias + scale,
            // backward: scale (∂h = g ⊙ s and ∂s, 2Tn for BOFT), ∂(xR) = ∂h W0 (2Tdn), rotation backward (∂x and ∂C: 2 × rotation),
            // Cayley backward (two b×b products per block: 4Kb³).
            LayerOp.AdaptedForwardBackward => cayley + rotation + gemm + bias + scale + 2 * scale + gemm + 2 * rotation + 2 * cayley,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown op."),
        };
    }

    /// <summary>Compulsory bytes of <paramref name="op"/>: every input read once and every output written once (intermediates fused away).</summary>
    /// <param name="op">The op.</param>
    /// <param name="config">The configuration.</param>
    /// <param name="tokens">T.</param>
    /// <param name="d">Inputs.</param>
    /// <param name="n">Outputs.</param>
    /// <param name="activationBytes">Bytes per element of the activations, W0 and the bias: 4 (float32) or 2 (a 16-bit type).</param>
    /// <returns>Bytes.</returns>
    public static double Bytes(LayerOp op, MethodConfig config, int tokens, int d, int n, int activationBytes = 4)
    {
        ArgumentNullException.ThrowIfNull(config);
        double e = activationBytes; // activations, W0 and the frozen bias in their type (docs/09_Mixed-precision.md); parameters and blocks float32
        double t = tokens, x = e * t * d, y = e * t * n, w = e * d * n, bias = e * n;
        double parameters = 4.0 * config.StoredParameters(d) + (config.IsBoft ? 4.0 * n : 0);
        double blocks = 4.0 * BlockCount(config, d) * config.BlockSize * config.BlockSize;
        double frozen = x + w + bias + y;
        return op switch
        {
            LayerOp.FrozenForward or LayerOp.MergedForward => frozen,
            LayerOp.FrozenForwardBackward => frozen + y + w + x, // read g and W0, write ∂x
            LayerOp.AdaptedForward => frozen + parameters + blocks, // parameters read, blocks written (kept for backward)
            // backward: read g, x, W0, the blocks and the parameters; write ∂x and the parameters' gradients
            LayerOp.AdaptedForwardBackward => frozen + parameters + blocks + y + x + w + blocks + parameters + x + parameters,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown op."),
        };
    }

    /// <summary>The roofline bound in GFLOP/s: min(peak, bandwidth × FLOPs/bytes).</summary>
    /// <param name="flops">FLOPs.</param>
    /// <param name="bytes">Bytes (&gt; 0).</param>
    /// <param name="peakGflops">Compute roof, GFLOP/s.</param>
    /// <param name="bandwidthGBs">Memory roof, GB/s.</param>
    /// <returns>The attainable GFLOP/s.</returns>
    public static double RooflineGflops(double flops, double bytes, double peakGflops, double bandwidthGBs)
    {
        if (!(bytes > 0))
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "bytes must be positive.");
        return Math.Min(peakGflops, bandwidthGBs * flops / bytes);
    }

    /// <summary>The fraction of the roofline bound reached: (flops / seconds) / bound.</summary>
    /// <param name="flops">FLOPs.</param>
    /// <param name="bytes">Bytes.</param>
    /// <param name="seconds">Measured time (&gt; 0).</param>
    /// <param name="peakGflops">Compute roof, GFLOP/s.</param>
    /// <param name="bandwidthGBs">Memory roof, GB/s.</param>
    /// <returns>A fraction (1 = at the roof).</returns>
    public static double FractionOfRoofline(double flops, double bytes, double seconds, double peakGflops, double bandwidthGBs)
    {
        if (!(seconds > 0))
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "seconds must be positive.");
        return flops / seconds / 1e9 / RooflineGflops(flops, bytes, peakGflops, bandwidthGBs);
    }

    /// <summary>The adapter's overhead over the frozen layer in percent: 100·(adapted / frozen − 1).</summary>
    /// <param name="adaptedMs">Adapted layer time.</param>
    /// <param name="frozenMs">Frozen layer time (&gt; 0).</param>
    /// <returns>Percent.</returns>
    public static double OverheadPercent(double adaptedMs, double frozenMs)
    {
        if (!(frozenMs > 0))
            throw new ArgumentOutOfRangeException(nameof(frozenMs), frozenMs, "frozenMs must be positive.");
        return 100 * (adaptedMs / frozenMs - 1);
    }

    /// <summary>Memory of one adapted layer with <paramref name="n"/> outputs, ours and PEFT's.</summary>
    /// <param name="config">The configuration.</param>
    /// <param name="d">Inputs.</param>
    /// <param name="n">Outputs.</param>
    /// <returns>The counts in bytes.</returns>
    public static LayerMemory Memory(MethodConfig config, int d, int n)
    {
        ArgumentNullException.ThrowIfNull(config);
        long trainable = config.StoredParameters(d) + (config.IsBoft ? n : 0);
        long blocks = BlockCount(config, d) * config.BlockSize * config.BlockSize;
        // PEFT: BOFT trains boft_R (m, k, b, b) and boft_s (n); it keeps boft_P (m, d, d) and builds m dense factors and R per forward.
        // OFTv2 (input-centric) trains the packed skew, d(b−1)/2, and builds no dense d×d matrix.
        long peftTrainable = trainable;
        long peftBuffers = config.IsBoft ? ((long)config.FactorCount * d * d + (long)(config.FactorCount + 1) * d * d) : 0;
        return new LayerMemory(4 * trainable, 2 * 4 * trainable, 4L * (d + n), 4L * (3 * d + n), 2 * 4 * blocks, 4 * peftTrainable, 4 * peftBuffers);
    }
}
