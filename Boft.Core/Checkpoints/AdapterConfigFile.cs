// Reading and writing PEFT's adapter_config.json for BOFT and OFT.
//
// Reading follows PeftConfigMixin.from_pretrained / from_json_file / from_peft_type and the config classes
// (huggingface/peft HEAD 5d602fd: src/peft/config.py, tuners/boft/config.py, tuners/oft/config.py):
//   * "peft_type" is required (MIN_EXPECTED_CONFIG_KEYS); only "BOFT" and "OFT" are supported here.
//   * "runtime_config" is dropped (from_json_file warns and deletes it).
//   * OFT without "oft_block_size" is a pre-0.14 (LyCORIS-style) config: OFTConfig.check_kwargs raises
//     "OFT has been updated since PEFT 0.14.0. ..." (reproduced verbatim).
//   * OFT with use_cayley_neumann and peft_version absent or < 0.18.0: PEFT warns "The cayley-neumann parameterization has
//     been slightly changed ..."; we record the variant (PeftOftAdapterConfig.TrainedNeumannVariant) instead.
//   * Unknown fields: PEFT drops them with a warning (_check_and_remove_unused_kwargs); we keep them in AdditionalFields.
//   * __post_init__ checks (both/neither of block size and count, layers_pattern without layers_to_transform, task type).
// Writing reproduces PeftConfigMixin.save_pretrained: every field (asdict), json.dumps(indent=2, sort_keys=True).

using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Boft.Checkpoints;

/// <summary>Reads and writes PEFT's <c>adapter_config.json</c> for BOFT and OFT adapters.</summary>
public static class AdapterConfigFile
{
    /// <summary>PEFT's file name (<c>CONFIG_NAME</c>, src/peft/utils/constants.py).</summary>
    public const string FileName = "adapter_config.json";

    /// <summary>PEFT's message for an OFT config older than PEFT 0.14 (OFTConfig.check_kwargs).</summary>
    public const string OftBefore014Message =
        "OFT has been updated since PEFT 0.14.0. Your trained adapter weights are incompatible " +
        "with the latest version of OFT. Please retrain your adapter weights with newer PEFT versions. " +
        "Alternatively, downgrade PEFT to version 0.13.0 to use the old adapter weights.";

    private static readonly string[] CommonFields =
    [
        "task_type", "peft_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision", "inference_mode",
        "target_modules", "exclude_modules", "fan_in_fan_out", "bias", "modules_to_save", "init_weights", "layers_to_transform",
        "layers_pattern",
    ];

    private static readonly string[] BoftFields = ["boft_block_size", "boft_block_num", "boft_n_butterfly_factor", "boft_dropout"];

    private static readonly string[] OftFields =
        ["r", "oft_block_size", "module_dropout", "coft", "eps", "block_share", "use_cayley_neumann", "num_cayley_neumann_terms"];

