// PEFT's adapter_config.json for BOFT and OFT, field for field (huggingface/peft, HEAD 5d602fd, after v0.20.0):
//   src/peft/config.py            PeftConfigMixin: task_type, peft_type, auto_mapping, peft_version (since 0.18.0);
//                                 PeftConfig: base_model_name_or_path, revision, inference_mode. to_dict() = asdict(self),
//                                 so every field is written, sets as lists, json.dumps(indent=2, sort_keys=True).
//   src/peft/tuners/boft/config.py BOFTConfig fields and defaults, __post_init__ checks.
//   src/peft/tuners/oft/config.py  OFTConfig fields and defaults (use_cayley_neumann defaults to True although the
//                                 docstring says False), __post_init__ checks, check_kwargs (version checks).
// PeftModel.save_pretrained (src/peft/peft_model.py) writes inference_mode = true and fills base_model_name_or_path.

using System.Text.Json;

namespace Boft.Checkpoints;

/// <summary>
/// A module selection as PEFT's <c>target_modules</c>, <c>exclude_modules</c> and <c>layers_pattern</c> store it: either one
/// regular expression (a JSON string; PEFT full-matches it against module paths, and <c>"all-linear"</c> is a shorthand), or
/// a list of names (a JSON list; PEFT matches a module whose path equals a name or ends with <c>"." + name</c>).
/// </summary>
public sealed record PeftModuleSelection
{
    private readonly string[]? names;

    private PeftModuleSelection(string? pattern, string[]? names)
    {
        Pattern = pattern;
        this.names = names;
    }

    /// <summary>The regular expression (JSON string form), or null for the list form.</summary>
    public string? Pattern { get; }

    /// <summary>The names (JSON list form, in the written order), or null for the pattern form.</summary>
    public IReadOnlyList<string>? Names => names;

    /// <summary>A selection by one regular expression (or <c>"all-linear"</c>).</summary>
    /// <param name="pattern">The expression.</param>
    /// <returns>The selection.</returns>
    public static PeftModuleSelection FromPattern(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        return new PeftModuleSelection(pattern, null);
    }

    /// <summary>A selection by a list of module names or name suffixes.</summary>
    /// <param name="names">The names, written in this order.</param>
    /// <returns>The selection.</returns>
    public static PeftModuleSelection FromNames(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        string[] copy = names.ToArray();
        foreach (string name in copy)
            ArgumentNullException.ThrowIfNull(name, nameof(names));
        return new PeftModuleSelection(null, copy);
    }

    /// <inheritdoc />
    public bool Equals(PeftModuleSelection? other) =>
        other is not null && Pattern == other.Pattern &&
        (names is null ? other.names is null : other.names is not null && names.AsSpan().SequenceEqual(other.names));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Pattern, names?.Length);

    /// <inheritdoc />
    public override string ToString() => Pattern ?? "[" + string.Join(", ", names!) + "]";
}

/// <summary>
/// The fields PEFT writes into every <c>adapter_config.json</c> (PeftConfigMixin, PeftConfig) plus those BOFT and OFT share,
/// with PEFT's defaults. Records compare collections by reference; compare <see cref="AdapterConfigFile.ToJson"/> output to
/// compare contents.
/// </summary>
public abstract record PeftAdapterConfig
{
    /// <summary>The <c>peft_version</c> this library writes by default: the first PEFT release with the Cayley–Neumann
    /// coefficients of <see cref="NeumannVariant.Peft018"/> and the <c>peft_version</c> field itself.</summary>
    public const string DefaultPeftVersion = "0.18.0";

    /// <summary>Creates the shared fields with PEFT's defaults.</summary>
    protected PeftAdapterConfig()
    {
    }

    /// <summary>PEFT's <c>peft_type</c>: <c>"BOFT"</c> or <c>"OFT"</c>.</summary>
    public abstract string PeftType { get; }

    /// <summary><c>task_type</c>: null or one of PEFT's TaskType values (<c>SEQ_CLS</c>, <c>SEQ_2_SEQ_LM</c>, <c>CAUSAL_LM</c>,
    /// <c>TOKEN_CLS</c>, <c>QUESTION_ANS</c>, <c>FEATURE_EXTRACTION</c>).</summary>
    public string? TaskType { get; init; }

    /// <summary><c>base_model_name_or_path</c>.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary><c>revision</c> of the base model.</summary>
    public string? Revision { get; init; }

