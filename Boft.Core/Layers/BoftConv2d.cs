// BOFT adapter on a frozen 2-D convolution (PEFT boft.layer.Conv2d, weight-centric): W' = diag(s)·W0·Rᵀ on the weight
// viewed as [C_out, d], d = (C_in/G)·kh·kw, then y = conv2d(x, W') + bias with the base's stride, padding, dilation and
// groups. Parameters (PEFT names): boft_R [m, k, b, b] raw blocks, boft_s [1, C_out] (PEFT's Conv2d layout; Linear is
// [n, 1]). Multiplicative dropout, weight interpolation and a fixed identity mask act as in BoftLinear.
// Beyond PEFT (docs/02_Ops/conv2d.md): per-axis stride/padding/dilation, non-square kernels, groups, any valid d.

using Boft.Backends;
using Boft.Reference;
using Boft.Training;

namespace Boft.Layers;

/// <summary>
/// A 2-D convolution adapted with BOFT: frozen <c>W0</c> (and bias), trainable raw butterfly blocks <c>boft_R</c> and per-output-channel
/// scale <c>boft_s</c>. Runs on any <see cref="BoftBackend"/>; an <see cref="ILayer"/> over flattened NCHW images.
/// </summary>
public sealed class BoftConv2d : AdapterConv2d
{
    private readonly Tensor mask;
    private readonly double[] hostMask;
    private readonly double[] dropoutMask;
    private readonly float[] maskValues;
    private readonly Random dropoutRandom;
    private int identityFactorCount;
    private double[]? fixedMask;

    /// <summary>Creates the layer.</summary>
    /// <param name="backend">The backend holding every tensor.</param>
    /// <param name="convolution">The base convolution.</param>
    /// <param name="config">The BOFT configuration; its FeatureCount must be the kernel dimension (C_in/groups)·kh·kw, or 0 to take it
    /// from <paramref name="convolution"/>. Validated with PEFT's rules and its Conv2d wording ("Convolutional kernel dimension ...").</param>
    /// <param name="baseWeight">Frozen W0, row-major. Shape: [C_out, C_in/groups, kh, kw].</param>
    /// <param name="bias">Base bias (shape [C_out]) or empty.</param>
    /// <param name="initialization">Adapter initialization (default: identity, PEFT's default).</param>
    /// <param name="trainBias">Train the bias too; frozen by default.</param>
    /// <param name="dropoutSeed">Seed of the multiplicative dropout's random source.</param>
    /// <param name="activationType">Element type of the images, the frozen W0 and a frozen bias (rounded to it, RNE; default float32).
    /// The adapter parameters, a trainable bias and the adapted weight W' stay float32: W' is computed in float32 from W0 each forward
    /// and the convolution reads it unrounded (docs/09_Mixed-precision.md).</param>
    /// <exception cref="ArgumentException">The configuration is invalid or a size does not match.</exception>
    public BoftConv2d(BoftBackend backend, Conv2dShape convolution, BoftConfig config, ReadOnlySpan<float> baseWeight, ReadOnlySpan<float> bias = default,
        AdapterInitialization? initialization = null, bool trainBias = false, int dropoutSeed = 0, ElementType activationType = ElementType.Float32)
        : this(backend, convolution, Resolve(convolution, config, out BoftConfig resolved), resolved, baseWeight, bias,
            initialization ?? AdapterInitialization.Default, trainBias, dropoutSeed, activationType)
    {
    }

    private BoftConv2d(BoftBackend backend, Conv2dShape convolution, BoftShape shape, BoftConfig config, ReadOnlySpan<float> baseWeight,
        ReadOnlySpan<float> bias, AdapterInitialization initialization, bool trainBias, int dropoutSeed, ElementType activationType)
        : base(backend, convolution, shape.Rotation, shape.Cayley, baseWeight, bias, trainBias, activationType)
    {
        Shape = shape;
        Config = config;
        int m = shape.FactorCount, k = shape.BlockCount, b = shape.BlockSize, o = convolution.OutChannels;
        var raw = new float[shape.RawParameterCount];
        var scale = new float[o];
        if (initialization.Identity)
        {
            Array.Fill(scale, 1f);
        }
        else
        {
            var random = new Random(initialization.Seed);
            for (int i = 0; i < raw.Length; i++)
                raw[i] = (float)(0.1 * Gaussian.Next(random));
            for (int i = 0; i < scale.Length; i++)
                scale[i] = (float)(1 + 0.1 * Gaussian.Next(random));
        }
        BoftR = Add(new Parameter("boft_R", backend.Upload(raw, m, k, b, b), requiresGrad: true));
        BoftS = Add(new Parameter("boft_s", backend.Upload(scale, 1, o), requiresGrad: true));
        hostMask = new double[m * k];
        dropoutMask = new double[m * k];
        maskValues = new float[m * k];
        dropoutRandom = new Random(dropoutSeed);
        mask = backend.Allocate(m * k);
    }

    /// <summary>The resolved shape (d = the kernel dimension).</summary>
    public BoftShape Shape { get; }

