// PEFT adapter folders for models that adapt Linear AND Conv2d layers (a CNN, a UNet): one adapter config, one state dict,
// keys base_model.model.<path>.boft_R / .boft_s / .oft_R.weight as for Linear (PEFT uses the same names for its Conv2d
// layers). Differences for a conv module (docs/05_Checkpoints.md, "Conv2d adapters"):
//   * boft_s is stored [1, C_out] (PEFT's boft.layer.Conv2d: nn.Parameter(torch.ones(1, out_features))), Linear [n, 1];
//   * the in-features of the adapter are the kernel dimension d = (C_in/groups)·kh·kw, so boft_R is [m, d/b, b, b] and
//     oft_R.weight [d/b, b(b−1)/2], exactly PEFT's shapes for a square kernel and groups = 1 (PEFT computes C_in·k[0]²).
//     A non-square or grouped adapter is stored the same way from its true d: the shapes stay self-consistent and Boft
//     loads them back (validated against the layer's d), but PEFT itself cannot load them (it would expect C_in·kh²).
// This is the one implementation; LayerCheckpoints is its typed front for Linear-only models.

using Boft.Layers;

namespace Boft.Checkpoints;

/// <summary>PEFT-compatible adapter folders for any mix of <see cref="AdapterLinear"/> and <see cref="AdapterConv2d"/> layers.</summary>
public static class AdapterLayerCheckpoints
{
    /// <summary>Builds a checkpoint from layers named by module path; all BOFT with one config, or all OFT with one config.</summary>
    /// <param name="layers">Module path → <see cref="AdapterLinear"/> or <see cref="AdapterConv2d"/>.</param>
    /// <param name="template">Extra PEFT config fields to keep, or null.</param>
    /// <returns>The checkpoint (values copied from the layers).</returns>
    /// <exception cref="ArgumentException">No layers, another layer type, a merged layer, mixed methods or differing configurations.</exception>
    public static AdapterCheckpoint Capture(IReadOnlyDictionary<string, ILayer> layers, PeftAdapterConfig? template = null) =>
        Capture(layers, template, SafeTensorsElementType.Float32);

