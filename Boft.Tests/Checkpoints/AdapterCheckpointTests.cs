// AdapterCheckpoint: folder round trips, shape validation on construction and load, version errors, atomic save.

using Boft.Checkpoints;

namespace Boft.Tests.Checkpoints;

[TestFixture]
[Category("Checkpoints")]
public sealed class AdapterCheckpointTests
{
    private string directory = null!;

    [SetUp]
    public void SetUp() => directory = CheckpointTestFiles.NewDirectory();

    [TearDown]
    public void TearDown() => CheckpointTestFiles.Delete(directory);

    private static float[] Values(int count, int seed) =>
        Enumerable.Range(0, count).Select(i => (float)Math.Sin(seed * 1000 + i * 0.37) * 0.1f).ToArray();

    /// <summary>BOFT b=4, m=2 on two layers: 16→12 and 32→16.</summary>
    internal static AdapterCheckpoint BoftCheckpoint()
    {
        var config = new PeftBoftAdapterConfig { BoftBlockSize = 4, BoftNButterflyFactor = 2, TargetModules = PeftModuleSelection.FromNames(["q", "v"]) };
        var modules = new Dictionary<string, AdapterModuleWeights>
        {
            ["encoder.layer.0.q"] = new BoftModuleWeights(16, 12, Values(2 * 4 * 4 * 4, 1), Values(12, 2)),
            ["encoder.layer.0.v"] = new BoftModuleWeights(32, 16, Values(2 * 8 * 4 * 4, 3), Values(16, 4)),
        };
        return new AdapterCheckpoint(config, modules);
    }

    /// <summary>OFT b=4 (Cayley–Neumann) on two layers of 16 and 24 in-features.</summary>
    internal static AdapterCheckpoint OftCheckpoint()
    {
        var config = new PeftOftAdapterConfig { OftBlockSize = 4, TargetModules = PeftModuleSelection.FromPattern(@".*\.(q|v)$") };
        var modules = new Dictionary<string, AdapterModuleWeights>
        {
            ["h.0.attn.q"] = new OftModuleWeights(16, Values(4 * 6, 5)),
            ["h.0.attn.v"] = new OftModuleWeights(24, Values(6 * 6, 6)),
        };
        return new AdapterCheckpoint(config, modules);
    }

    private static void AssertSameModules(AdapterCheckpoint actual, AdapterCheckpoint expected)
    {
        Assert.That(actual.Modules.Keys, Is.EqualTo(expected.Modules.Keys));
        foreach (var (path, weights) in expected.Modules)
        {
            switch (weights)
            {
                case BoftModuleWeights boft:
                    var loaded = (BoftModuleWeights)actual.Modules[path];
                    Assert.That((loaded.InFeatureCount, loaded.OutFeatureCount), Is.EqualTo((boft.InFeatureCount, boft.OutFeatureCount)), path);
                    Assert.That(loaded.Rotation, Is.EqualTo(boft.Rotation), path);
                    Assert.That(loaded.Scale, Is.EqualTo(boft.Scale), path);
                    break;
                case OftModuleWeights oft:
                    var loadedOft = (OftModuleWeights)actual.Modules[path];
                    Assert.That(loadedOft.InFeatureCount, Is.EqualTo(oft.InFeatureCount), path);
                    Assert.That(loadedOft.Weight, Is.EqualTo(oft.Weight), path);
                    break;
            }
        }
    }

    [TestCase(SafeTensorsElementType.Float32)]
    [TestCase(SafeTensorsElementType.Float64)]
    public void SaveThenLoad_RoundTripsBoft(SafeTensorsElementType elementType)
    {
        AdapterCheckpoint checkpoint = BoftCheckpoint();
        checkpoint.Save(directory, elementType);

        Assert.That(CheckpointTestFiles.Entries(directory), Is.EqualTo(new[] { "adapter_config.json", "adapter_model.safetensors" }));
        SafeTensorsContent content = SafeTensorsFile.Read(Path.Combine(directory, "adapter_model.safetensors"));
        Assert.That(content.Metadata, Is.EqualTo(new Dictionary<string, string> { ["format"] = "pt" }));
        Assert.That(content.Tensors.Select(t => t.Name), Is.EqualTo(new[]
        {
            "base_model.model.encoder.layer.0.q.boft_R", "base_model.model.encoder.layer.0.q.boft_s",
            "base_model.model.encoder.layer.0.v.boft_R", "base_model.model.encoder.layer.0.v.boft_s",
        }));
        Assert.That(content.Tensors.Select(t => t.ElementType), Is.All.EqualTo(elementType));
        Assert.That(content["base_model.model.encoder.layer.0.v.boft_R"].Shape.ToArray(), Is.EqualTo(new long[] { 2, 8, 4, 4 }));
        Assert.That(content["base_model.model.encoder.layer.0.v.boft_s"].Shape.ToArray(), Is.EqualTo(new long[] { 16, 1 }));

        AdapterCheckpoint loaded = AdapterCheckpoint.Load(directory);
        AssertSameModules(loaded, checkpoint);
        Assert.That(loaded.Config.InferenceMode, Is.True, "saved as PeftModel.save_pretrained saves: inference_mode true");
        Assert.That(AdapterConfigFile.ToJson(loaded.Config), Is.EqualTo(AdapterConfigFile.ToJson(checkpoint.Config with { InferenceMode = true })));
    }

