// Saving and loading the adapters of BoftLinear/OftLinear layers as PEFT adapter folders (docs/05_Checkpoints.md).
// Layers are named by their PEFT module path (e.g. "model.layers.0.self_attn.q_proj"); a trainable base bias is saved as
// PEFT does with bias="boft_only"/"oft_only" (key "base_model.model.<path>.base_layer.bias").

using Boft.Layers;

namespace Boft.Checkpoints;

/// <summary>PEFT-compatible adapter folders for <see cref="BoftLinear"/> and <see cref="OftLinear"/> layers.</summary>
public static class LayerCheckpoints
{
    /// <summary>Builds a checkpoint from layers named by module path. All layers must be BOFT with one config, or OFT with one config.</summary>
    /// <param name="layers">Module path → layer.</param>
    /// <param name="template">Extra PEFT config fields to keep (task type, base model name, ...); the adapter fields come from the layers.</param>
    /// <returns>The checkpoint (values copied from the layers).</returns>
    /// <exception cref="ArgumentException">No layers, mixed methods, or configurations that differ beyond the in-features.</exception>
    public static AdapterCheckpoint Capture(IReadOnlyDictionary<string, AdapterLinear> layers, PeftAdapterConfig? template = null)
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
            ArgumentNullException.ThrowIfNull(layer, nameof(layers));
            if (layer.IsMerged)
                throw new ArgumentException($"Layer '{path}' is merged; unmerge it before saving its adapter.", nameof(layers));
            PeftAdapterConfig own = layer switch
            {
                BoftLinear boft => PeftBoftAdapterConfig.FromBoftConfig(boft.Config),
                OftLinear oft => PeftOftAdapterConfig.FromOftConfig(oft.Config),
                _ => throw new ArgumentException($"Layer '{path}' is a {layer.GetType().Name}, not a BoftLinear or OftLinear.", nameof(layers)),
            };
            bool trainsBias = layer.Bias?.RequiresGrad == true;
            own = own with { Bias = trainsBias ? (layer is BoftLinear ? "boft_only" : "oft_only") : "none" };
            if (config is null)
            {
                config = own;
                first = path;
            }
            else if (!SameAdapterFields(config, own))
            {
                throw new ArgumentException($"Layers '{first}' and '{path}' have different adapter configurations ({Describe(config)} vs {Describe(own)}); PEFT stores one per adapter.", nameof(layers));
            }
            modules[path] = layer switch
            {
                BoftLinear boft => new BoftModuleWeights(boft.InFeatureCount, boft.OutFeatureCount, boft.BoftR.Value.ToArray(), boft.BoftS.Value.ToArray()),
                OftLinear oft => new OftModuleWeights(oft.InFeatureCount, oft.Weight.Value.ToArray()),
                _ => throw new InvalidOperationException("unreachable"),
            };
            if (trainsBias)
                biases.Add(SafeTensor.FromSingle($"base_model.model.{path}.base_layer.bias", [layer.OutFeatureCount], layer.Bias!.Value.ToArray()));
        }
        config = WithTemplate(config!, template) with { TargetModules = PeftModuleSelection.FromNames(modules.Keys.Select(LastName).Distinct(StringComparer.Ordinal)) };
        return new AdapterCheckpoint(config, modules, biases);
    }

    /// <summary>Saves the layers' adapters as a PEFT adapter folder, all or nothing (see <see cref="AdapterCheckpoint.Save(string, SafeTensorsElementType)"/>).</summary>
    /// <param name="layers">Module path → layer.</param>
    /// <param name="directory">The folder (created if missing).</param>
    /// <param name="template">Extra PEFT config fields, or null.</param>
    /// <param name="elementType">F32 (PEFT's usual) or F64.</param>
    public static void Save(IReadOnlyDictionary<string, AdapterLinear> layers, string directory, PeftAdapterConfig? template = null,
        SafeTensorsElementType elementType = SafeTensorsElementType.Float32) =>
        Capture(layers, template).Save(directory, elementType);

    /// <summary>Copies a checkpoint's adapter values into layers with the same module paths and configurations.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <param name="layers">Module path → layer; every adapted module of the checkpoint must be present and vice versa.</param>
    /// <exception cref="ArgumentException">A module is missing on either side, a layer's method or shape differs from the checkpoint's
    /// (the message names the module and both shapes), or a layer is merged.</exception>
    public static void Restore(AdapterCheckpoint checkpoint, IReadOnlyDictionary<string, AdapterLinear> layers)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(layers);
        string[] missing = checkpoint.Modules.Keys.Where(k => !layers.ContainsKey(k)).ToArray();
        if (missing.Length > 0)
            throw new ArgumentException($"The checkpoint adapts modules the model lacks: {string.Join(", ", missing)}.", nameof(layers));
        string[] extra = layers.Keys.Where(k => !checkpoint.Modules.ContainsKey(k)).ToArray();
        if (extra.Length > 0)
            throw new ArgumentException($"The checkpoint has no adapter for: {string.Join(", ", extra)}.", nameof(layers));
        // Validate everything before changing anything, so a failed restore leaves every layer as it was.
        foreach (var (path, weights) in checkpoint.Modules)
            Validate(checkpoint.Config, path, weights, layers[path]);
        foreach (var (path, weights) in checkpoint.Modules)
        {
            AdapterLinear layer = layers[path];
            switch (weights)
            {
                case BoftModuleWeights b:
                    ((BoftLinear)layer).BoftR.CopyFrom(b.Rotation);
                    ((BoftLinear)layer).BoftS.CopyFrom(b.Scale);
                    break;
                case OftModuleWeights o:
                    ((OftLinear)layer).Weight.CopyFrom(o.Weight);
                    break;
            }
            SafeTensor? bias = checkpoint.AdditionalTensors.FirstOrDefault(t => t.Name == $"base_model.model.{path}.base_layer.bias");
            if (bias is not null && layer.Bias is not null)
                layer.Bias.CopyFrom(bias.ToSingleArray());
        }
    }

    /// <summary>Loads a PEFT adapter folder into layers (shapes and configurations are validated before any value changes).</summary>
    /// <param name="directory">The adapter folder.</param>
    /// <param name="layers">Module path → layer.</param>
    /// <param name="allowNonFinite">Accept NaN, ±Inf and out-of-float-range parameter values (refused by default).</param>
    /// <returns>The loaded checkpoint (for its config and any extra tensors).</returns>
    public static AdapterCheckpoint Load(string directory, IReadOnlyDictionary<string, AdapterLinear> layers, bool allowNonFinite = false)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var counts = layers.ToDictionary(kv => kv.Key, kv => new LayerFeatureCounts(kv.Value.InFeatureCount, kv.Value.OutFeatureCount), StringComparer.Ordinal);
        AdapterCheckpoint checkpoint = AdapterCheckpoint.Load(directory, counts, allowNonFinite);
        Restore(checkpoint, layers);
        return checkpoint;
    }

    private static void Validate(PeftAdapterConfig config, string path, AdapterModuleWeights weights, AdapterLinear layer)
    {
        if (layer.IsMerged)
            throw new ArgumentException($"Layer '{path}' is merged; unmerge it before loading an adapter.", nameof(layer));
        switch (config, layer)
        {
            case (PeftBoftAdapterConfig boftConfig, BoftLinear boft):
                BoftShape expected = boftConfig.ToBoftConfig(layer.InFeatureCount).Resolve();
                if (!expected.Equals(boft.Shape))
                    throw new ArgumentException($"Module '{path}': the checkpoint's adapter is {expected} but the layer is {boft.Shape}.", nameof(layer));
                var bw = (BoftModuleWeights)weights;
                if (bw.OutFeatureCount != layer.OutFeatureCount)
                    throw new ArgumentException($"Module '{path}': boft_s has shape [{bw.OutFeatureCount}, 1] in the checkpoint but [{layer.OutFeatureCount}, 1] in the layer.", nameof(layer));
                break;
            case (PeftOftAdapterConfig oftConfig, OftLinear oft):
                OftShape oftExpected = oftConfig.ToOftConfig(layer.InFeatureCount, oft.Config.NeumannVariant).Resolve();
                if (!oftExpected.Equals(oft.Shape))
                    throw new ArgumentException($"Module '{path}': the checkpoint's adapter is {oftExpected} but the layer is {oft.Shape}.", nameof(layer));
                break;
            default:
                throw new ArgumentException($"Module '{path}': the checkpoint is {config.PeftType} but the layer is a {layer.GetType().Name}.", nameof(layer));
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
