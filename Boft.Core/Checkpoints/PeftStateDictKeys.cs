// The state-dict keys PEFT saves for BOFT and OFT Linear layers (huggingface/peft HEAD 5d602fd).
//
// Model keys: a PeftModel wraps the base model as `base_model.model.`; each adapted module keeps its base layer under
// `base_layer` and adds the adapter's containers:
//   BOFT (src/peft/tuners/boft/layer.py, BOFTLayer): boft_R and boft_s are nn.ParameterDict keyed by adapter name
//        -> `base_model.model.<path>.boft_R.<adapter>` [m, k, b, b] and `.boft_s.<adapter>` [n, 1] (Linear);
//        boft_P is a buffer registered with persistent=False since PEFT 0.13 (PR #2050), so it is not saved; 0.11-0.12
//        saved it as `base_model.model.<path>.boft_P` [m, d, d].
//   OFT  (src/peft/tuners/oft/layer.py, OFTLayer): oft_R is an nn.ModuleDict of OFTRotationModule, whose parameter is
//        `weight` [r_param, b(b-1)/2] (its rows/cols buffers are persistent=False)
//        -> `base_model.model.<path>.oft_R.<adapter>.weight`. PEFT 0.14-0.15 used ParameterDicts oft_r / oft_s.
// Checkpoint keys: get_peft_model_state_dict (src/peft/utils/save_and_load.py) selects the tuner layers' entries and
// removes the adapter name with BaseTuner._remove_adapter_name_from_key ->
// tuners_utils._remove_adapter_name_from_state_dict_key (ported below as RemoveAdapterName):
//   `base_model.model.<path>.boft_R`, `.boft_s`, `base_model.model.<path>.oft_R.weight`.
// (PEFT <= 0.17 used `k.replace(f".{adapter_name}", "")`, which gives the same keys for ordinary module paths.)

using System.Text.RegularExpressions;

namespace Boft.Checkpoints;

/// <summary>Which adapter parameter a PEFT state-dict key names.</summary>
public enum PeftParameterKind
{
    /// <summary>BOFT <c>boft_R</c>: raw butterfly blocks, shape [m, k, b, b].</summary>
    BoftRotation,

    /// <summary>BOFT <c>boft_s</c>: output scale, shape [n, 1] for Linear.</summary>
    BoftScale,

    /// <summary>OFT (PEFT ≥ 0.16) <c>oft_R.weight</c>: packed skew parameters, shape [r_param, b(b−1)/2].</summary>
    OftRotationWeight,

    /// <summary>BOFT <c>boft_P</c>: permutation matrices [m, d, d], saved only by PEFT 0.11–0.12; a derived buffer, not a parameter.</summary>
    LegacyBoftPermutation,

    /// <summary>OFT <c>oft_r</c> of PEFT 0.14–0.15, which later PEFT refuses to load.</summary>
    LegacyOftRotation,

    /// <summary>OFT <c>oft_s</c> of PEFT 0.14–0.15, which later PEFT refuses to load.</summary>
    LegacyOftScale,
}

/// <summary>A parsed PEFT adapter key: the adapted module's path and the parameter.</summary>
/// <param name="ModulePath">The module path inside the base model, e.g. <c>model.layers.0.self_attn.q_proj</c>.</param>
/// <param name="Kind">The parameter.</param>
public readonly record struct PeftParameterKey(string ModulePath, PeftParameterKind Kind);

/// <summary>Produces and parses the exact state-dict keys PEFT saves for BOFT and OFT Linear layers, and the tensor shapes they must have.</summary>
public static class PeftStateDictKeys
{
    /// <summary>The prefix a <c>PeftModel</c> gives every key (<c>base_model.model.</c>).</summary>
    public const string ModelPrefix = "base_model.model.";

