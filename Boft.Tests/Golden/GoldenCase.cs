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
        Layer = Config.TryGetProperty("layer", out JsonElement layer) ? layer.GetString()! : "linear";
        Dtype = Config.TryGetProperty("dtype", out JsonElement dtype) ? dtype.GetString()! : "float64";
        if (root.TryGetProperty("precision", out JsonElement precision))
            Precision = precision.Clone();
        if (root.TryGetProperty("training", out JsonElement training))
        {
            sgd = ReadTrajectory(training.GetProperty("sgd"));
            adam = ReadTrajectory(training.GetProperty("adam"));
            CoftBeforeEachStep = training.TryGetProperty("coft_projection_before_each_forward", out JsonElement c) && c.GetBoolean();
            Steps = training.GetProperty("steps").GetInt32();
        }
    }

    private readonly GoldenTrajectory? sgd;
    private readonly GoldenTrajectory? adam;

    /// <summary>"linear" (also for entries without a layer field) or "conv2d".</summary>
    public string Layer { get; }

    /// <summary>"float64" for the exact cases, "bfloat16" / "float16" for the low-precision (mixed-precision contract) cases.</summary>
    public string Dtype { get; }

    /// <summary>The low-precision contract and acceptance bounds (lowp cases), or null.</summary>
    public JsonElement? Precision { get; }

    public bool IsConv => Layer == "conv2d";
    public bool IsLowPrecision => Dtype is "bfloat16" or "float16";
    public bool HasTraining => sgd is not null;

    /// <summary>The case's kind: linear, conv2d or lowp-&lt;dtype&gt;.</summary>
    public string Kind => IsLowPrecision ? $"lowp-{Dtype}" : Layer;

    /// <summary>The base convolution of a Conv2d case (square kernel, one stride/padding for both axes, dilation 1, groups 1 as recorded).</summary>
    public Conv2dShape Convolution
    {
        get
        {
            int[] input = Config.GetProperty("input_shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            int k = Config.GetProperty("kernel_size").GetInt32();
            return Conv2dShape.Square(Config.GetProperty("in_channels").GetInt32(), Config.GetProperty("out_channels").GetInt32(), k, input[2], input[3],
                stride: Config.GetProperty("stride").GetInt32(), padding: Config.GetProperty("padding").GetInt32(),
                dilation: Config.GetProperty("dilation").GetInt32(), groups: Config.GetProperty("groups").GetInt32());
        }
    }

    /// <summary>N of a Conv2d case.</summary>
    public int ImageCount => Config.GetProperty("input_shape")[0].GetInt32();

    public string Path { get; }
    public string Name { get; }
    public string Method { get; }
    public bool IsBoft => Method == "boft";
    public JsonElement Config { get; }
    public GoldenTrajectory Sgd => sgd ?? throw new InvalidOperationException($"Golden case {Name} has no training object.");
    public GoldenTrajectory Adam => adam ?? throw new InvalidOperationException($"Golden case {Name} has no training object.");
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