    /// <summary>As <see cref="Capture(IReadOnlyDictionary{string, ILayer}, PeftAdapterConfig?)"/>, with trained biases stored as
    /// <paramref name="biasElementType"/> (a save stores every float32 master in the one type the user chose).</summary>
    internal static AdapterCheckpoint Capture(IReadOnlyDictionary<string, ILayer> layers, PeftAdapterConfig? template, SafeTensorsElementType biasElementType)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0)
            throw new ArgumentException("At least one layer is needed to make a checkpoint.", nameof(layers));
        var modules = new Dictionary<string, AdapterModuleWeights>(StringComparer.Ordinal);
        var biases = new List<SafeTensor>();
        PeftAdapterConfig? config = null;
        string? first = null;
        foreach (var (path, layer) in layers.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            Adapter adapter = Adapter.Of(path, layer);
            if (adapter.IsMerged)
                throw new ArgumentException($"Layer '{path}' is merged; unmerge it before saving its adapter.", nameof(layers));
            PeftAdapterConfig own = adapter.PeftConfig() with { Bias = adapter.TrainsBias ? (adapter.IsBoft ? "boft_only" : "oft_only") : "none" };
            if (config is null)
            {
                (config, first) = (own, path);
            }
            else if (!SameAdapterFields(config, own))
            {
                throw new ArgumentException($"Layers '{first}' and '{path}' have different adapter configurations ({Describe(config)} vs {Describe(own)}); PEFT stores one per adapter.", nameof(layers));
            }
            modules[path] = adapter.Weights();
            if (adapter.TrainsBias)
                biases.Add(SafeTensor.FromSingle($"{PeftStateDictKeys.ModelPrefix}{path}.base_layer.bias", [adapter.Bias!.Value.Length], adapter.Bias.Value.ToArray(), biasElementType));
        }
        config = WithTemplate(config!, template) with { TargetModules = PeftModuleSelection.FromNames(modules.Keys.Select(LastName).Distinct(StringComparer.Ordinal)) };
        return new AdapterCheckpoint(config, modules, biases);
    }

    /// <summary>Saves the layers' adapters as a PEFT adapter folder (both files written atomically).</summary>
    /// <param name="layers">Module path → layer.</param>
    /// <param name="directory">The folder (created if missing).</param>
    /// <param name="template">Extra PEFT config fields, or null.</param>
    /// <param name="elementType">The stored type of the adapter parameters and trained biases: F32 (default, PEFT's usual), F64,
    /// BF16 or F16 (rounded to nearest even; see <see cref="AdapterCheckpoint.Save(string, SafeTensorsElementType)"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not F32, F64, BF16 or F16.</exception>
    /// <exception cref="OverflowException">A value is too large for BF16 or F16; nothing is written.</exception>
    public static void Save(IReadOnlyDictionary<string, ILayer> layers, string directory, PeftAdapterConfig? template = null,
        SafeTensorsElementType elementType = SafeTensorsElementType.Float32)
    {
        if (!AdapterCheckpoint.IsStoredParameterType(elementType))
            throw new ArgumentOutOfRangeException(nameof(elementType), elementType,
                $"Adapter parameters are stored as F32, F64, BF16 or F16, not {SafeTensorsElementTypes.GetName(elementType)}.");
        Capture(layers, template, elementType).Save(directory, elementType);
    }

    /// <summary>Loads a PEFT adapter folder into layers; every shape and configuration is validated before any value changes.</summary>
    /// <param name="directory">The adapter folder.</param>
    /// <param name="layers">Module path → layer.</param>
    /// <param name="allowNonFinite">Accept NaN, ±Inf and out-of-float-range parameter values (refused by default).</param>
    /// <returns>The loaded checkpoint (for its config and any extra tensors).</returns>
    public static AdapterCheckpoint Load(string directory, IReadOnlyDictionary<string, ILayer> layers, bool allowNonFinite = false)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var counts = layers.ToDictionary(kv => kv.Key, kv => Adapter.Of(kv.Key, kv.Value).FeatureCounts, StringComparer.Ordinal);
        AdapterCheckpoint checkpoint = AdapterCheckpoint.Load(directory, counts, allowNonFinite);
        Restore(checkpoint, layers);
        return checkpoint;
    }

    /// <summary>Copies a checkpoint's adapter values into layers with the same module paths and configurations.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <param name="layers">Module path → layer; the module sets must be equal.</param>
    /// <exception cref="ArgumentException">A module is missing on either side, a method, shape or boft_s layout differs (the message names
    /// the module and both shapes), or a layer is merged. Nothing is changed then.</exception>
    public static void Restore(AdapterCheckpoint checkpoint, IReadOnlyDictionary<string, ILayer> layers)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(layers);
        string[] missing = checkpoint.Modules.Keys.Where(k => !layers.ContainsKey(k)).ToArray();
        if (missing.Length > 0)
            throw new ArgumentException($"The checkpoint adapts modules the model lacks: {string.Join(", ", missing)}.", nameof(layers));
        string[] extra = layers.Keys.Where(k => !checkpoint.Modules.ContainsKey(k)).ToArray();
        if (extra.Length > 0)
            throw new ArgumentException($"The checkpoint has no adapter for: {string.Join(", ", extra)}.", nameof(layers));
        var adapters = checkpoint.Modules.Keys.ToDictionary(p => p, p => Adapter.Of(p, layers[p]), StringComparer.Ordinal);
        foreach (var (path, weights) in checkpoint.Modules)
            adapters[path].Validate(checkpoint.Config, weights);
        foreach (var (path, weights) in checkpoint.Modules)
        {
            Adapter adapter = adapters[path];
            switch (weights)
            {
                case BoftModuleWeights b:
                    adapter.Rotations.CopyFrom(b.Rotation);
                    adapter.Scale!.CopyFrom(b.Scale);
                    break;
                case OftModuleWeights o:
                    adapter.Rotations.CopyFrom(o.Weight);
                    break;
            }
            SafeTensor? bias = checkpoint.AdditionalTensors.FirstOrDefault(t => t.Name == $"{PeftStateDictKeys.ModelPrefix}{path}.base_layer.bias");
            if (bias is not null && adapter.Bias is not null)
                adapter.Bias.CopyFrom(bias.ToSingleArray());
        }
    }

    /// <summary>The adapter view of a Linear or Conv2d layer.</summary>
    private sealed record Adapter(string Path, ILayer Layer, bool IsConv, bool IsBoft, int FeatureCount, int OutCount, object Shape, object Config,
        Training.Parameter Rotations, Training.Parameter? Scale, Training.Parameter? Bias, bool IsMerged)
    {
        public bool TrainsBias => Bias?.RequiresGrad == true;

        public LayerFeatureCounts FeatureCounts => new(FeatureCount, OutCount);

        public static Adapter Of(string path, ILayer layer) => layer switch
        {
            BoftLinear b => new(path, b, false, true, b.InFeatureCount, b.OutFeatureCount, b.Shape, b.Config, b.BoftR, b.BoftS, b.Bias, b.IsMerged),
            OftLinear o => new(path, o, false, false, o.InFeatureCount, o.OutFeatureCount, o.Shape, o.Config, o.Weight, null, o.Bias, o.IsMerged),
            BoftConv2d b => new(path, b, true, true, b.Convolution.FilterDimension, b.Convolution.OutChannels, b.Shape, b.Config, b.BoftR, b.BoftS, b.Bias, b.IsMerged),
            OftConv2d o => new(path, o, true, false, o.Convolution.FilterDimension, o.Convolution.OutChannels, o.Shape, o.Config, o.Weight, null, o.Bias, o.IsMerged),
            null => throw new ArgumentNullException(nameof(layer), $"Layer '{path}' is null."),
            _ => throw new ArgumentException($"Layer '{path}' is a {layer.GetType().Name}, not a BoftLinear, OftLinear, BoftConv2d or OftConv2d.", nameof(layer)),
        };

        public PeftAdapterConfig PeftConfig() => IsBoft
            ? PeftBoftAdapterConfig.FromBoftConfig((BoftConfig)Config)
            : PeftOftAdapterConfig.FromOftConfig((OftConfig)Config);

        public AdapterModuleWeights Weights() => IsBoft
            ? new BoftModuleWeights(FeatureCount, OutCount, Rotations.Value.ToArray(), Scale!.Value.ToArray()) { Conv2dLayout = IsConv }
            : new OftModuleWeights(FeatureCount, Rotations.Value.ToArray());

        public void Validate(PeftAdapterConfig config, AdapterModuleWeights weights)
        {
            if (IsMerged)
                throw new ArgumentException($"Layer '{Path}' is merged; unmerge it before loading an adapter.", "layers");
            string kind = IsConv ? "Conv2d" : "Linear";
            switch (config, weights)
            {
                case (PeftBoftAdapterConfig boftConfig, BoftModuleWeights bw) when IsBoft:
                    BoftShape expected = boftConfig.ToBoftConfig(FeatureCount).Resolve();
                    if (!expected.Equals(Shape))
                        throw new ArgumentException($"Module '{Path}': the checkpoint's adapter is {expected} but the layer is {Shape}.", "layers");
                    if (bw.OutFeatureCount != OutCount || bw.Conv2dLayout != IsConv)
                        throw new ArgumentException($"Module '{Path}': boft_s has shape {SafeTensor.FormatShape(bw.ScaleShape)} in the checkpoint but the {kind} layer needs {SafeTensor.FormatShape(IsConv ? [1, OutCount] : [OutCount, 1])}.", "layers");
                    break;
                case (PeftOftAdapterConfig oftConfig, OftModuleWeights) when !IsBoft:
                    OftShape oftExpected = oftConfig.ToOftConfig(FeatureCount, ((OftConfig)Config).NeumannVariant).Resolve();
                    if (!oftExpected.Equals(Shape))
                        throw new ArgumentException($"Module '{Path}': the checkpoint's adapter is {oftExpected} but the layer is {Shape}.", "layers");
                    break;
                default:
                    throw new ArgumentException($"Module '{Path}': the checkpoint is {config.PeftType} but the layer is a {Layer.GetType().Name}.", "layers");
            }
        }
    }

    private static bool SameAdapterFields(PeftAdapterConfig a, PeftAdapterConfig b) => (a, b) switch
    {
        (PeftBoftAdapterConfig x, PeftBoftAdapterConfig y) => x.BoftBlockSize == y.BoftBlockSize && x.BoftBlockNum == y.BoftBlockNum &&
            x.BoftNButterflyFactor == y.BoftNButterflyFactor && x.BoftDropout.Equals(y.BoftDropout) && x.Bias == y.Bias,
        (PeftOftAdapterConfig x, PeftOftAdapterConfig y) => x.R == y.R && x.OftBlockSize == y.OftBlockSize && x.BlockShare == y.BlockShare &&
            x.UseCayleyNeumann == y.UseCayleyNeumann && x.NumCayleyNeumannTerms == y.NumCayleyNeumannTerms && x.Coft == y.Coft &&
            x.Eps.Equals(y.Eps) && x.PeftVersion == y.PeftVersion && x.Bias == y.Bias,
        _ => false,
    };

    private static string Describe(PeftAdapterConfig c) => c switch
    {
        PeftBoftAdapterConfig b => $"BOFT block_size={b.BoftBlockSize} block_num={b.BoftBlockNum} factors={b.BoftNButterflyFactor} bias={b.Bias}",
        PeftOftAdapterConfig o => $"OFT r={o.R} block_size={o.OftBlockSize} share={o.BlockShare} neumann={o.UseCayleyNeumann}/{o.NumCayleyNeumannTerms} coft={o.Coft} bias={o.Bias}",
        _ => c.PeftType,
    };

    private static PeftAdapterConfig WithTemplate(PeftAdapterConfig config, PeftAdapterConfig? template) => template is null
        ? config
        : config with
        {
            TaskType = template.TaskType,
            BaseModelNameOrPath = template.BaseModelNameOrPath,
            Revision = template.Revision,
            InferenceMode = template.InferenceMode,
            ModulesToSave = template.ModulesToSave,
            AdditionalFields = template.AdditionalFields,
        };

    private static string LastName(string path) => path[(path.LastIndexOf('.') + 1)..];
}