    private static readonly (string Suffix, PeftParameterKind Kind)[] Suffixes =
    [
        (".boft_R", PeftParameterKind.BoftRotation),
        (".boft_s", PeftParameterKind.BoftScale),
        (".oft_R.weight", PeftParameterKind.OftRotationWeight),
        (".boft_P", PeftParameterKind.LegacyBoftPermutation),
        (".oft_r", PeftParameterKind.LegacyOftRotation),
        (".oft_s", PeftParameterKind.LegacyOftScale),
    ];

    /// <summary>The checkpoint key of <paramref name="kind"/> for the module at <paramref name="modulePath"/>, e.g.
    /// <c>base_model.model.model.layers.0.self_attn.q_proj.boft_R</c>.</summary>
    /// <param name="modulePath">The module path inside the base model (dot-separated, no leading or trailing dot).</param>
    /// <param name="kind">The parameter.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException"><paramref name="modulePath"/> is empty or has an empty segment.</exception>
    public static string Create(string modulePath, PeftParameterKind kind)
    {
        ValidateModulePath(modulePath);
        foreach (var (suffix, candidate) in Suffixes)
            if (candidate == kind)
                return ModelPrefix + modulePath + suffix;
        throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown parameter kind.");
    }

    /// <summary><c>base_model.model.&lt;modulePath&gt;.boft_R</c>.</summary>
    /// <param name="modulePath">The module path.</param>
    /// <returns>The key.</returns>
    public static string BoftRotation(string modulePath) => Create(modulePath, PeftParameterKind.BoftRotation);

    /// <summary><c>base_model.model.&lt;modulePath&gt;.boft_s</c>.</summary>
    /// <param name="modulePath">The module path.</param>
    /// <returns>The key.</returns>
    public static string BoftScale(string modulePath) => Create(modulePath, PeftParameterKind.BoftScale);

    /// <summary><c>base_model.model.&lt;modulePath&gt;.oft_R.weight</c>.</summary>
    /// <param name="modulePath">The module path.</param>
    /// <returns>The key.</returns>
    public static string OftRotationWeight(string modulePath) => Create(modulePath, PeftParameterKind.OftRotationWeight);

    /// <summary>Parses a checkpoint key. The <c>base_model.model.</c> prefix is removed from the module path when present.</summary>
    /// <param name="key">The key.</param>
    /// <param name="parsed">The module path and parameter, when the key is a BOFT/OFT adapter key.</param>
    /// <returns>Whether the key names a BOFT/OFT adapter parameter (including the legacy ones).</returns>
    public static bool TryParse(string key, out PeftParameterKey parsed)
    {
        ArgumentNullException.ThrowIfNull(key);
        foreach (var (suffix, kind) in Suffixes)
        {
            if (!key.EndsWith(suffix, StringComparison.Ordinal))
                continue;
            string path = key[..^suffix.Length];
            if (path == ModelPrefix[..^1])
                continue; // "base_model.model.boft_R": the prefix with no module path
            if (path.StartsWith(ModelPrefix, StringComparison.Ordinal))
                path = path[ModelPrefix.Length..];
            if (IsValidModulePath(path))
            {
                parsed = new PeftParameterKey(path, kind);
                return true;
            }
        }
        parsed = default;
        return false;
    }