    /// <summary><c>inference_mode</c> (PEFT default false; <c>save_pretrained</c> writes true).</summary>
    public bool InferenceMode { get; init; }

    /// <summary><c>peft_version</c>: the PEFT version that wrote the file (since 0.18.0; dev builds append <c>@commit</c>), or null when
    /// the field is absent, which PEFT reads as "older than 0.18.0". A JSON null is read as absent, and null is written by omitting the
    /// field (PEFT's <c>check_kwargs</c> would fail on a JSON null).</summary>
    public string? PeftVersion { get; init; } = DefaultPeftVersion;

    /// <summary><c>auto_mapping</c> (for custom models), kept as raw JSON, or null.</summary>
    public JsonElement? AutoMapping { get; init; }

    /// <summary><c>target_modules</c>, or null (PEFT then uses its per-architecture defaults).</summary>
    public PeftModuleSelection? TargetModules { get; init; }

    /// <summary><c>exclude_modules</c>, or null.</summary>
    public PeftModuleSelection? ExcludeModules { get; init; }

    /// <summary><c>fan_in_fan_out</c>: the base layer stores its weight as (in, out), e.g. GPT-2's Conv1D.</summary>
    public bool FanInFanOut { get; init; }

    /// <summary><c>bias</c>: <c>"none"</c>, <c>"all"</c> or <c>"boft_only"</c>/<c>"oft_only"</c> (saved biases appear as extra tensors).</summary>
    public string Bias { get; init; } = "none";

    /// <summary><c>modules_to_save</c>: fully trained extra modules (their tensors appear as extra tensors), or null.</summary>
    public IReadOnlyList<string>? ModulesToSave { get; init; }

    /// <summary><c>init_weights</c>: identity initialization (true) or PEFT's random test initialization (false).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary><c>layers_to_transform</c> (PEFT accepts an int or a list; an int is read as a one-element list), or null.</summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    /// <summary><c>layers_pattern</c>, or null.</summary>
    public PeftModuleSelection? LayersPattern { get; init; }

    /// <summary>Fields this library does not know (e.g. written by a newer PEFT), kept as raw JSON and written back unchanged.
    /// PEFT itself drops unknown fields with a warning.</summary>
    public IReadOnlyDictionary<string, JsonElement> AdditionalFields { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>The <c>bias</c> value that saves only the adapted layers' biases: <c>"boft_only"</c> or <c>"oft_only"</c>.</summary>
    protected abstract string OwnBiasValue { get; }

    /// <summary>Checks the fields as PEFT's <c>__post_init__</c> does.</summary>
    /// <exception cref="ArgumentException">A field has a value PEFT rejects; the message contains PEFT's text where PEFT has one.</exception>
    public virtual void Validate()
    {
        if (TaskType is not null && Array.IndexOf(KnownTaskTypes, TaskType) < 0)
            throw new ArgumentException(
                $"Invalid task type: '{TaskType}'. Must be one of the following task types: {string.Join(", ", KnownTaskTypes)}.", nameof(TaskType));
        if (Bias != "none" && Bias != "all" && Bias != OwnBiasValue)
            throw new ArgumentException($"Bias type for {PeftType} must be 'none', 'all' or '{OwnBiasValue}', got '{Bias}'.", nameof(Bias));
        if (LayersPattern is not null && (LayersPattern.Pattern is { Length: > 0 } || LayersPattern.Names is { Count: > 0 }) && LayersToTransform is null)
            throw new ArgumentException("When `layers_pattern` is specified, `layers_to_transform` must also be specified. ", nameof(LayersPattern));
    }

    /// <summary>PEFT's TaskType values (src/peft/utils/peft_types.py).</summary>
    internal static readonly string[] KnownTaskTypes = ["SEQ_CLS", "SEQ_2_SEQ_LM", "CAUSAL_LM", "TOKEN_CLS", "QUESTION_ANS", "FEATURE_EXTRACTION"];
}

/// <summary>
/// PEFT's <c>BOFTConfig</c> as stored in <c>adapter_config.json</c> (<c>peft_type: "BOFT"</c>). Per adapted layer the in-features
/// come from the layer: <see cref="ToBoftConfig"/> makes the layer's <see cref="BoftConfig"/>.
/// </summary>
public sealed record PeftBoftAdapterConfig : PeftAdapterConfig
{
    /// <inheritdoc />
    public override string PeftType => "BOFT";

