// A PEFT adapter folder: adapter_config.json + adapter_model.safetensors (huggingface/peft src/peft/utils/constants.py
// CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME), as PeftModel.save_pretrained writes it (src/peft/peft_model.py):
//   safe_save_file(state_dict, "adapter_model.safetensors", metadata={"format": "pt"}), then the config with
//   inference_mode = True. The state dict holds get_peft_model_state_dict's keys (see PeftStateDictKeys).
// Loading mirrors set_peft_model_state_dict + BaseTuner._remap_adapter_state_dict_for_load and OFTModel's override
// (src/peft/tuners/oft/model.py), which rejects PEFT 0.14-0.15 OFT keys (".oft_r.") with the message reproduced below.
// Independent of layer classes: plain float arrays (row-major, PEFT's shapes) and feature counts.

namespace Boft.Checkpoints;

/// <summary>The in- and out-features of one adapted Linear layer.</summary>
/// <param name="InFeatureCount">d, the layer's in-features.</param>
/// <param name="OutFeatureCount">n, the layer's out-features.</param>
public readonly record struct LayerFeatureCounts(int InFeatureCount, int OutFeatureCount);

/// <summary>The adapter parameters of one adapted Linear layer, as plain row-major arrays in PEFT's shapes.</summary>
/// <param name="InFeatureCount">d, the layer's in-features.</param>
public abstract record AdapterModuleWeights(int InFeatureCount);

/// <summary>BOFT parameters of one Linear layer.</summary>
/// <param name="InFeatureCount">d, the layer's in-features.</param>
/// <param name="OutFeatureCount">n, the layer's out-features.</param>
/// <param name="Rotation"><c>boft_R</c>, m·k·b·b raw block values, shape [m, k, b, b].</param>
/// <param name="Scale"><c>boft_s</c>, n values, shape [n, 1].</param>
public sealed record BoftModuleWeights(int InFeatureCount, int OutFeatureCount, float[] Rotation, float[] Scale)
    : AdapterModuleWeights(InFeatureCount)
{
    /// <summary>True for an adapted Conv2d: <c>boft_s</c> is stored [1, n] as PEFT's BOFT Conv2d does (Linear: [n, 1]), and
    /// InFeatureCount is the kernel dimension d = (C_in/groups)·kh·kw.</summary>
    public bool Conv2dLayout { get; init; }

    /// <summary>The stored shape of <c>boft_s</c>: [n, 1] (Linear) or [1, n] (Conv2d).</summary>
    public long[] ScaleShape => Conv2dLayout ? [1, OutFeatureCount] : PeftStateDictKeys.BoftScaleShape(OutFeatureCount);
}

/// <summary>OFT (PEFT ≥ 0.16) parameters of one Linear layer.</summary>
/// <param name="InFeatureCount">d, the layer's in-features.</param>
/// <param name="Weight"><c>oft_R.weight</c>, r_param·b(b−1)/2 packed values, shape [r_param, b(b−1)/2].</param>
public sealed record OftModuleWeights(int InFeatureCount, float[] Weight) : AdapterModuleWeights(InFeatureCount);

/// <summary>
/// A PEFT-compatible BOFT or OFT adapter: its <c>adapter_config.json</c> and, per adapted Linear module path, the adapter
/// parameters, plus any other tensors of the checkpoint (saved biases, <c>modules_to_save</c>), kept as they are.
/// Construction validates every array against the configuration.
/// </summary>
public sealed class AdapterCheckpoint
{
    /// <summary>PEFT's weights file name (<c>SAFETENSORS_WEIGHTS_NAME</c>).</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>PEFT's pickle weights file name (<c>WEIGHTS_NAME</c>), which this library does not read.</summary>
    public const string PickleWeightsFileName = "adapter_model.bin";

    /// <summary>PEFT's message for a PEFT 0.14–0.15 OFT checkpoint (OFTModel._remap_adapter_state_dict_for_load).</summary>
    public const string OldOftCheckpointMessage =
        "Trying to load old OFT checkpoint, which is no longer supported. Please install PEFT <= v0.15.2 to load it or train a new OFT adapter.";