    [Test]
    public void SaveThenLoad_RoundTripsOftAndKeepsAdditionalTensors()
    {
        AdapterCheckpoint original = OftCheckpoint();
        var bias = SafeTensor.FromSingle("base_model.model.h.0.attn.q.base_layer.bias", [16], Values(16, 9));
        var checkpoint = new AdapterCheckpoint(original.Config with { Bias = "oft_only" }, original.Modules, [bias]);
        checkpoint.Save(directory);

        AdapterCheckpoint loaded = AdapterCheckpoint.Load(directory, new Dictionary<string, LayerFeatureCounts>
        {
            ["h.0.attn.q"] = new(16, 16),
            ["h.0.attn.v"] = new(24, 8),
        });
        AssertSameModules(loaded, checkpoint);
        Assert.That(loaded.AdditionalTensors.Select(t => t.Name), Is.EqualTo(new[] { bias.Name }));
        Assert.That(loaded.AdditionalTensors[0].ToSingleArray(), Is.EqualTo(bias.ToSingleArray()));
        Assert.That(SafeTensorsFile.Read(Path.Combine(directory, "adapter_model.safetensors"))["base_model.model.h.0.attn.v.oft_R.weight"].Shape.ToArray(),
            Is.EqualTo(new long[] { 6, 6 }));
    }

    [Test]
    public void Save_OverwritesAnExistingCheckpoint()
    {
        OftCheckpoint().Save(directory);
        AdapterCheckpoint boft = BoftCheckpoint();
        boft.Save(directory);
        AssertSameModules(AdapterCheckpoint.Load(directory), boft);
        Assert.That(CheckpointTestFiles.Entries(directory), Is.EqualTo(new[] { "adapter_config.json", "adapter_model.safetensors" }));
    }

    // ---------- construction (save-side) validation ----------

    [Test]
    public void ThrowsForRotationLengthNotMatchingTheConfig()
    {
        var config = new PeftBoftAdapterConfig { BoftBlockSize = 4, BoftNButterflyFactor = 2 };
        var exception = Assert.Throws<ArgumentException>(() => new AdapterCheckpoint(config,
            new Dictionary<string, AdapterModuleWeights> { ["fc"] = new BoftModuleWeights(16, 8, new float[100], new float[8]) }))!;
        Assert.That(exception.ParamName, Is.EqualTo("modules[\"fc\"].Rotation"));
        Assert.That(exception.Message, Does.Contain("100 elements (shape [100])").And.Contain("boft_R must have shape [2, 4, 4, 4] = 128 elements"));
    }

    [Test]
    public void ThrowsForScaleLengthNotMatchingOutFeatures()
    {
        var config = new PeftBoftAdapterConfig { BoftBlockSize = 4 };
        var exception = Assert.Throws<ArgumentException>(() => new AdapterCheckpoint(config,
            new Dictionary<string, AdapterModuleWeights> { ["fc"] = new BoftModuleWeights(16, 8, new float[64], new float[7]) }))!;
        Assert.That(exception.ParamName, Is.EqualTo("modules[\"fc\"].Scale"));
        Assert.That(exception.Message, Does.Contain("[7]").And.Contain("[8, 1]"));
    }

    [Test]
    public void ThrowsForOftWeightLengthNotMatchingTheConfig()
    {
        var config = new PeftOftAdapterConfig { OftBlockSize = 4, BlockShare = true };
        var exception = Assert.Throws<ArgumentException>(() => new AdapterCheckpoint(config,
            new Dictionary<string, AdapterModuleWeights> { ["fc"] = new OftModuleWeights(16, new float[24]) }))!;
        Assert.That(exception.ParamName, Is.EqualTo("modules[\"fc\"].Weight"));
        Assert.That(exception.Message, Does.Contain("[24]").And.Contain("oft_R.weight must have shape [1, 6] = 6 elements"));
    }