    /// <summary><c>boft_block_size</c> b (default 4), or 0 when <see cref="BoftBlockNum"/> is given.</summary>
    public int BoftBlockSize { get; init; } = 4;

    /// <summary><c>boft_block_num</c> k (default 0), or 0 when <see cref="BoftBlockSize"/> is given.</summary>
    public int BoftBlockNum { get; init; }

    /// <summary><c>boft_n_butterfly_factor</c> m (default 1).</summary>
    public int BoftNButterflyFactor { get; init; } = 1;

    /// <summary><c>boft_dropout</c> (default 0.0).</summary>
    public double BoftDropout { get; init; }

    /// <inheritdoc />
    protected override string OwnBiasValue => "boft_only";

    /// <summary>The PEFT-level config of a <see cref="BoftConfig"/> (its in-features are per layer and not stored).</summary>
    /// <param name="config">The layer configuration.</param>
    /// <returns>The PEFT config with PEFT's defaults for every other field.</returns>
    public static PeftBoftAdapterConfig FromBoftConfig(BoftConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new PeftBoftAdapterConfig
        {
            BoftBlockSize = config.BlockSize,
            BoftBlockNum = config.BlockCount,
            BoftNButterflyFactor = config.FactorCount,
            BoftDropout = config.Dropout,
        };
    }

    /// <summary>The <see cref="BoftConfig"/> of one adapted layer with <paramref name="inFeatureCount"/> in-features.</summary>
    /// <param name="inFeatureCount">The layer's in-features d.</param>
    /// <returns>The layer configuration (call <see cref="BoftConfig.Resolve"/> to validate it as PEFT's <c>update_layer</c> does).</returns>
    public BoftConfig ToBoftConfig(int inFeatureCount) =>
        new(inFeatureCount, BoftBlockSize, BoftBlockNum, BoftNButterflyFactor, BoftDropout);

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (BoftBlockSize == 0 && BoftBlockNum == 0)
            throw new ArgumentException(
                $"Either `boft_block_size` or `boft_block_num` must be non-zero. Currently, boft_block_size = {BoftBlockSize} and boft_block_num = {BoftBlockNum}.",
                nameof(BoftBlockSize));
        if (BoftBlockSize != 0 && BoftBlockNum != 0)
            throw new ArgumentException(
                $"You can only specify either boft_block_size ({BoftBlockSize}) or boft_block_num ({BoftBlockNum}), but not both simultaneously, because boft_block_size x boft_block_num == in_features.",
                nameof(BoftBlockNum));
    }
}

/// <summary>
/// PEFT's <c>OFTConfig</c> (OFTv2, PEFT ≥ 0.16) as stored in <c>adapter_config.json</c> (<c>peft_type: "OFT"</c>). Per adapted
/// layer the in-features come from the layer: <see cref="ToOftConfig"/> makes the layer's <see cref="OftConfig"/>.
/// </summary>
public sealed record PeftOftAdapterConfig : PeftAdapterConfig
{
    private static readonly int[] NeumannChangeRelease = [0, 18, 0];

    /// <inheritdoc />
    public override string PeftType => "OFT";

    /// <summary><c>r</c>, the number of blocks (default 0), or 0 when <see cref="OftBlockSize"/> is given.</summary>
    public int R { get; init; }

    /// <summary><c>oft_block_size</c> b (default 32), or 0 when <see cref="R"/> is given.</summary>
    public int OftBlockSize { get; init; } = 32;

    /// <summary><c>module_dropout</c> (default 0.0; a no-op in PEFT's OFTv2 forward, boft-spec §3.6).</summary>
    public double ModuleDropout { get; init; }

    /// <summary><c>coft</c>, constrained OFT (default false).</summary>
    public bool Coft { get; init; }

    /// <summary><c>eps</c>, the COFT radius parameter (default 6e-5).</summary>
    public double Eps { get; init; } = 6e-5;

    /// <summary><c>block_share</c> (default false).</summary>
    public bool BlockShare { get; init; }

    /// <summary><c>use_cayley_neumann</c> (default true; PEFT's docstring wrongly says false).</summary>
    public bool UseCayleyNeumann { get; init; } = true;

    /// <summary><c>num_cayley_neumann_terms</c> (default 5).</summary>
    public int NumCayleyNeumannTerms { get; init; } = 5;

    /// <inheritdoc />
    protected override string OwnBiasValue => "oft_only";

