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
    public static AdapterCheckpoint Capture(IReadOnlyDictionary<string, AdapterLinear> layers, PeftAdapterConfig? template = null) =>
        AdapterLayerCheckpoints.Capture(AsLayers(layers), template);

    /// <summary>Saves the layers' adapters as a PEFT adapter folder, all or nothing (see <see cref="AdapterCheckpoint.Save(string, SafeTensorsElementType)"/>).</summary>
    /// <param name="layers">Module path → layer.</param>
    /// <param name="directory">The folder (created if missing).</param>
    /// <param name="template">Extra PEFT config fields, or null.</param>
    /// <param name="elementType">The stored type of the adapter parameters and trained biases: F32 (default, PEFT's usual), F64,
    /// BF16 or F16 (rounded to nearest even).</param>
    public static void Save(IReadOnlyDictionary<string, AdapterLinear> layers, string directory, PeftAdapterConfig? template = null,
        SafeTensorsElementType elementType = SafeTensorsElementType.Float32) =>
        AdapterLayerCheckpoints.Save(AsLayers(layers), directory, template, elementType);

    /// <summary>Copies a checkpoint's adapter values into layers with the same module paths and configurations.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <param name="layers">Module path → layer; every adapted module of the checkpoint must be present and vice versa.</param>
    /// <exception cref="ArgumentException">A module is missing on either side, a layer's method or shape differs from the checkpoint's
    /// (the message names the module and both shapes), or a layer is merged. Nothing is changed then.</exception>
    public static void Restore(AdapterCheckpoint checkpoint, IReadOnlyDictionary<string, AdapterLinear> layers) =>
        AdapterLayerCheckpoints.Restore(checkpoint, AsLayers(layers));

    /// <summary>Loads a PEFT adapter folder into layers (shapes and configurations are validated before any value changes).</summary>
    /// <param name="directory">The adapter folder.</param>
    /// <param name="layers">Module path → layer.</param>
    /// <param name="allowNonFinite">Accept NaN, ±Inf and out-of-float-range parameter values (refused by default).</param>
    /// <returns>The loaded checkpoint (for its config and any extra tensors).</returns>
    public static AdapterCheckpoint Load(string directory, IReadOnlyDictionary<string, AdapterLinear> layers, bool allowNonFinite = false) =>
        AdapterLayerCheckpoints.Load(directory, AsLayers(layers), allowNonFinite);

    private static Dictionary<string, ILayer> AsLayers(IReadOnlyDictionary<string, AdapterLinear> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        return layers.ToDictionary(kv => kv.Key, kv => (ILayer)kv.Value, StringComparer.Ordinal);
    }
}