    [Test]
    public void ThrowsForInFeaturesTheConfigRejects()
    {
        var config = new PeftBoftAdapterConfig { BoftBlockSize = 4, BoftNButterflyFactor = 3 };
        var exception = Assert.Throws<ArgumentException>(() => new AdapterCheckpoint(config,
            new Dictionary<string, AdapterModuleWeights> { ["fc"] = new BoftModuleWeights(8, 8, new float[96], new float[8]) }))!;
        Assert.That(exception.Message, Does.Contain("in_features 8").And.Contain("Invalid combination of in_features (8), boft_n_butterfly_factor (3) and boft_block_size (4)!"));
    }

    [Test]
    public void ThrowsForWeightsOfTheOtherMethod()
    {
        var exception = Assert.Throws<ArgumentException>(() => new AdapterCheckpoint(new PeftOftAdapterConfig { OftBlockSize = 4 },
            new Dictionary<string, AdapterModuleWeights> { ["fc"] = new BoftModuleWeights(16, 8, new float[64], new float[8]) }))!;
        Assert.That(exception.Message, Does.Contain("BoftModuleWeights").And.Contain("peft_type is OFT"));
    }

    [Test]
    public void ThrowsForAdditionalTensorNamedLikeAnAdapterParameter() =>
        Assert.Throws<ArgumentException>(() => new AdapterCheckpoint(new PeftOftAdapterConfig { OftBlockSize = 4 },
            new Dictionary<string, AdapterModuleWeights> { ["fc"] = new OftModuleWeights(8, new float[12]) },
            [SafeTensor.FromSingle("base_model.model.fc.oft_R.weight", [2, 6], new float[12])]));

    // ---------- load-side validation ----------

    private void WriteFolder(PeftAdapterConfig config, params SafeTensor[] tensors)
    {
        AdapterConfigFile.Write(config, Path.Combine(directory, AdapterConfigFile.FileName));
        SafeTensorsFile.Write(tensors, AdapterCheckpoint.PeftMetadata, Path.Combine(directory, AdapterCheckpoint.WeightsFileName));
    }

    private string LoadError(IReadOnlyDictionary<string, LayerFeatureCounts>? counts = null) =>
        Assert.Throws<InvalidDataException>(() => AdapterCheckpoint.Load(directory, counts))!.Message;

    [Test]
    public void ThrowsForTensorShapeNotMatchingTheConfig_NamingKeyAndBothShapes()
    {
        WriteFolder(new PeftBoftAdapterConfig { BoftBlockSize = 4, BoftNButterflyFactor = 2 },
            SafeTensor.FromSingle("base_model.model.fc.boft_R", [2, 4, 4, 4], new float[128]),
            SafeTensor.FromSingle("base_model.model.fc.boft_s", [8, 1], new float[8]));
        string message = LoadError(new Dictionary<string, LayerFeatureCounts> { ["fc"] = new(32, 8) });
        Assert.That(message, Does.Contain("adapter_model.safetensors")
            .And.Contain("'base_model.model.fc.boft_R' has shape [2, 4, 4, 4]")
            .And.Contain("in_features 32 implies [2, 8, 4, 4]"));
    }

    [Test]
    public void ThrowsForOutFeaturesMismatch()
    {
        WriteFolder(new PeftBoftAdapterConfig { BoftBlockSize = 4 },
            SafeTensor.FromSingle("base_model.model.fc.boft_R", [1, 4, 4, 4], new float[64]),
            SafeTensor.FromSingle("base_model.model.fc.boft_s", [8, 1], new float[8]));
        Assert.That(LoadError(new Dictionary<string, LayerFeatureCounts> { ["fc"] = new(16, 10) }),
            Does.Contain("'base_model.model.fc.boft_s' has shape [8, 1], but out_features 10 implies [10, 1]"));
    }

    [Test]
    public void ThrowsForBoftTrainedWithoutTheCudaExtension_WithAHint()
    {
        WriteFolder(new PeftBoftAdapterConfig { BoftBlockSize = 4, BoftNButterflyFactor = 2 },
            SafeTensor.FromSingle("base_model.model.fc.boft_R", [1, 4, 4, 4], new float[64]),
            SafeTensor.FromSingle("base_model.model.fc.boft_s", [8, 1], new float[8]));
        Assert.That(LoadError(), Does.Contain("has shape [1, 4, 4, 4]").And.Contain("implies [2, 4, 4, 4]").And.Contain("fbd CUDA extension"));
    }

    [Test]
    public void ThrowsForMissingBoftScale()
    {
        WriteFolder(new PeftBoftAdapterConfig { BoftBlockSize = 4 }, SafeTensor.FromSingle("base_model.model.fc.boft_R", [1, 4, 4, 4], new float[64]));
        Assert.That(LoadError(), Does.Contain("module 'fc' has boft_R but no 'base_model.model.fc.boft_s'"));
    }

