// Loads the boft-golden-v1 JSON cases (format: Golden/Cases/README.md) and their config_cases.json.

using System.Text.Json;

namespace Boft.Tests.Golden;

/// <summary>A float64 tensor from a golden file (row-major).</summary>
public sealed record GoldenTensor(int[] Shape, double[] Data)
{
    public string ShapeString => "[" + string.Join(", ", Shape) + "]";
    public float[] ToSingle() => Array.ConvertAll(Data, v => (float)v);
}

/// <summary>One optimizer trajectory of a golden case.</summary>
public sealed record GoldenTrajectory(double LearningRate, double[] Losses, double FinalLoss, double Beta1, double Beta2, double Eps);

/// <summary>One golden case file.</summary>
public sealed class GoldenCase
{
    private readonly Dictionary<string, GoldenTensor> tensors;

    private GoldenCase(string path, JsonElement root)
    {
        Path = path;
        Name = root.GetProperty("case").GetString()!;
        Method = root.GetProperty("method").GetString()!;
        Config = root.GetProperty("config").Clone();
        tensors = [];
        foreach (JsonProperty p in root.GetProperty("tensors").EnumerateObject())
        {
            int[] shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            double[] data = p.Value.GetProperty("data").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            tensors[p.Name] = new GoldenTensor(shape, data);
        }
        JsonElement training = root.GetProperty("training");
        Sgd = ReadTrajectory(training.GetProperty("sgd"));
        Adam = ReadTrajectory(training.GetProperty("adam"));
        CoftBeforeEachStep = training.TryGetProperty("coft_projection_before_each_forward", out JsonElement c) && c.GetBoolean();
        Steps = training.GetProperty("steps").GetInt32();
    }

    public string Path { get; }
    public string Name { get; }
    public string Method { get; }
    public bool IsBoft => Method == "boft";
    public JsonElement Config { get; }
    public GoldenTrajectory Sgd { get; }
    public GoldenTrajectory Adam { get; }
    public bool CoftBeforeEachStep { get; }
    public int Steps { get; }

    public int FeatureCount => Config.GetProperty("in_features").GetInt32();
    public int OutFeatureCount => Config.GetProperty("out_features").GetInt32();
    public bool HasBias => Config.GetProperty("has_bias").GetBoolean();
    public int RowCount => Tensor("x").Data.Length / FeatureCount;

    public bool Has(string name) => tensors.ContainsKey(name);

    public GoldenTensor Tensor(string name) =>
        tensors.TryGetValue(name, out GoldenTensor? t) ? t : throw new KeyNotFoundException($"Golden case {Name} has no tensor '{name}'.");

    public double[] Data(string name) => Tensor(name).Data;

    /// <summary>Bias data, or empty when the case has none.</summary>
    public double[] BiasOrEmpty => Has("bias") ? Data("bias") : [];

    /// <summary>The dropout mask as doubles (0/1), or empty.</summary>
    public double[] MaskOrEmpty => Has("dropout_mask") ? Data("dropout_mask") : [];

    public BoftConfig BoftConfig => new(
        FeatureCount,
        BlockSize: Config.GetProperty("boft_block_size_arg").GetInt32(),
        BlockCount: Config.GetProperty("boft_block_num_arg").GetInt32(),
        FactorCount: Config.GetProperty("boft_n_butterfly_factor").GetInt32());

    public OftConfig OftConfig
    {
        get
        {
            bool neumann = Config.GetProperty("use_cayley_neumann").GetBoolean();
            JsonElement eps = Config.GetProperty("eps");
            return new OftConfig(
                FeatureCount,
                BlockSize: Config.GetProperty("oft_block_size_arg").GetInt32(),
                BlockCount: Config.GetProperty("r_arg").GetInt32(),
                BlockShare: Config.GetProperty("block_share").GetBoolean(),
                Orthogonalization: neumann ? Orthogonalization.CayleyNeumann : Orthogonalization.ExactCayley,
                NeumannTerms: Config.GetProperty("num_cayley_neumann_terms").GetInt32(),
                NeumannVariant: Config.GetProperty("neumann_variant").GetString() == "peft0.16-0.17" ? NeumannVariant.Peft016 : NeumannVariant.Peft018,
                Coft: Config.GetProperty("coft").GetBoolean(),
                Eps: eps.ValueKind == JsonValueKind.Number ? eps.GetDouble() : 6e-5,
                AdjustInvalidBlockSize: true);
        }
    }

    public override string ToString() => Name;

    public static GoldenCase Load(string path)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
        JsonElement root = doc.RootElement;
        if (!root.TryGetProperty("format", out JsonElement format) || format.GetString() != "boft-golden-v1")
            throw new InvalidDataException($"{path} is not a boft-golden-v1 case file.");
        return new GoldenCase(path, root);
    }

    /// <summary>Whether a file looks like a case file (not index.json or config_cases.json).</summary>
    public static bool IsCaseFile(string path)
    {
        string name = System.IO.Path.GetFileName(path);
        return name.EndsWith(".json", StringComparison.Ordinal) && name != "index.json" && name != "config_cases.json";
    }

    private static GoldenTrajectory ReadTrajectory(JsonElement e) => new(
        e.GetProperty("lr").GetDouble(),
        e.GetProperty("losses").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
        e.GetProperty("final_loss").GetDouble(),
        e.TryGetProperty("beta1", out JsonElement b1) ? b1.GetDouble() : 0,
        e.TryGetProperty("beta2", out JsonElement b2) ? b2.GetDouble() : 0,
        e.TryGetProperty("eps", out JsonElement eps) ? eps.GetDouble() : 0);
}
