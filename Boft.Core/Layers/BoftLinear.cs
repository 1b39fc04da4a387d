// BOFT adapter on a frozen linear layer (PEFT boft.layer.Linear): y = ((x R) W0ᵀ) ⊙ s + bias, R = F_{m−1} … F_0.
// Parameters (PEFT names): boft_R [m, k, b, b] raw blocks, boft_s [n, 1] scale. Multiplicative dropout (training only)
// and weight interpolation act through a block identity mask (docs/02_Ops/dropout-interpolation.md).

using Boft.Backends;
using Boft.Reference;
using Boft.Training;

namespace Boft.Layers;

/// <summary>
/// A linear layer adapted with BOFT: frozen <c>W0</c> (and bias), trainable raw butterfly blocks <c>boft_R</c> and scale
/// <c>boft_s</c>. Runs on any <see cref="BoftBackend"/>.
/// </summary>
public sealed class BoftLinear : AdapterLinear
{
    private readonly Tensor? mask;
    private readonly double[] hostMask;
    private readonly double[] dropoutMask;
    private readonly float[] maskValues;
    private readonly Random dropoutRandom;
    private int identityFactorCount;
    private double[]? fixedMask;

    /// <summary>Creates the layer.</summary>
    /// <param name="backend">The backend holding every tensor.</param>
    /// <param name="config">The BOFT configuration (validated here).</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="baseWeight">Frozen W0, row-major. Shape: [outFeatureCount, config.FeatureCount].</param>
    /// <param name="bias">Base bias (shape [outFeatureCount]) or empty.</param>
    /// <param name="initialization">Adapter initialization (default: identity, PEFT's default).</param>
    /// <param name="trainBias">Train the bias too (PEFT <c>bias="boft_only"</c>); frozen by default.</param>
    /// <param name="dropoutSeed">Seed of the multiplicative dropout's random source.</param>
    /// <param name="activationType">Element type of activations, W0 and a frozen bias (rounded to it, RNE); parameters, a trainable bias
    /// included, stay float32 masters.</param>
    /// <exception cref="ArgumentException">The configuration is invalid or a size does not match.</exception>
    /// <exception cref="NotSupportedException">A 16-bit <paramref name="activationType"/> on a backend without it.</exception>
    public BoftLinear(BoftBackend backend, BoftConfig config, int outFeatureCount, ReadOnlySpan<float> baseWeight, ReadOnlySpan<float> bias = default,
        AdapterInitialization? initialization = null, bool trainBias = false, int dropoutSeed = 0, ElementType activationType = ElementType.Float32)
        : this(backend, (config ?? throw new ArgumentNullException(nameof(config))).Resolve(), config, outFeatureCount, baseWeight, bias,
            initialization ?? AdapterInitialization.Default, trainBias, dropoutSeed, activationType)
    {
    }

    private BoftLinear(BoftBackend backend, BoftShape shape, BoftConfig config, int outFeatureCount, ReadOnlySpan<float> baseWeight,
        ReadOnlySpan<float> bias, AdapterInitialization initialization, bool trainBias, int dropoutSeed, ElementType activationType)
        : base(backend, shape.Rotation, shape.Cayley, outFeatureCount, baseWeight, bias, trainBias, activationType)
    {
        Shape = shape;
        Config = config;
        int m = shape.FactorCount, k = shape.BlockCount, b = shape.BlockSize;
        var raw = new float[shape.RawParameterCount];
        var scale = new float[outFeatureCount];
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
        BoftS = Add(new Parameter("boft_s", backend.Upload(scale, outFeatureCount, 1), requiresGrad: true));
        hostMask = new double[m * k];
        dropoutMask = new double[m * k];
        maskValues = new float[m * k];
        dropoutRandom = new Random(dropoutSeed);
        mask = backend.Allocate(m * k);
    }

    /// <summary>The resolved shape.</summary>
    public BoftShape Shape { get; }

    /// <summary>The configuration.</summary>
    public BoftConfig Config { get; }

    /// <summary>PEFT <c>boft_R</c>: raw blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</summary>
    public Parameter BoftR { get; }

    /// <summary>PEFT <c>boft_s</c>: per-output scale. Shape: [outFeatureCount, 1].</summary>
    public Parameter BoftS { get; }

    /// <inheritdoc />
    public override Parameter Rotations => BoftR;

    /// <inheritdoc />
    public override Parameter? ScaleParameter => BoftS;

    /// <summary>
    /// Weight interpolation (paper Sec. 6.3): the number j of left-most factors <c>F_{m−1}, …, F_{m−j}</c> replaced by the
    /// identity, without retraining. 0 (default) is the trained adapter, m the base layer.
    /// </summary>
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

    /// <summary>
    /// A fixed block identity mask (shape [factorCount, blockCount], 1 = block replaced by I) applied in every forward, training or
    /// not, e.g. to replay a recorded dropout draw; null (default) for none. Combined with dropout and interpolation by maximum.
    /// </summary>
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
    /// <returns>A copy of the mask, shape [factorCount, blockCount], or null.</returns>
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

    /// <summary>The mask without dropout: interpolation combined with the fixed mask (what merge and unmerge use).</summary>
    private void StaticMask(double[] destination)
    {
        IdentityMaskReference.Interpolation(Shape.Rotation, identityFactorCount, destination);
        if (fixedMask is not null)
            for (int i = 0; i < destination.Length; i++)
                destination[i] = Math.Max(destination[i], fixedMask[i]);
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
    private protected override void DisposeAdapterState() => mask?.Dispose();

    private Tensor Upload()
    {
        LastIdentityMask = (double[])hostMask.Clone();
        for (int i = 0; i < maskValues.Length; i++)
            maskValues[i] = (float)hostMask[i];
        mask!.CopyFrom(maskValues);
        return mask;
    }
}