    private readonly SortedDictionary<string, AdapterModuleWeights> modules;

    /// <summary>Creates a checkpoint, validating every module's arrays against <paramref name="config"/>.</summary>
    /// <param name="config">The adapter configuration (<see cref="PeftBoftAdapterConfig"/> or <see cref="PeftOftAdapterConfig"/>).</param>
    /// <param name="modules">Module path → parameters; <see cref="BoftModuleWeights"/> for BOFT, <see cref="OftModuleWeights"/> for OFT.
    /// The arrays are not copied.</param>
    /// <param name="additionalTensors">Other tensors to save under their own names (e.g. <c>base_model.model.x.base_layer.bias</c>), or null.</param>
    /// <exception cref="ArgumentException">The configuration is invalid, a module path is invalid, a module's type does not match the
    /// configuration, a layer's in-features are invalid for it, or an array's length does not match its shape (the message names the
    /// argument and both shapes); or an additional tensor's name collides with an adapter key.</exception>
    public AdapterCheckpoint(PeftAdapterConfig config, IReadOnlyDictionary<string, AdapterModuleWeights> modules, IEnumerable<SafeTensor>? additionalTensors = null)
        : this(config, modules, additionalTensors?.ToList() ?? [], [])
    {
    }

    private AdapterCheckpoint(PeftAdapterConfig config, IReadOnlyDictionary<string, AdapterModuleWeights> modules, List<SafeTensor> additionalTensors, List<string> ignoredKeys)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(modules);
        config.Validate();
        Config = config;
        this.modules = new SortedDictionary<string, AdapterModuleWeights>(StringComparer.Ordinal);
        foreach (var (path, weights) in modules)
        {
            PeftStateDictKeys.ValidateModulePath(path);
            ArgumentNullException.ThrowIfNull(weights, nameof(modules));
            ValidateModule(config, path, weights);
            this.modules.Add(path, weights);
        }
        var adapterKeys = new HashSet<string>(this.modules.Keys.SelectMany(path => KeysOf(config, path)), StringComparer.Ordinal);
        foreach (SafeTensor tensor in additionalTensors)
        {
            ArgumentNullException.ThrowIfNull(tensor, nameof(additionalTensors));
            if (adapterKeys.Contains(tensor.Name))
                throw new ArgumentException($"Additional tensor '{tensor.Name}' has the key of an adapter parameter.", nameof(additionalTensors));
        }
        AdditionalTensors = additionalTensors;
        IgnoredKeys = ignoredKeys;
    }

    /// <summary>The adapter configuration.</summary>
    public PeftAdapterConfig Config { get; }

    /// <summary>Module path → parameters, sorted by path (ordinal).</summary>
    public IReadOnlyDictionary<string, AdapterModuleWeights> Modules => modules;

    /// <summary>Tensors that are not BOFT/OFT parameters (saved biases, <c>modules_to_save</c>), saved and loaded unchanged.</summary>
    public IReadOnlyList<SafeTensor> AdditionalTensors { get; }

    /// <summary>Keys skipped when loading: <c>boft_P</c> buffers that PEFT 0.11–0.12 saved (they are derived from the shape).</summary>
    public IReadOnlyList<string> IgnoredKeys { get; }

    /// <summary>The tensors PEFT's <c>get_peft_model_state_dict</c> would produce, with PEFT's keys, plus <see cref="AdditionalTensors"/>.</summary>
    /// <param name="elementType">The stored type of the adapter parameters: <see cref="SafeTensorsElementType.Float32"/> (PEFT's usual,
    /// exact), <see cref="SafeTensorsElementType.Float64"/> (exact), <see cref="SafeTensorsElementType.BFloat16"/> or
    /// <see cref="SafeTensorsElementType.Float16"/> (rounded to nearest, ties to even). <see cref="AdditionalTensors"/> keep their own types.</param>
    /// <returns>The tensors, adapter parameters first by module path.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not F32, F64, BF16 or F16.</exception>
    /// <exception cref="OverflowException">A parameter value is too large for BF16 or F16 (it would be stored as infinity); the message
    /// names the tensor, the flat index and the value.</exception>
    public IReadOnlyList<SafeTensor> ToStateDict(SafeTensorsElementType elementType = SafeTensorsElementType.Float32)
    {
        if (!IsStoredParameterType(elementType))
            throw new ArgumentOutOfRangeException(nameof(elementType), elementType,
                $"Adapter parameters are stored as F32, F64, BF16 or F16, not {SafeTensorsElementTypes.GetName(elementType)}.");
        var tensors = new List<SafeTensor>();
        foreach (var (path, weights) in modules)
        {
            switch (weights)
            {
                case BoftModuleWeights boft:
                    BoftShape shape = ((PeftBoftAdapterConfig)Config).ToBoftConfig(boft.InFeatureCount).Resolve();
                    tensors.Add(Tensor(PeftStateDictKeys.BoftRotation(path), PeftStateDictKeys.BoftRotationShape(shape), boft.Rotation, elementType));
                    tensors.Add(Tensor(PeftStateDictKeys.BoftScale(path), boft.ScaleShape, boft.Scale, elementType));
                    break;
                case OftModuleWeights oft:
                    OftShape oftShape = ((PeftOftAdapterConfig)Config).ToOftConfig(oft.InFeatureCount).Resolve();
                    tensors.Add(Tensor(PeftStateDictKeys.OftRotationWeight(path), PeftStateDictKeys.OftRotationWeightShape(oftShape), oft.Weight, elementType));
                    break;
            }
        }
        tensors.AddRange(AdditionalTensors);
        return tensors;
    }

    /// <summary>
    /// Saves the adapter folder: <see cref="WeightsFileName"/> (metadata <c>{"format": "pt"}</c>, as PEFT writes) and
    /// <see cref="AdapterConfigFile.FileName"/> (with <c>inference_mode</c> true, as <c>PeftModel.save_pretrained</c> writes).
    /// All or nothing: both files are written into a staging folder beside <paramref name="directory"/> and flushed to disk, then
    /// the folders are swapped with two renames; other files of the folder are kept. Whichever step fails, and even when the
    /// process is killed between two steps, the folder afterwards holds the complete previous checkpoint or the complete new one,
    /// never a mix (a half-finished swap is completed by the next <see cref="Load(string, IReadOnlyDictionary{string, LayerFeatureCounts}?, bool)"/> or <see cref="Save(string, SafeTensorsElementType)"/>; docs/08_Guarantees.md).
    /// </summary>
    /// <param name="directory">The folder (created when missing).</param>
    /// <param name="elementType">The stored type of the adapter parameters: F32 (default, as PEFT saves float32 adapters), F64, BF16 or
    /// F16; the 16-bit types round each float32 value to nearest, ties to even (docs/05_Checkpoints.md, "Stored types").</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not F32, F64, BF16 or F16.</exception>
    /// <exception cref="ArgumentException">A parameter holds a NaN or infinite value (the message names the module, the parameter and
    /// the first index); nothing is written.</exception>
    /// <exception cref="OverflowException">A parameter value is too large for BF16 or F16 and would be stored as infinity (the message
    /// names the tensor, the index and the value); nothing is written.</exception>
    /// <exception cref="IOException">A file cannot be written; the previous checkpoint is then left as it was.</exception>
    public void Save(string directory, SafeTensorsElementType elementType = SafeTensorsElementType.Float32) =>
        Save(directory, elementType, CheckpointFileSystem.Default);

    internal void Save(string directory, SafeTensorsElementType elementType, CheckpointFileSystem fileSystem)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ThrowIfNonFinite();
        IReadOnlyList<SafeTensor> tensors = ToStateDict(elementType);
        List<SafeTensor> ordered = SafeTensorsFile.Order(tensors);
        byte[] configBytes = System.Text.Encoding.UTF8.GetBytes(AdapterConfigFile.ToJson(Config with { InferenceMode = true }));
        AtomicFolder.Replace(directory,
            [(WeightsFileName, stream => SafeTensorsFile.WriteTo(ordered, PeftMetadata, stream)), (AdapterConfigFile.FileName, stream => stream.Write(configBytes))],
            fileSystem);
    }

    /// <summary>Throws when an adapter parameter or a floating-point additional tensor holds a NaN or infinity.</summary>
    private void ThrowIfNonFinite()
    {
        foreach (var (path, weights) in modules)
        {
            switch (weights)
            {
                case BoftModuleWeights boft:
                    ThrowIfNonFinite(boft.Rotation, PeftStateDictKeys.BoftRotation(path));
                    ThrowIfNonFinite(boft.Scale, PeftStateDictKeys.BoftScale(path));
                    break;
                case OftModuleWeights oft:
                    ThrowIfNonFinite(oft.Weight, PeftStateDictKeys.OftRotationWeight(path));
                    break;
            }
        }
        foreach (SafeTensor tensor in AdditionalTensors)
        {
            if (tensor.IsDeferred || tensor.ElementType is not (SafeTensorsElementType.Float16 or SafeTensorsElementType.BFloat16 or SafeTensorsElementType.Float32 or SafeTensorsElementType.Float64))
                continue;
            double[] values = tensor.ToDoubleArray();
            int index = Array.FindIndex(values, v => !double.IsFinite(v));
            if (index >= 0)
                throw new ArgumentException($"Cannot save the checkpoint: tensor '{tensor.Name}' holds {values[index]} at flat index {index}; a checkpoint must hold finite values. Nothing was written.", nameof(AdditionalTensors));
        }
    }

    private static void ThrowIfNonFinite(float[] values, string key)
    {
        int index = Array.FindIndex(values, v => !float.IsFinite(v));
        if (index >= 0)
            throw new ArgumentException(
                $"Cannot save the checkpoint: '{key}' holds {values[index]} at flat index {index} ({values.Count(v => !float.IsFinite(v))} non-finite values in all); " +
                "a checkpoint must hold finite values. Nothing was written. Find the step that produced them (Optimizer.NonFiniteGradients, AnomalyDetection.Enable()).", "modules");
    }

    /// <summary>The <c>__metadata__</c> PEFT writes: <c>{"format": "pt"}</c>.</summary>
    public static IReadOnlyDictionary<string, string> PeftMetadata { get; } = new Dictionary<string, string> { ["format"] = "pt" };

    /// <summary>Loads an adapter folder written by PEFT (or by <see cref="Save(string, SafeTensorsElementType)"/>), validating every tensor's shape against the config.</summary>
    /// <param name="directory">The folder with <see cref="AdapterConfigFile.FileName"/> and <see cref="WeightsFileName"/>.</param>
    /// <param name="layerFeatureCounts">Module path → in/out features of the model's layers, or null to infer them from the tensor shapes
    /// (not possible for block-shared OFT, whose weight does not determine d). When given, every adapted module must be listed.</param>
    /// <returns>The checkpoint; values are converted to float (F16/BF16/F32 exactly, F64 rounded to nearest).</returns>
    /// <exception cref="InvalidDataException">A file is invalid, the config is one PEFT rejects, a key or shape does not fit the config
    /// (the message names the file, the key and both shapes), or the checkpoint is from an incompatible PEFT version.</exception>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <remarks>A save that was interrupted (the process killed mid-swap) is completed or undone first (see <see cref="Save(string, SafeTensorsElementType)"/>).
    /// Adapter parameters holding NaN, ±Inf or values outside the float range (which would become ±Inf) are refused unless
    /// <paramref name="allowNonFinite"/> is true.</remarks>
    /// <param name="allowNonFinite">Accept non-finite and out-of-range parameter values (they are then converted as they are).</param>
    public static AdapterCheckpoint Load(string directory, IReadOnlyDictionary<string, LayerFeatureCounts>? layerFeatureCounts = null, bool allowNonFinite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        RecoverInterruptedSave(directory);
        string configPath = Path.Combine(directory, AdapterConfigFile.FileName), weightsPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"The adapter folder '{directory}' has no {AdapterConfigFile.FileName}.", configPath);
        if (!File.Exists(weightsPath))
        {
            string hint = File.Exists(Path.Combine(directory, PickleWeightsFileName))
                ? $" It has {PickleWeightsFileName}, a PyTorch pickle this library does not read; save the adapter with safe_serialization=True."
                : string.Empty;
            throw new FileNotFoundException($"The adapter folder '{directory}' has no {WeightsFileName}.{hint}", weightsPath);
        }
        PeftAdapterConfig config = AdapterConfigFile.Read(configPath);
        SafeTensorsContent content = SafeTensorsFile.Read(weightsPath);
        return FromStateDict(config, content.Tensors, layerFeatureCounts, weightsPath, allowNonFinite);
    }

    /// <summary>Completes or undoes a save of <paramref name="directory"/> that a killed process left half-finished; a folder that
    /// cannot be changed (read-only) is read as it is.</summary>
    private static void RecoverInterruptedSave(string directory)
    {
        try
        {
            AtomicFolder.Recover(directory, CheckpointFileSystem.Default);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Read-only media: the folder is read as it is (it holds the previous or the new checkpoint, or is missing).
        }
    }

    /// <summary>Builds a checkpoint from PEFT-keyed tensors (e.g. a safetensors file's content), validating keys and shapes.</summary>
    /// <param name="config">The adapter configuration.</param>
    /// <param name="tensors">The tensors with PEFT checkpoint keys.</param>
    /// <param name="layerFeatureCounts">Module path → in/out features, or null to infer them from the shapes (see <see cref="Load(string, IReadOnlyDictionary{string, LayerFeatureCounts}?, bool)"/>).</param>
    /// <param name="sourceName">A name for messages, e.g. the weights file path.</param>
    /// <param name="allowNonFinite">Accept NaN, ±Inf and out-of-float-range parameter values; refused by default.</param>
    /// <returns>The checkpoint.</returns>
    /// <exception cref="InvalidDataException">A key or shape does not fit the config, a parameter is missing, or the tensors are from an
    /// incompatible PEFT version; the message names the source, the key and both shapes.</exception>
    public static AdapterCheckpoint FromStateDict(PeftAdapterConfig config, IEnumerable<SafeTensor> tensors,
        IReadOnlyDictionary<string, LayerFeatureCounts>? layerFeatureCounts, string sourceName, bool allowNonFinite = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(sourceName);
        bool isBoft = config is PeftBoftAdapterConfig;
        var parameters = new SortedDictionary<string, Dictionary<PeftParameterKind, SafeTensor>>(StringComparer.Ordinal);
        var additional = new List<SafeTensor>();
        var ignored = new List<string>();
        foreach (SafeTensor tensor in tensors)
        {
            if (!PeftStateDictKeys.TryParse(tensor.Name, out PeftParameterKey key))
            {
                additional.Add(tensor);
                continue;
            }
            switch (key.Kind)
            {
                case PeftParameterKind.LegacyOftRotation or PeftParameterKind.LegacyOftScale when !isBoft:
                    throw Invalid(sourceName, $"tensor '{tensor.Name}' is a PEFT 0.14-0.15 OFT parameter. {OldOftCheckpointMessage}");
                case PeftParameterKind.LegacyBoftPermutation when isBoft:
                    ignored.Add(tensor.Name);
                    continue;
                case PeftParameterKind.BoftRotation or PeftParameterKind.BoftScale when isBoft:
                case PeftParameterKind.OftRotationWeight when !isBoft:
                    break;
                default:
                    throw Invalid(sourceName, $"tensor '{tensor.Name}' is a {(isBoft ? "non-BOFT" : "non-OFT")} adapter parameter, but the adapter config's peft_type is {config.PeftType}");
            }
            if (!SafeTensorsElementTypes.IsConvertibleToReal(tensor.ElementType) ||
                tensor.ElementType is not (SafeTensorsElementType.Float16 or SafeTensorsElementType.BFloat16 or SafeTensorsElementType.Float32 or SafeTensorsElementType.Float64))
                throw Invalid(sourceName, $"tensor '{tensor.Name}' has type {SafeTensorsElementTypes.GetName(tensor.ElementType)}; adapter parameters must be F16, BF16, F32 or F64");
            if (!parameters.TryGetValue(key.ModulePath, out var byKind))
                parameters[key.ModulePath] = byKind = [];
            if (!byKind.TryAdd(key.Kind, tensor))
                throw Invalid(sourceName, $"module '{key.ModulePath}' has two '{key.Kind}' tensors ('{byKind[key.Kind].Name}' and '{tensor.Name}')");
        }

        var weights = new Dictionary<string, AdapterModuleWeights>(StringComparer.Ordinal);
        foreach (var (path, byKind) in parameters)
        {
            LayerFeatureCounts? given = null;
            if (layerFeatureCounts is not null)
            {
                if (!layerFeatureCounts.TryGetValue(path, out LayerFeatureCounts counts))
                    throw Invalid(sourceName, $"the checkpoint adapts module '{path}', which is not among the given layers");
                given = counts;
            }
            weights[path] = isBoft
                ? ReadBoftModule((PeftBoftAdapterConfig)config, path, byKind, given, sourceName)
                : ReadOftModule((PeftOftAdapterConfig)config, path, byKind[PeftParameterKind.OftRotationWeight], given, sourceName);
            if (!allowNonFinite)
                foreach (SafeTensor tensor in byKind.Values)
                    ThrowIfNotRepresentable(tensor, sourceName);
        }
        try
        {
            return new AdapterCheckpoint(config, weights, additional, ignored);
        }
        catch (ArgumentException exception)
        {
            throw Invalid(sourceName, exception.Message);
        }
    }

    private static BoftModuleWeights ReadBoftModule(PeftBoftAdapterConfig config, string path,
        Dictionary<PeftParameterKind, SafeTensor> byKind, LayerFeatureCounts? given, string sourceName)
    {
        if (!byKind.TryGetValue(PeftParameterKind.BoftRotation, out SafeTensor? rotation))
            throw Invalid(sourceName, $"module '{path}' has boft_s but no '{PeftStateDictKeys.BoftRotation(path)}'");
        if (!byKind.TryGetValue(PeftParameterKind.BoftScale, out SafeTensor? scale))
            throw Invalid(sourceName, $"module '{path}' has boft_R but no '{PeftStateDictKeys.BoftScale(path)}'");
        ReadOnlySpan<long> rotationShape = rotation.Shape, scaleShape = scale.Shape;
        int inFeatures, outFeatures;
        if (given is { } counts)
        {
            (inFeatures, outFeatures) = (counts.InFeatureCount, counts.OutFeatureCount);
        }
        else
        {
            if (rotationShape.Length != 4 || rotationShape[1] > int.MaxValue || rotationShape[2] > int.MaxValue || rotationShape[1] * rotationShape[2] > int.MaxValue)
                throw Invalid(sourceName, $"'{rotation.Name}' has shape {SafeTensor.FormatShape(rotationShape)}, not [m, k, b, b]");
            if (scaleShape.Length != 2 || scaleShape[0] > int.MaxValue || scaleShape[1] > int.MaxValue || (scaleShape[0] != 1 && scaleShape[1] != 1))
                throw Invalid(sourceName, $"'{scale.Name}' has shape {SafeTensor.FormatShape(scaleShape)}, not [n, 1] (Linear) or [1, n] (Conv2d)");
            inFeatures = (int)(rotationShape[1] * rotationShape[2]);
            outFeatures = (int)(scaleShape[1] == 1 ? scaleShape[0] : scaleShape[1]);
        }
        // PEFT's BOFT Conv2d stores boft_s as [1, n]; Linear as [n, 1] (n = 1 reads as Linear: the same data either way).
        bool conv2dLayout = scaleShape.Length == 2 && scaleShape[0] == 1 && scaleShape[1] != 1;
        BoftShape shape;
        try
        {
            shape = config.ToBoftConfig(inFeatures).Resolve();
        }
        catch (ArgumentException exception)
        {
            throw Invalid(sourceName, $"module '{path}' with in_features {inFeatures} does not fit the adapter config: {exception.Message}");
        }
        long[] expectedRotation = PeftStateDictKeys.BoftRotationShape(shape);
        if (!rotationShape.SequenceEqual(expectedRotation))
        {
            string hint = rotationShape.Length == 4 && rotationShape[0] == 1 && shape.FactorCount > 1 && rotationShape[1..].SequenceEqual(expectedRotation.AsSpan(1))
                ? " (PEFT without its fbd CUDA extension silently trains boft_n_butterfly_factor = 1 and saves such a tensor; the config's m does not describe it)"
                : string.Empty;
            throw Invalid(sourceName, $"'{rotation.Name}' has shape {SafeTensor.FormatShape(rotationShape)}, but the adapter config with in_features {inFeatures} implies {SafeTensor.FormatShape(expectedRotation)}{hint}");
        }
        long[] expectedScale = conv2dLayout ? [1, outFeatures] : PeftStateDictKeys.BoftScaleShape(outFeatures);
        if (!scaleShape.SequenceEqual(expectedScale))
            throw Invalid(sourceName, $"'{scale.Name}' has shape {SafeTensor.FormatShape(scaleShape)}, but out_features {outFeatures} implies {SafeTensor.FormatShape(expectedScale)}");
        return new BoftModuleWeights(inFeatures, outFeatures, rotation.ToSingleArray(), scale.ToSingleArray()) { Conv2dLayout = conv2dLayout };
    }

    private static OftModuleWeights ReadOftModule(PeftOftAdapterConfig config, string path, SafeTensor weight, LayerFeatureCounts? given, string sourceName)
    {
        ReadOnlySpan<long> weightShape = weight.Shape;
        int inFeatures;
        if (given is { } counts)
        {
            inFeatures = counts.InFeatureCount;
        }
        else
        {
            if (weightShape.Length != 2)
                throw Invalid(sourceName, $"'{weight.Name}' has shape {SafeTensor.FormatShape(weightShape)}, not [r, b(b-1)/2]");
            if (config.BlockShare)
                throw Invalid(sourceName, $"the in_features of module '{path}' cannot be inferred from the block-shared weight '{weight.Name}' {SafeTensor.FormatShape(weightShape)}; pass the layers' feature counts");
            long packed = weightShape[1];
            long blockSize = (long)Math.Round((1 + Math.Sqrt(1 + 8.0 * packed)) / 2);
            if (blockSize * (blockSize - 1) / 2 != packed || weightShape[0] > int.MaxValue || blockSize > int.MaxValue || weightShape[0] * blockSize > int.MaxValue)
                throw Invalid(sourceName, $"'{weight.Name}' has shape {SafeTensor.FormatShape(weightShape)}, whose last dimension is not b(b-1)/2 for any block size b");
            inFeatures = (int)(weightShape[0] * blockSize);
        }
        OftShape shape;
        try
        {
            shape = config.ToOftConfig(inFeatures).Resolve();
        }
        catch (ArgumentException exception)
        {
            throw Invalid(sourceName, $"module '{path}' with in_features {inFeatures} does not fit the adapter config: {exception.Message}");
        }
        long[] expected = PeftStateDictKeys.OftRotationWeightShape(shape);
        if (!weightShape.SequenceEqual(expected))
            throw Invalid(sourceName, $"'{weight.Name}' has shape {SafeTensor.FormatShape(weightShape)}, but the adapter config with in_features {inFeatures} implies {SafeTensor.FormatShape(expected)}");
        return new OftModuleWeights(inFeatures, weight.ToSingleArray());
    }

    private static void ValidateModule(PeftAdapterConfig config, string path, AdapterModuleWeights weights)
    {
        string argument = $"modules[\"{path}\"]";
        switch (config, weights)
        {
            case (PeftBoftAdapterConfig boftConfig, BoftModuleWeights boft):
            {
                BoftShape shape = ResolveOrThrow(() => boftConfig.ToBoftConfig(boft.InFeatureCount).Resolve(), argument, path, boft.InFeatureCount);
                if (boft.OutFeatureCount <= 0)
                    throw new ArgumentException($"{argument}.OutFeatureCount is {boft.OutFeatureCount}; it must be positive.", argument);
                CheckLength(boft.Rotation, PeftStateDictKeys.BoftRotationShape(shape), $"{argument}.Rotation", "boft_R");
                CheckLength(boft.Scale, PeftStateDictKeys.BoftScaleShape(boft.OutFeatureCount), $"{argument}.Scale", "boft_s");
                break;
            }
            case (PeftOftAdapterConfig oftConfig, OftModuleWeights oft):
            {
                OftShape shape = ResolveOrThrow(() => oftConfig.ToOftConfig(oft.InFeatureCount).Resolve(), argument, path, oft.InFeatureCount);
                CheckLength(oft.Weight, PeftStateDictKeys.OftRotationWeightShape(shape), $"{argument}.Weight", "oft_R.weight");
                break;
            }
            default:
                throw new ArgumentException(
                    $"{argument} is {weights.GetType().Name}, but the adapter config's peft_type is {config.PeftType}.", argument);
        }
    }

    private static TShape ResolveOrThrow<TShape>(Func<TShape> resolve, string argument, string path, int inFeatures)
    {
        try
        {
            return resolve();
        }
        catch (ArgumentException exception)
        {
            throw new ArgumentException($"{argument}: module '{path}' with in_features {inFeatures} does not fit the adapter config: {exception.Message}", argument, exception);
        }
    }

    private static void CheckLength(float[] values, long[] shape, string argument, string parameter)
    {
        if (values is null)
            throw new ArgumentNullException(argument);
        long expected = SafeTensor.ElementCountOf(shape);
        if (values.Length != expected)
            throw new ArgumentException(
                $"{argument} has {values.Length} elements (shape [{values.Length}]), but {parameter} must have shape {SafeTensor.FormatShape(shape)} = {expected} elements.", argument);
    }

    private static IEnumerable<string> KeysOf(PeftAdapterConfig config, string path) =>
        config is PeftBoftAdapterConfig
            ? [PeftStateDictKeys.BoftRotation(path), PeftStateDictKeys.BoftScale(path)]
            : [PeftStateDictKeys.OftRotationWeight(path)];

    private static SafeTensor Tensor(string key, long[] shape, float[] values, SafeTensorsElementType elementType) =>
        SafeTensor.FromSingle(key, shape, values, elementType);

    /// <summary>Whether adapter parameters can be stored as <paramref name="elementType"/> (F32, F64, BF16, F16).</summary>
    internal static bool IsStoredParameterType(SafeTensorsElementType elementType) =>
        elementType is SafeTensorsElementType.Float32 or SafeTensorsElementType.Float64 or SafeTensorsElementType.BFloat16 or SafeTensorsElementType.Float16;

    /// <summary>Refuses a parameter tensor with NaN, ±Inf, or a value beyond the float range (it would load as ±Inf).</summary>
    private static void ThrowIfNotRepresentable(SafeTensor tensor, string sourceName)
    {
        double[] values = tensor.ToDoubleArray();
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i];
            if (!double.IsFinite(v))
                throw Invalid(sourceName, $"'{tensor.Name}' holds {v} at flat index {i}; pass allowNonFinite: true to load it anyway");
            if (Math.Abs(v) > float.MaxValue)
                throw Invalid(sourceName, $"'{tensor.Name}' holds {v} at flat index {i}, outside the float range (±{float.MaxValue}), which would load as infinity; pass allowNonFinite: true to load it anyway");
        }
    }

    private static InvalidDataException Invalid(string sourceName, string problem) =>
        new($"Invalid PEFT adapter checkpoint '{sourceName}': {problem}{(problem.EndsWith('.') ? "" : ".")}");
}