    /// <summary>Reads an <c>adapter_config.json</c> file.</summary>
    /// <param name="path">The file (or a folder containing <see cref="FileName"/>).</param>
    /// <returns>A <see cref="PeftBoftAdapterConfig"/> or <see cref="PeftOftAdapterConfig"/>.</returns>
    /// <exception cref="InvalidDataException">The file is not a valid BOFT/OFT config, or one PEFT rejects; the message names the file and the problem.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static PeftAdapterConfig Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            path = Path.Combine(path, FileName);
        return Parse(File.ReadAllText(path, Encoding.UTF8), path);
    }

    /// <summary>Parses the text of an <c>adapter_config.json</c>.</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="sourceName">A name for messages, e.g. the file path.</param>
    /// <returns>A <see cref="PeftBoftAdapterConfig"/> or <see cref="PeftOftAdapterConfig"/>.</returns>
    /// <exception cref="InvalidDataException">The text is not a valid BOFT/OFT config, or one PEFT rejects.</exception>
    public static PeftAdapterConfig Parse(string json, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(sourceName);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException exception)
        {
            throw Invalid(sourceName, $"it is not valid JSON: {exception.Message}");
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Invalid(sourceName, $"it is a JSON {root.ValueKind}, not an object");
            var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
                if (!fields.TryAdd(property.Name, property.Value.Clone()))
                    throw Invalid(sourceName, $"the key '{property.Name}' appears twice");
            fields.Remove("runtime_config");

            if (!fields.TryGetValue("peft_type", out JsonElement type))
                throw Invalid(sourceName, "it has no 'peft_type' (PEFT requires it)");
            string? peftType = type.ValueKind == JsonValueKind.String ? type.GetString() : null;
            var reader = new FieldReader(fields, sourceName);
            PeftAdapterConfig config = peftType switch
            {
                "BOFT" => ReadBoft(reader),
                "OFT" => ReadOft(reader, fields, sourceName),
                _ => throw Invalid(sourceName, $"peft_type {type.GetRawText()} is not supported: this library reads only \"BOFT\" and \"OFT\" adapters"),
            };
            try
            {
                config.Validate();
            }
            catch (ArgumentException exception)
            {
                throw Invalid(sourceName, exception.Message);
            }
            return config;
        }
    }

    /// <summary>The JSON text PEFT would write for <paramref name="config"/>: every field, keys sorted, two-space indentation,
    /// Python's number and string spelling, no trailing newline.</summary>
    /// <param name="config">The configuration.</param>
    /// <returns>The JSON text.</returns>
    /// <exception cref="ArgumentException">The configuration is one PEFT rejects.</exception>
    public static string ToJson(PeftAdapterConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var root = new JsonObject();
        foreach (var pair in config.AdditionalFields)
            root[pair.Key] = JsonNode.Parse(pair.Value.GetRawText());
        root["task_type"] = config.TaskType;
        root["peft_type"] = config.PeftType;
        root["auto_mapping"] = config.AutoMapping is { } autoMapping ? JsonNode.Parse(autoMapping.GetRawText()) : null;
        if (config.PeftVersion is not null)
            root["peft_version"] = config.PeftVersion;
        root["base_model_name_or_path"] = config.BaseModelNameOrPath;
        root["revision"] = config.Revision;
        root["inference_mode"] = config.InferenceMode;
        root["target_modules"] = Selection(config.TargetModules);
        root["exclude_modules"] = Selection(config.ExcludeModules);
        root["fan_in_fan_out"] = config.FanInFanOut;
        root["bias"] = config.Bias;
        root["modules_to_save"] = config.ModulesToSave is null ? null : new JsonArray(config.ModulesToSave.Select(m => (JsonNode?)m).ToArray());
        root["init_weights"] = config.InitWeights;
        root["layers_to_transform"] = config.LayersToTransform is null ? null : new JsonArray(config.LayersToTransform.Select(i => (JsonNode?)i).ToArray());
        root["layers_pattern"] = Selection(config.LayersPattern);
        switch (config)
        {
            case PeftBoftAdapterConfig boft:
                root["boft_block_size"] = boft.BoftBlockSize;
                root["boft_block_num"] = boft.BoftBlockNum;
                root["boft_n_butterfly_factor"] = boft.BoftNButterflyFactor;
                root["boft_dropout"] = boft.BoftDropout;
                break;
            case PeftOftAdapterConfig oft:
                root["r"] = oft.R;
                root["oft_block_size"] = oft.OftBlockSize;
                root["module_dropout"] = oft.ModuleDropout;
                root["coft"] = oft.Coft;
                root["eps"] = oft.Eps;
                root["block_share"] = oft.BlockShare;
                root["use_cayley_neumann"] = oft.UseCayleyNeumann;
                root["num_cayley_neumann_terms"] = oft.NumCayleyNeumannTerms;
                break;
            default:
                throw new ArgumentException($"Unsupported config type {config.GetType().Name}.", nameof(config));
        }
        return PythonJson.Dumps(root);
    }

    /// <summary>Writes <paramref name="config"/> atomically (temporary file, flush to disk, rename) in PEFT's format.</summary>
    /// <param name="config">The configuration.</param>
    /// <param name="path">The destination file (or an existing folder, which receives <see cref="FileName"/>).</param>
    /// <exception cref="ArgumentException">The configuration is one PEFT rejects.</exception>
    /// <exception cref="IOException">The file cannot be written; an existing file is then left untouched.</exception>
    public static void Write(PeftAdapterConfig config, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            path = Path.Combine(path, FileName);
        byte[] bytes = Encoding.UTF8.GetBytes(ToJson(config));
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    private static JsonNode? Selection(PeftModuleSelection? selection) =>
        selection switch
        {
            null => null,
            { Pattern: { } pattern } => pattern,
            _ => new JsonArray(selection.Names!.Select(n => (JsonNode?)n).ToArray()),
        };

    private static PeftBoftAdapterConfig ReadBoft(FieldReader reader)
    {
        var config = new PeftBoftAdapterConfig
        {
            BoftBlockSize = reader.Int("boft_block_size", 4),
            BoftBlockNum = reader.Int("boft_block_num", 0),
            BoftNButterflyFactor = reader.Int("boft_n_butterfly_factor", 1),
            BoftDropout = reader.Real("boft_dropout", 0.0),
        };
        return ReadCommon(reader, config, BoftFields);
    }

    private static PeftOftAdapterConfig ReadOft(FieldReader reader, Dictionary<string, JsonElement> fields, string sourceName)
    {
        if (!fields.ContainsKey("oft_block_size"))
            throw Invalid(sourceName, OftBefore014Message);
        var config = new PeftOftAdapterConfig
        {
            R = reader.Int("r", 0),
            OftBlockSize = reader.Int("oft_block_size", 32),
            ModuleDropout = reader.Real("module_dropout", 0.0),
            Coft = reader.Bool("coft", false),
            Eps = reader.Real("eps", 6e-5),
            BlockShare = reader.Bool("block_share", false),
            UseCayleyNeumann = reader.Bool("use_cayley_neumann", true),
            NumCayleyNeumannTerms = reader.Int("num_cayley_neumann_terms", 5),
        };
        return ReadCommon(reader, config, OftFields);
    }

    private static T ReadCommon<T>(FieldReader reader, T config, string[] ownFields)
        where T : PeftAdapterConfig
    {
        var known = new HashSet<string>(CommonFields.Concat(ownFields), StringComparer.Ordinal);
        PeftAdapterConfig common = config;
        return (T)(common with
        {
            TaskType = reader.OptionalString("task_type"),
            PeftVersion = reader.OptionalString("peft_version"),
            AutoMapping = reader.OptionalObject("auto_mapping"),
            BaseModelNameOrPath = reader.OptionalString("base_model_name_or_path"),
            Revision = reader.OptionalString("revision"),
            InferenceMode = reader.Bool("inference_mode", false),
            TargetModules = reader.Selection("target_modules"),
            ExcludeModules = reader.Selection("exclude_modules"),
            FanInFanOut = reader.Bool("fan_in_fan_out", false),
            Bias = reader.OptionalString("bias") ?? "none",
            ModulesToSave = reader.Selection("modules_to_save") is { } save
                ? save.Names ?? throw reader.Error("modules_to_save", "a list of module names")
                : null,
            InitWeights = reader.Bool("init_weights", true),
            LayersToTransform = reader.IntegerList("layers_to_transform"),
            LayersPattern = reader.Selection("layers_pattern"),
            AdditionalFields = reader.Unknown(known),
        });
    }

    private static InvalidDataException Invalid(string sourceName, string problem) =>
        new($"Invalid PEFT adapter config '{sourceName}': {problem}");

    /// <summary>Typed access to the fields, with errors that name the file and the field.</summary>
    private sealed class FieldReader(Dictionary<string, JsonElement> fields, string sourceName)
    {
        public int Int(string name, int fallback)
        {
            if (!fields.TryGetValue(name, out JsonElement value))
                return fallback;
            return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int result) ? result : throw Error(name, "an integer", value);
        }

        public double Real(string name, double fallback)
        {
            if (!fields.TryGetValue(name, out JsonElement value))
                return fallback;
            return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double result) ? result : throw Error(name, "a number", value);
        }

        public bool Bool(string name, bool fallback)
        {
            if (!fields.TryGetValue(name, out JsonElement value))
                return fallback;
            return value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(name, "true or false", value),
            };
        }

        public string? OptionalString(string name)
        {
            if (!fields.TryGetValue(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
                return null;
            return value.ValueKind == JsonValueKind.String ? value.GetString() : throw Error(name, "a string or null", value);
        }

        public JsonElement? OptionalObject(string name)
        {
            if (!fields.TryGetValue(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
                return null;
            return value.ValueKind == JsonValueKind.Object ? value : throw Error(name, "an object or null", value);
        }

        public PeftModuleSelection? Selection(string name)
        {
            if (!fields.TryGetValue(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
                return null;
            if (value.ValueKind == JsonValueKind.String)
                return PeftModuleSelection.FromPattern(value.GetString()!);
            if (value.ValueKind != JsonValueKind.Array)
                throw Error(name, "a string, a list of strings or null", value);
            var names = new List<string>();
            foreach (JsonElement item in value.EnumerateArray())
                names.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw Error(name, "a string, a list of strings or null", value));
            return PeftModuleSelection.FromNames(names);
        }

        public IReadOnlyList<int>? IntegerList(string name)
        {
            if (!fields.TryGetValue(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
                return null;
            if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int single))
                return [single];
            if (value.ValueKind != JsonValueKind.Array)
                throw Error(name, "an integer, a list of integers or null", value);
            var list = new List<int>();
            foreach (JsonElement item in value.EnumerateArray())
                list.Add(item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out int index) ? index : throw Error(name, "an integer, a list of integers or null", value));
            return list;
        }

        public Dictionary<string, JsonElement> Unknown(HashSet<string> known) =>
            fields.Where(pair => !known.Contains(pair.Key)).ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal);

        public InvalidDataException Error(string name, string expected, JsonElement? value = null) =>
            Invalid(sourceName, value is { } element
                ? $"field '{name}' must be {expected}, but it is {element.GetRawText()}"
                : $"field '{name}' must be {expected}");
    }
}
