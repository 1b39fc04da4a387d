// OFT (PEFT ≥ 0.16 "OFTv2") adapter on a frozen linear layer (PEFT oft.layer.Linear): y = (x R) W0ᵀ + bias,
// R = blockdiag(C_0 … C_{r−1}), no scale. Parameter (PEFT name): oft_R.weight [r_param, b(b−1)/2].
// COFT projects the parameter in place before every forward, as PEFT does (outside autograd).

using Boft.Backends;
using Boft.Reference;
using Boft.Training;

namespace Boft.Layers;

/// <summary>A linear layer adapted with OFT: frozen <c>W0</c> (and bias), trainable packed skew parameters. Runs on any backend.</summary>
public sealed class OftLinear : AdapterLinear
{
    /// <summary>Creates the layer.</summary>
    /// <param name="backend">The backend holding every tensor.</param>
    /// <param name="config">The OFT configuration (validated here).</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="baseWeight">Frozen W0, row-major. Shape: [outFeatureCount, config.FeatureCount].</param>
    /// <param name="bias">Base bias (shape [outFeatureCount]) or empty.</param>
    /// <param name="initialization">Adapter initialization (default: identity; random: N(0, 0.1²)).</param>
    /// <param name="trainBias">Train the bias too; frozen by default.</param>
    /// <param name="activationType">Element type of activations, W0 and a frozen bias (rounded to it, RNE); parameters, a trainable bias
    /// included, stay float32 masters.</param>
    /// <exception cref="ArgumentException">The configuration is invalid or a size does not match.</exception>
    /// <exception cref="NotSupportedException">A 16-bit <paramref name="activationType"/> on a backend without it.</exception>
    public OftLinear(BoftBackend backend, OftConfig config, int outFeatureCount, ReadOnlySpan<float> baseWeight, ReadOnlySpan<float> bias = default,
        AdapterInitialization? initialization = null, bool trainBias = false, ElementType activationType = ElementType.Float32)
        : this(backend, (config ?? throw new ArgumentNullException(nameof(config))).Resolve(), config, outFeatureCount, baseWeight, bias,
            initialization ?? AdapterInitialization.Default, trainBias, activationType)
    {
    }

    private OftLinear(BoftBackend backend, OftShape shape, OftConfig config, int outFeatureCount, ReadOnlySpan<float> baseWeight,
        ReadOnlySpan<float> bias, AdapterInitialization initialization, bool trainBias, ElementType activationType)
        : base(backend, shape.Rotation, shape.Cayley, outFeatureCount, baseWeight, bias, trainBias, activationType)
    {
        Shape = shape;
        Config = config;
        var weight = new float[shape.StoredParameterCount];
        if (!initialization.Identity)
        {
            var random = new Random(initialization.Seed);
            for (int i = 0; i < weight.Length; i++)
                weight[i] = (float)(0.1 * Gaussian.Next(random));
        }
        Weight = Add(new Parameter("oft_R.weight", backend.Upload(weight, shape.ParameterBlockCount, shape.PackedBlockLength), requiresGrad: true));
    }

    /// <summary>The resolved shape.</summary>
    public OftShape Shape { get; }

    /// <summary>The configuration.</summary>
    public OftConfig Config { get; }

    /// <summary>PEFT <c>oft_R.weight</c>: packed strict upper triangles. Shape: [parameterBlockCount, blockSize·(blockSize−1)/2].</summary>
    public Parameter Weight { get; }

    /// <inheritdoc />
    public override Parameter Rotations => Weight;

    /// <inheritdoc />
    public override Parameter? ScaleParameter => null;

    /// <summary>Applies the COFT projection now (it also runs before every forward and merge when COFT is on).</summary>
    public void ProjectCoft()
    {
        ThrowIfDisposed();
        if (Shape.Coft)
            Backend.CoftProject(Shape.Cayley, Shape.CoftRadius, Weight.Value);
    }

    /// <inheritdoc />
    private protected override void BeforeForward() => ProjectCoft();

    /// <inheritdoc />
    private protected override void UnmergeOnHost(double[] merged, double[] baseWeight)
    {
        double[] weight = Array.ConvertAll(Weight.Value.ToArray(), v => (double)v);
        OftReference.Unmerge(Shape, merged, weight, baseWeight);
    }
}
