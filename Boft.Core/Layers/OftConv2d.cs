// OFT (PEFT ≥ 0.16 "OFTv2") adapter on a frozen 2-D convolution, following PEFT's *merge* (W' = W0·Rᵀ on the weight viewed
// as [C_out, d], d = (C_in/G)·kh·kw), then y = conv2d(x, W') + bias. PEFT's OFT Conv2d forward (unfold with stride 1 and
// padding 0, rotate patches, fold back by summing overlaps) is not equal to its own merge; this layer's forward equals the
// merge, a documented deviation (docs/02_Ops/conv2d.md). Parameter (PEFT name): oft_R.weight [r_param, b(b−1)/2].

using Boft.Backends;
using Boft.Reference;
using Boft.Training;

namespace Boft.Layers;

/// <summary>A 2-D convolution adapted with OFT: frozen <c>W0</c> (and bias), trainable packed skew parameters. Runs on any backend.</summary>
public sealed class OftConv2d : AdapterConv2d
{
    /// <summary>Creates the layer.</summary>
    /// <param name="backend">The backend holding every tensor.</param>
    /// <param name="convolution">The base convolution.</param>
    /// <param name="config">The OFT configuration; FeatureCount must be the kernel dimension (C_in/groups)·kh·kw, or 0 to take it from
    /// <paramref name="convolution"/>.</param>
    /// <param name="baseWeight">Frozen W0, row-major. Shape: [C_out, C_in/groups, kh, kw].</param>
    /// <param name="bias">Base bias (shape [C_out]) or empty.</param>
    /// <param name="initialization">Adapter initialization (default: identity; random: N(0, 0.1²)).</param>
    /// <param name="trainBias">Train the bias too; frozen by default.</param>
    /// <param name="activationType">Element type of the images, the frozen W0 and a frozen bias (rounded to it, RNE; default float32).
    /// The adapter parameters, a trainable bias and the adapted weight W' stay float32: W' is computed in float32 from W0 each forward
    /// and the convolution reads it unrounded (docs/09_Mixed-precision.md).</param>
    /// <exception cref="ArgumentException">The configuration is invalid or a size does not match.</exception>
    public OftConv2d(BoftBackend backend, Conv2dShape convolution, OftConfig config, ReadOnlySpan<float> baseWeight, ReadOnlySpan<float> bias = default,
        AdapterInitialization? initialization = null, bool trainBias = false, ElementType activationType = ElementType.Float32)
        : this(backend, convolution, Resolve(convolution, config, out OftConfig resolved), resolved, baseWeight, bias,
            initialization ?? AdapterInitialization.Default, trainBias, activationType)
    {
    }

    private OftConv2d(BoftBackend backend, Conv2dShape convolution, OftShape shape, OftConfig config, ReadOnlySpan<float> baseWeight,
        ReadOnlySpan<float> bias, AdapterInitialization initialization, bool trainBias, ElementType activationType)
        : base(backend, convolution, shape.Rotation, shape.Cayley, baseWeight, bias, trainBias, activationType)
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

    /// <summary>The resolved shape (d = the kernel dimension).</summary>
    public OftShape Shape { get; }

    /// <summary>The configuration with FeatureCount = d.</summary>
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

    private static OftShape Resolve(Conv2dShape convolution, OftConfig config, out OftConfig resolved)
    {
        ArgumentNullException.ThrowIfNull(config);
        OftShape shape = ResolveForConvolution(convolution, config.FeatureCount, d => (config with { FeatureCount = d }).Resolve());
        resolved = config with { FeatureCount = shape.FeatureCount };
        return shape;
    }
}