    /// <summary>
    /// The Cayley–Neumann coefficients the adapter was trained with, by PEFT's own test (OFTConfig.check_kwargs):
    /// <see cref="NeumannVariant.Peft016"/> when <see cref="PeftAdapterConfig.PeftVersion"/> is absent or below 0.18.0 (PEP 440
    /// order, "@commit" suffix ignored; so 0.18.0rc0 and 0.18.0.dev0 count as old, as in PEFT), else <see cref="NeumannVariant.Peft018"/>.
    /// PEFT ≥ 0.18 itself only warns in the old case and then computes with the new coefficients.
    /// </summary>
    /// <exception cref="FormatException"><see cref="PeftAdapterConfig.PeftVersion"/> is not a PEP 440 version.</exception>
    public NeumannVariant TrainedNeumannVariant =>
        PeftVersion is null || PeftVersionComparer.IsBefore(PeftVersion, NeumannChangeRelease) ? NeumannVariant.Peft016 : NeumannVariant.Peft018;

    /// <summary>The PEFT-level config of an <see cref="OftConfig"/> (its in-features are per layer and not stored). A
    /// <see cref="NeumannVariant.Peft016"/> Cayley–Neumann config gets no <c>peft_version</c> (as PEFT 0.16–0.17 wrote it), so that
    /// PEFT reads it as old; every other config gets <see cref="PeftAdapterConfig.DefaultPeftVersion"/>.</summary>
    /// <param name="config">The layer configuration.</param>
    /// <returns>The PEFT config with PEFT's defaults for every other field.</returns>
    public static PeftOftAdapterConfig FromOftConfig(OftConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        bool neumann = config.Orthogonalization == Orthogonalization.CayleyNeumann;
        return new PeftOftAdapterConfig
        {
            R = config.BlockCount,
            OftBlockSize = config.BlockSize,
            Coft = config.Coft,
            Eps = config.Eps,
            BlockShare = config.BlockShare,
            UseCayleyNeumann = neumann,
            NumCayleyNeumannTerms = config.NeumannTerms,
            PeftVersion = neumann && config.NeumannVariant == NeumannVariant.Peft016 ? null : DefaultPeftVersion,
        };
    }

    /// <summary>The <see cref="OftConfig"/> of one adapted layer with <paramref name="inFeatureCount"/> in-features.</summary>
    /// <param name="inFeatureCount">The layer's in-features d.</param>
    /// <param name="neumannVariant">The Cayley–Neumann coefficients to use; null (default) for <see cref="TrainedNeumannVariant"/>.
    /// Pass <see cref="NeumannVariant.Peft018"/> to compute what PEFT ≥ 0.18 computes for an old checkpoint.</param>
    /// <param name="adjustInvalidBlockSize">Whether to replace a block size (or r) that does not divide d by the nearest divisor, as
    /// PEFT's <c>update_layer</c> does silently (default true: the checkpoint's tensors were made that way).</param>
    /// <returns>The layer configuration.</returns>
    public OftConfig ToOftConfig(int inFeatureCount, NeumannVariant? neumannVariant = null, bool adjustInvalidBlockSize = true) =>
        new(inFeatureCount,
            BlockSize: OftBlockSize,
            BlockCount: R,
            BlockShare: BlockShare,
            Orthogonalization: UseCayleyNeumann ? Orthogonalization.CayleyNeumann : Orthogonalization.ExactCayley,
            NeumannTerms: NumCayleyNeumannTerms,
            NeumannVariant: neumannVariant ?? TrainedNeumannVariant,
            Coft: Coft,
            Eps: Eps,
            AdjustInvalidBlockSize: adjustInvalidBlockSize);

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (R == 0 && OftBlockSize == 0)
            throw new ArgumentException(
                $"Either `r` or `oft_block_size` must be non-zero. Currently, r = {R} and oft_block_size = {OftBlockSize}.", nameof(OftBlockSize));
        if (R != 0 && OftBlockSize != 0)
            throw new ArgumentException(
                $"You can only specify either r ({R}) or oft_block_size ({OftBlockSize}), but not both simultaneously, because r x oft_block_size == in_features.",
                nameof(R));
        if (UseCayleyNeumann && PeftVersion is not null)
        {
            try
            {
                _ = PeftVersionComparer.IsBefore(PeftVersion, NeumannChangeRelease);
            }
            catch (FormatException exception)
            {
                throw new ArgumentException($"peft_version '{PeftVersion}' is not a valid PEP 440 version ({exception.Message}).", nameof(PeftVersion), exception);
            }
        }
    }
}