    [Test]
    public void ThrowsForPeft015OftCheckpoint_WithPeftsMessage()
    {
        WriteFolder(new PeftOftAdapterConfig { R = 8, OftBlockSize = 0, PeftVersion = null },
            SafeTensor.FromSingle("base_model.model.fc.oft_r", [8, 2, 2], new float[32]),
            SafeTensor.FromSingle("base_model.model.fc.oft_s", [4, 1], new float[4]));
        Assert.That(LoadError(), Does.Contain("Trying to load old OFT checkpoint, which is no longer supported. Please install PEFT <= v0.15.2"));
    }

    [Test]
    public void ThrowsForKeysOfTheOtherMethod()
    {
        WriteFolder(new PeftOftAdapterConfig { OftBlockSize = 4 }, SafeTensor.FromSingle("base_model.model.fc.boft_R", [1, 4, 4, 4], new float[64]));
        Assert.That(LoadError(), Does.Contain("'base_model.model.fc.boft_R' is a non-OFT adapter parameter, but the adapter config's peft_type is OFT"));
    }

    [Test]
    public void ThrowsForIntegerAdapterTensor()
    {
        WriteFolder(new PeftOftAdapterConfig { OftBlockSize = 4 }, SafeTensor.FromInt64("base_model.model.fc.oft_R.weight", [1, 6], new long[6]));
        Assert.That(LoadError(), Does.Contain("has type I64; adapter parameters must be F16, BF16, F32 or F64"));
    }

    [Test]
    public void ThrowsForModuleNotAmongTheGivenLayers()
    {
        WriteFolder(new PeftOftAdapterConfig { OftBlockSize = 4 }, SafeTensor.FromSingle("base_model.model.fc.oft_R.weight", [2, 6], new float[12]));
        Assert.That(LoadError(new Dictionary<string, LayerFeatureCounts> { ["other"] = new(8, 8) }), Does.Contain("module 'fc', which is not among the given layers"));
    }

    [Test]
    public void ThrowsForBlockSharedOftWithoutFeatureCounts()
    {
        WriteFolder(new PeftOftAdapterConfig { OftBlockSize = 4, BlockShare = true }, SafeTensor.FromSingle("base_model.model.fc.oft_R.weight", [1, 6], new float[6]));
        Assert.That(LoadError(), Does.Contain("cannot be inferred from the block-shared weight"));
        Assert.That(AdapterCheckpoint.Load(directory, new Dictionary<string, LayerFeatureCounts> { ["fc"] = new(12, 12) }).Modules["fc"].InFeatureCount, Is.EqualTo(12));
    }

    [Test]
    public void ThrowsForOftWeightWhoseWidthIsNotATriangle()
    {
        WriteFolder(new PeftOftAdapterConfig { OftBlockSize = 4 }, SafeTensor.FromSingle("base_model.model.fc.oft_R.weight", [2, 5], new float[10]));
        Assert.That(LoadError(), Does.Contain("[2, 5]").And.Contain("not b(b-1)/2"));
    }

    [Test]
    public void ThrowsForPickleOnlyFolder()
    {
        AdapterConfigFile.Write(new PeftOftAdapterConfig(), Path.Combine(directory, AdapterConfigFile.FileName));
        File.WriteAllBytes(Path.Combine(directory, AdapterCheckpoint.PickleWeightsFileName), [0x80, 0x02]);
        Assert.That(Assert.Throws<FileNotFoundException>(() => AdapterCheckpoint.Load(directory))!.Message, Does.Contain("adapter_model.bin").And.Contain("safe_serialization"));
    }

    [Test]
    public void ThrowsForInvalidConfigFile()
    {
        File.WriteAllText(Path.Combine(directory, AdapterConfigFile.FileName), "{\"peft_type\": \"OFT\", \"r\": 8}");
        SafeTensorsFile.Write([], null, Path.Combine(directory, AdapterCheckpoint.WeightsFileName));
        Assert.That(LoadError(), Does.Contain("adapter_config.json").And.Contain("OFT has been updated since PEFT 0.14.0"));
    }

    // ---------- atomic save ----------

    // (failures at every step and killed saves: Reliability/CheckpointAtomicityTests.cs)

    [Test]
    public void Save_ReplacesAFolderThatOccupiesTheWeightsFileName()
    {
        File.WriteAllText(Path.Combine(directory, AdapterConfigFile.FileName), "{\"peft_type\": \"BOFT\"}");
        Directory.CreateDirectory(Path.Combine(directory, AdapterCheckpoint.WeightsFileName));

        BoftCheckpoint().Save(directory);

        AssertSameModules(AdapterCheckpoint.Load(directory), BoftCheckpoint());
        Assert.That(CheckpointTestFiles.Entries(directory), Is.EqualTo(new[] { "adapter_config.json", "adapter_model.safetensors" }));
    }
}