    /// <summary>The configuration with FeatureCount = d.</summary>
    public BoftConfig Config { get; }

    /// <summary>PEFT <c>boft_R</c>: raw blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</summary>
    public Parameter BoftR { get; }

    /// <summary>PEFT <c>boft_s</c>: per-output-channel scale. Shape: [1, C_out] (PEFT's Conv2d layout).</summary>
    public Parameter BoftS { get; }

    /// <inheritdoc />
    public override Parameter Rotations => BoftR;

    /// <inheritdoc />
    public override Parameter? ScaleParameter => BoftS;

    /// <summary>Weight interpolation (paper Sec. 6.3): the number j of left-most factors <c>F_{m−1}, …, F_{m−j}</c> replaced by the identity.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, m].</exception>
    public int IdentityFactorCount
    {
        get => identityFactorCount;
        set
        {
            if (value < 0 || value > Shape.FactorCount)
                throw new ArgumentOutOfRangeException(nameof(value), value, $"IdentityFactorCount must be in [0, {Shape.FactorCount}].");
            if (IsMerged)
                throw new InvalidOperationException("Change IdentityFactorCount before merging, not while merged.");
            identityFactorCount = value;
        }
    }

    /// <summary>A fixed block identity mask (shape [factorCount, blockCount], 1 = block replaced by I) applied in every forward; null for none.</summary>
    /// <exception cref="ArgumentException">The mask length is not m·k or a value is not 0 or 1.</exception>
    public IReadOnlyList<double>? FixedIdentityMask
    {
        get => fixedMask;
        set
        {
            if (IsMerged)
                throw new InvalidOperationException("Change FixedIdentityMask before merging, not while merged.");
            if (value is not null)
            {
                if (value.Count != Shape.FactorCount * Shape.BlockCount)
                    throw new ArgumentException($"FixedIdentityMask has {value.Count} values but the shape needs [{Shape.FactorCount}, {Shape.BlockCount}] = {Shape.FactorCount * Shape.BlockCount}.", nameof(value));
                if (value.Any(v => v != 0 && v != 1))
                    throw new ArgumentException("FixedIdentityMask values must be 0 or 1.", nameof(value));
            }
            fixedMask = value?.ToArray();
        }
    }

    /// <summary>The identity mask of the last forward (1 = block replaced by I), or null when none was active.</summary>
    public double[]? LastIdentityMask { get; private set; }

    /// <inheritdoc />
    private protected override Tensor? BuildIdentityMask()
    {
        bool dropout = IsTraining && (int)(Config.Dropout * Shape.BlockCount) > 0;
        LastIdentityMask = null;
        if (!dropout && identityFactorCount == 0 && fixedMask is null)
            return null;
        StaticMask(hostMask);
        if (dropout)
        {
            IdentityMaskReference.Dropout(Shape, Config.Dropout, dropoutRandom, dropoutMask);
            for (int i = 0; i < hostMask.Length; i++)
                hostMask[i] = Math.Max(hostMask[i], dropoutMask[i]);
        }
        return Upload();
    }

    /// <inheritdoc />
    private protected override Tensor? BuildMergeMask()
    {
        LastIdentityMask = null;
        if (identityFactorCount == 0 && fixedMask is null)
            return null;
        StaticMask(hostMask);
        return Upload();
    }

    /// <inheritdoc />
    private protected override void UnmergeOnHost(double[] merged, double[] baseWeight)
    {
        double[] raw = Array.ConvertAll(BoftR.Value.ToArray(), v => (double)v);
        double[] scale = Array.ConvertAll(BoftS.Value.ToArray(), v => (double)v);
        double[] maskValues = [];
        if (identityFactorCount != 0 || fixedMask is not null)
        {
            maskValues = new double[hostMask.Length];
            StaticMask(maskValues);
        }
        BoftReference.Unmerge(Shape, merged, raw, scale, maskValues, baseWeight);
    }

    /// <inheritdoc />
    private protected override void DisposeAdapterState() => mask.Dispose();

    private static BoftShape Resolve(Conv2dShape convolution, BoftConfig config, out BoftConfig resolved)
    {
        ArgumentNullException.ThrowIfNull(config);
        BoftShape shape = ResolveForConvolution(convolution, config.FeatureCount, d => (config with { FeatureCount = d }).Resolve());
        resolved = config with { FeatureCount = shape.FeatureCount };
        return shape;
    }

    private void StaticMask(double[] destination)
    {
        IdentityMaskReference.Interpolation(Shape.Rotation, identityFactorCount, destination);
        if (fixedMask is not null)
            for (int i = 0; i < destination.Length; i++)
                destination[i] = Math.Max(destination[i], fixedMask[i]);
    }

    private Tensor Upload()
    {
        LastIdentityMask = (double[])hostMask.Clone();
        for (int i = 0; i < maskValues.Length; i++)
            maskValues[i] = (float)hostMask[i];
        mask.CopyFrom(maskValues);
        return mask;
    }
}