    /// <summary>
    /// Removes the adapter name from a model state-dict key, as PEFT's <c>_remove_adapter_name_from_state_dict_key</c> does:
    /// <c>….boft_R.default</c> → <c>….boft_R</c> (a parameter: the name is last), <c>….oft_R.default.weight</c> → <c>….oft_R.weight</c>
    /// (a module: the name is second to last); a name in the middle of the path is left alone.
    /// </summary>
    /// <param name="key">The model key.</param>
    /// <param name="adapterName">The adapter name (PEFT's default is <c>default</c>).</param>
    /// <returns>The checkpoint key.</returns>
    public static string RemoveAdapterName(string key, string adapterName)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(adapterName);
        if (!key.Contains('.', StringComparison.Ordinal))
            return key;
        string marker = "." + adapterName;
        if (key.EndsWith(marker, StringComparison.Ordinal))
            return key[..^marker.Length];
        int last = key.LastIndexOf('.');
        string head = key[..last], suffix = key[(last + 1)..];
        head = Regex.Replace(head, Regex.Escape(marker) + "$", string.Empty, RegexOptions.CultureInvariant);
        return head + "." + suffix;
    }

    /// <summary>The model state-dict key (with the adapter name) for a checkpoint key: the inverse of <see cref="RemoveAdapterName"/>
    /// for BOFT/OFT adapter keys (<c>….boft_R</c> → <c>….boft_R.default</c>, <c>….oft_R.weight</c> → <c>….oft_R.default.weight</c>).</summary>
    /// <param name="checkpointKey">A checkpoint key that <see cref="TryParse"/> accepts.</param>
    /// <param name="adapterName">The adapter name.</param>
    /// <returns>The model key.</returns>
    /// <exception cref="ArgumentException"><paramref name="checkpointKey"/> is not a BOFT/OFT adapter key.</exception>
    public static string InsertAdapterName(string checkpointKey, string adapterName)
    {
        ArgumentException.ThrowIfNullOrEmpty(adapterName);
        if (!TryParse(checkpointKey, out PeftParameterKey parsed))
            throw new ArgumentException($"'{checkpointKey}' is not a BOFT/OFT adapter key.", nameof(checkpointKey));
        return parsed.Kind switch
        {
            PeftParameterKind.OftRotationWeight => checkpointKey[..^".weight".Length] + "." + adapterName + ".weight",
            PeftParameterKind.LegacyBoftPermutation => checkpointKey, // a plain buffer of the layer, not per adapter
            _ => checkpointKey + "." + adapterName,
        };
    }

    /// <summary>The shape of <c>boft_R</c>: [m, k, b, b].</summary>
    /// <param name="shape">The resolved BOFT shape.</param>
    /// <returns>The dimensions.</returns>
    public static long[] BoftRotationShape(BoftShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return [shape.FactorCount, shape.BlockCount, shape.BlockSize, shape.BlockSize];
    }

    /// <summary>The shape of <c>boft_s</c> for a Linear layer: [n, 1].</summary>
    /// <param name="outFeatureCount">n, the layer's out-features.</param>
    /// <returns>The dimensions.</returns>
    public static long[] BoftScaleShape(int outFeatureCount) => [outFeatureCount, 1];

    /// <summary>The shape of <c>oft_R.weight</c>: [r_param, b(b−1)/2].</summary>
    /// <param name="shape">The resolved OFT shape.</param>
    /// <returns>The dimensions.</returns>
    public static long[] OftRotationWeightShape(OftShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return [shape.ParameterBlockCount, shape.PackedBlockLength];
    }

    /// <summary>Checks a tensor's shape against the expected one.</summary>
    /// <param name="key">The tensor's key (for the message).</param>
    /// <param name="actual">The tensor's shape.</param>
    /// <param name="expected">The shape the configuration implies.</param>
    /// <exception cref="ArgumentException">The shapes differ; the message names the key and both shapes.</exception>
    public static void ValidateShape(string key, ReadOnlySpan<long> actual, ReadOnlySpan<long> expected)
    {
        if (!actual.SequenceEqual(expected))
            throw new ArgumentException(
                $"'{key}' has shape {SafeTensor.FormatShape(actual)}, but the configuration implies {SafeTensor.FormatShape(expected)}.", nameof(actual));
    }

    internal static void ValidateModulePath(string modulePath)
    {
        ArgumentNullException.ThrowIfNull(modulePath);
        if (!IsValidModulePath(modulePath))
            throw new ArgumentException($"'{modulePath}' is not a module path: it must be non-empty dot-separated names without empty segments.", nameof(modulePath));
    }

    private static bool IsValidModulePath(string path) =>
        path.Length > 0 && path.Split('.').All(segment => segment.Length > 0);
}
