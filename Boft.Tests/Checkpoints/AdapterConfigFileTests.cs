// adapter_config.json: PEFT's field names, defaults, exact formatting, validation messages, version semantics.

using System.Text.Json;
using Boft.Checkpoints;

namespace Boft.Tests.Checkpoints;

[TestFixture]
[Category("Checkpoints")]
public sealed class AdapterConfigFileTests
{
    private static InvalidDataException ParseError(string json) =>
        Assert.Throws<InvalidDataException>(() => AdapterConfigFile.Parse(json, "cfg.json"))!;

    [Test]
    public void DefaultBoftConfig_IsWrittenExactlyAsPeftWritesIt()
    {
        // json.dumps(asdict(BOFTConfig(target_modules=["q", "v"])), indent=2, sort_keys=True) with peft_version 0.18.0.
        const string expected = """
            {
              "auto_mapping": null,
              "base_model_name_or_path": null,
              "bias": "none",
              "boft_block_num": 0,
              "boft_block_size": 4,
              "boft_dropout": 0.0,
              "boft_n_butterfly_factor": 1,
              "exclude_modules": null,
              "fan_in_fan_out": false,
              "inference_mode": false,
              "init_weights": true,
              "layers_pattern": null,
              "layers_to_transform": null,
              "modules_to_save": null,
              "peft_type": "BOFT",
              "peft_version": "0.18.0",
              "revision": null,
              "target_modules": [
                "q",
                "v"
              ],
              "task_type": null
            }
            """;
        var config = new PeftBoftAdapterConfig { TargetModules = PeftModuleSelection.FromNames(["q", "v"]) };
        Assert.That(AdapterConfigFile.ToJson(config), Is.EqualTo(expected.ReplaceLineEndings("\n")));
    }

    [Test]
    public void DefaultOftConfig_HasPeftDefaults()
    {
        var config = new PeftOftAdapterConfig();
        Assert.Multiple(() =>
        {
            Assert.That(config.R, Is.Zero);
            Assert.That(config.OftBlockSize, Is.EqualTo(32));
            Assert.That(config.UseCayleyNeumann, Is.True, "the dataclass default is True (the docstring says False)");
            Assert.That(config.NumCayleyNeumannTerms, Is.EqualTo(5));
            Assert.That(config.Eps, Is.EqualTo(6e-5));
            Assert.That(config.Bias, Is.EqualTo("none"));
            Assert.That(config.InitWeights, Is.True);
        });
        string json = AdapterConfigFile.ToJson(config);
        Assert.That(json, Does.Contain("\n  \"eps\": 6e-05,\n"), "Python float repr");
        Assert.That(json, Does.Contain("\n  \"module_dropout\": 0.0,\n"));
        Assert.That(json, Does.Contain("\n  \"use_cayley_neumann\": true\n}"), "last key, no trailing comma, no final newline");
    }

    [Test]
    public void Parse_ReadsEveryFieldAndRoundTripsUnknownOnes()
    {
        const string json = """
            {"peft_type": "OFT", "r": 4, "oft_block_size": 0, "module_dropout": 0.1, "coft": true, "eps": 0.001,
             "block_share": true, "use_cayley_neumann": false, "num_cayley_neumann_terms": 7, "task_type": "SEQ_CLS",
             "base_model_name_or_path": "org/model", "revision": "main", "inference_mode": true, "peft_version": "0.19.1",
             "auto_mapping": {"base_model_class": "Foo"}, "target_modules": "all-linear", "exclude_modules": ["lm_head"],
             "fan_in_fan_out": true, "bias": "oft_only", "modules_to_save": ["classifier"], "init_weights": false,
             "layers_to_transform": 3, "layers_pattern": "layers", "future_field": {"a": [1, 2.5]}, "runtime_config": {"x": 1}}
            """;
        var config = (PeftOftAdapterConfig)AdapterConfigFile.Parse(json, "cfg.json");
        Assert.Multiple(() =>
        {
            Assert.That(config.R, Is.EqualTo(4));
            Assert.That(config.OftBlockSize, Is.Zero);
            Assert.That(config.ModuleDropout, Is.EqualTo(0.1));
            Assert.That(config.Coft, Is.True);
            Assert.That(config.Eps, Is.EqualTo(0.001));
            Assert.That(config.BlockShare, Is.True);
            Assert.That(config.UseCayleyNeumann, Is.False);
            Assert.That(config.NumCayleyNeumannTerms, Is.EqualTo(7));
            Assert.That(config.TaskType, Is.EqualTo("SEQ_CLS"));
            Assert.That(config.BaseModelNameOrPath, Is.EqualTo("org/model"));
            Assert.That(config.Revision, Is.EqualTo("main"));
            Assert.That(config.InferenceMode, Is.True);
            Assert.That(config.PeftVersion, Is.EqualTo("0.19.1"));
            Assert.That(config.AutoMapping!.Value.GetProperty("base_model_class").GetString(), Is.EqualTo("Foo"));
            Assert.That(config.TargetModules, Is.EqualTo(PeftModuleSelection.FromPattern("all-linear")));
            Assert.That(config.ExcludeModules, Is.EqualTo(PeftModuleSelection.FromNames(["lm_head"])));
            Assert.That(config.FanInFanOut, Is.True);
            Assert.That(config.Bias, Is.EqualTo("oft_only"));
            Assert.That(config.ModulesToSave, Is.EqualTo(new[] { "classifier" }));
            Assert.That(config.InitWeights, Is.False);
            Assert.That(config.LayersToTransform, Is.EqualTo(new[] { 3 }));
            Assert.That(config.LayersPattern, Is.EqualTo(PeftModuleSelection.FromPattern("layers")));
            Assert.That(config.AdditionalFields.Keys, Is.EqualTo(new[] { "future_field" }), "runtime_config is dropped as PEFT does");
        });
        string written = AdapterConfigFile.ToJson(config);
        Assert.That(written, Does.Contain("\"future_field\": {\n    \"a\": [\n      1,\n      2.5\n    ]\n  },"));
        var again = AdapterConfigFile.Parse(written, "again");
        Assert.That(AdapterConfigFile.ToJson(again), Is.EqualTo(written), "write → read → write is stable");
    }

    [Test]
    public void Parse_MissingFieldsTakePeftDefaults()
    {
        var boft = (PeftBoftAdapterConfig)AdapterConfigFile.Parse("{\"peft_type\": \"BOFT\"}", "cfg");
        Assert.That((boft.BoftBlockSize, boft.BoftBlockNum, boft.BoftNButterflyFactor, boft.BoftDropout), Is.EqualTo((4, 0, 1, 0.0)));
        Assert.That(boft.PeftVersion, Is.Null, "an absent peft_version stays absent");
        var oft = (PeftOftAdapterConfig)AdapterConfigFile.Parse("{\"peft_type\": \"OFT\", \"oft_block_size\": 16}", "cfg");
        Assert.That((oft.R, oft.OftBlockSize, oft.UseCayleyNeumann, oft.NumCayleyNeumannTerms), Is.EqualTo((0, 16, true, 5)));
        Assert.That(AdapterConfigFile.ToJson(oft), Does.Not.Contain("peft_version"), "null peft_version is omitted, never written as null");
    }

    // ---------- errors ----------

    [Test]
    public void ThrowsForUnknownPeftType() =>
        Assert.That(ParseError("{\"peft_type\": \"LORA\", \"r\": 8}").Message, Does.Contain("cfg.json").And.Contain("\"LORA\" is not supported"));

    [Test]
    public void ThrowsForMissingPeftType() =>
        Assert.That(ParseError("{\"r\": 8}").Message, Does.Contain("no 'peft_type'"));

    [Test]
    public void ThrowsForOftConfigWithoutBlockSize_WithPeftsMessage() =>
        Assert.That(ParseError("{\"peft_type\": \"OFT\", \"r\": 8, \"module_dropout\": 0.0}").Message,
            Does.Contain("OFT has been updated since PEFT 0.14.0. Your trained adapter weights are incompatible"));

    [Test]
    public void ThrowsForBothBoftSizesZero() =>
        Assert.That(ParseError("{\"peft_type\": \"BOFT\", \"boft_block_size\": 0, \"boft_block_num\": 0}").Message,
            Does.Contain("Either `boft_block_size` or `boft_block_num` must be non-zero. Currently, boft_block_size = 0 and boft_block_num = 0."));

    [Test]
    public void ThrowsForBothBoftSizesGiven() =>
        Assert.That(ParseError("{\"peft_type\": \"BOFT\", \"boft_block_size\": 4, \"boft_block_num\": 2}").Message,
            Does.Contain("You can only specify either boft_block_size (4) or boft_block_num (2), but not both simultaneously"));

    [Test]
    public void ThrowsForBothOftSizesGiven() =>
        Assert.That(ParseError("{\"peft_type\": \"OFT\", \"r\": 4, \"oft_block_size\": 8}").Message,
            Does.Contain("You can only specify either r (4) or oft_block_size (8), but not both simultaneously"));

    [Test]
    public void ThrowsForNeitherOftSizeGiven() =>
        Assert.That(ParseError("{\"peft_type\": \"OFT\", \"r\": 0, \"oft_block_size\": 0}").Message,
            Does.Contain("Either `r` or `oft_block_size` must be non-zero. Currently, r = 0 and oft_block_size = 0."));

    [Test]
    public void ThrowsForWrongFieldType()
    {
        Assert.That(ParseError("{\"peft_type\": \"OFT\", \"oft_block_size\": 8.5}").Message, Does.Contain("field 'oft_block_size' must be an integer, but it is 8.5"));
        Assert.That(ParseError("{\"peft_type\": \"OFT\", \"oft_block_size\": 8, \"coft\": \"yes\"}").Message, Does.Contain("field 'coft' must be true or false"));
        Assert.That(ParseError("{\"peft_type\": \"BOFT\", \"target_modules\": 3}").Message, Does.Contain("field 'target_modules'"));
    }

    [Test]
    public void ThrowsForInvalidJsonAndDuplicateKeys()
    {
        Assert.That(ParseError("{\"peft_type\": \"BOFT\",}").Message, Does.Contain("not valid JSON"));
        Assert.That(ParseError("{\"peft_type\": \"BOFT\", \"boft_block_size\": 4, \"boft_block_size\": 8}").Message, Does.Contain("'boft_block_size' appears twice"));
    }

    [Test]
    public void ThrowsForInvalidTaskTypeAndBias()
    {
        Assert.That(ParseError("{\"peft_type\": \"BOFT\", \"task_type\": \"CHAT\"}").Message, Does.Contain("Invalid task type: 'CHAT'"));
        Assert.That(ParseError("{\"peft_type\": \"BOFT\", \"bias\": \"oft_only\"}").Message, Does.Contain("'none', 'all' or 'boft_only'"));
    }

    [Test]
    public void ThrowsForLayersPatternWithoutLayersToTransform() =>
        Assert.That(ParseError("{\"peft_type\": \"BOFT\", \"layers_pattern\": \"layers\"}").Message,
            Does.Contain("When `layers_pattern` is specified, `layers_to_transform` must also be specified."));

    [Test]
    public void ThrowsForUnparseablePeftVersionWithNeumann() =>
        Assert.That(ParseError("{\"peft_type\": \"OFT\", \"oft_block_size\": 8, \"peft_version\": \"latest\"}").Message,
            Does.Contain("peft_version 'latest' is not a valid PEP 440 version"));

    // ---------- version semantics ----------

    [TestCase(null, NeumannVariant.Peft016)]
    [TestCase("0.17.1", NeumannVariant.Peft016)]
    [TestCase("0.16.0", NeumannVariant.Peft016)]
    [TestCase("0.18.0rc0", NeumannVariant.Peft016)]
    [TestCase("0.18.0.dev0@0123abcd", NeumannVariant.Peft016)]
    [TestCase("0.18.0", NeumannVariant.Peft018)]
    [TestCase("0.18.0.post1", NeumannVariant.Peft018)]
    [TestCase("0.18.0+local", NeumannVariant.Peft018)]
    [TestCase("0.18.1", NeumannVariant.Peft018)]
    [TestCase("0.20.0.dev0@5d602fdbff04c33c1c4de55cda9d4ae1d7cb7e40", NeumannVariant.Peft018)]
    [TestCase("1.0", NeumannVariant.Peft018)]
    [TestCase("v0.19", NeumannVariant.Peft018)]
    public void TrainedNeumannVariant_FollowsPeftsVersionTest(string? version, NeumannVariant expected)
    {
        var config = new PeftOftAdapterConfig { PeftVersion = version };
        Assert.That(config.TrainedNeumannVariant, Is.EqualTo(expected));
        Assert.That(config.ToOftConfig(32).NeumannVariant, Is.EqualTo(expected));
        Assert.That(config.ToOftConfig(32, NeumannVariant.Peft018).NeumannVariant, Is.EqualTo(NeumannVariant.Peft018), "explicit override");
    }

    // ---------- mapping to and from the layer configs ----------

    [Test]
    public void BoftMapping_RoundTripsThroughBoftConfig()
    {
        var layer = new BoftConfig(FeatureCount: 64, BlockSize: 8, FactorCount: 3, Dropout: 0.05);
        var peft = PeftBoftAdapterConfig.FromBoftConfig(layer);
        Assert.That((peft.BoftBlockSize, peft.BoftBlockNum, peft.BoftNButterflyFactor, peft.BoftDropout), Is.EqualTo((8, 0, 3, 0.05)));
        Assert.That(peft.ToBoftConfig(64), Is.EqualTo(layer));
        Assert.That(peft.ToBoftConfig(128).Resolve().BlockCount, Is.EqualTo(16), "in-features come from each layer");
    }

    [Test]
    public void OftMapping_RoundTripsThroughOftConfig()
    {
        var layer = new OftConfig(FeatureCount: 96, BlockSize: 0, BlockCount: 4, BlockShare: true, Orthogonalization: Orthogonalization.ExactCayley,
            NeumannTerms: 6, Coft: true, Eps: 1e-3, AdjustInvalidBlockSize: true);
        var peft = PeftOftAdapterConfig.FromOftConfig(layer);
        Assert.That((peft.R, peft.OftBlockSize, peft.BlockShare, peft.UseCayleyNeumann, peft.NumCayleyNeumannTerms, peft.Coft, peft.Eps),
            Is.EqualTo((4, 0, true, false, 6, true, 1e-3)));
        Assert.That(peft.PeftVersion, Is.EqualTo(PeftAdapterConfig.DefaultPeftVersion));
        Assert.That(peft.ToOftConfig(96), Is.EqualTo(layer with { NeumannVariant = NeumannVariant.Peft018 }));
    }

    [Test]
    public void OftMapping_Peft016NeumannIsWrittenWithoutPeftVersion()
    {
        var layer = new OftConfig(FeatureCount: 16, BlockSize: 4, NeumannVariant: NeumannVariant.Peft016);
        var peft = PeftOftAdapterConfig.FromOftConfig(layer);
        Assert.That(peft.PeftVersion, Is.Null);
        Assert.That(AdapterConfigFile.ToJson(peft), Does.Not.Contain("peft_version"));
        var reread = (PeftOftAdapterConfig)AdapterConfigFile.Parse(AdapterConfigFile.ToJson(peft), "m");
        Assert.That(reread.ToOftConfig(16), Is.EqualTo(layer with { AdjustInvalidBlockSize = true }));
    }

    [Test]
    public void OftMapping_AdjustsInvalidBlockSizeAsPeftDoes()
    {
        var peft = new PeftOftAdapterConfig { OftBlockSize = 7 };
        Assert.That(peft.ToOftConfig(96).Resolve().BlockSize, Is.EqualTo(6), "adjust_oft_parameters(96, 7) = 6");
        Assert.Throws<ArgumentException>(() => peft.ToOftConfig(96, adjustInvalidBlockSize: false).Resolve());
    }

    [Test]
    public void Write_IsAtomicAndReadable()
    {
        string directory = CheckpointTestFiles.NewDirectory();
        try
        {
            var config = new PeftBoftAdapterConfig { BoftBlockSize = 8, TaskType = "CAUSAL_LM", AutoMapping = JsonDocument.Parse("{\"a\": 1}").RootElement.Clone() };
            AdapterConfigFile.Write(config, directory);
            Assert.That(CheckpointTestFiles.Entries(directory), Is.EqualTo(new[] { "adapter_config.json" }));
            var read = (PeftBoftAdapterConfig)AdapterConfigFile.Read(directory);
            Assert.That(AdapterConfigFile.ToJson(read), Is.EqualTo(AdapterConfigFile.ToJson(config)));
        }
        finally
        {
            CheckpointTestFiles.Delete(directory);
        }
    }

    [TestCase(6e-5, "6e-05")]
    [TestCase(0.0, "0.0")]
    [TestCase(-0.0, "-0.0")]
    [TestCase(0.1, "0.1")]
    [TestCase(1.0, "1.0")]
    [TestCase(1e16, "1e+16")]
    [TestCase(1e15, "1000000000000000.0")]
    [TestCase(123.456, "123.456")]
    [TestCase(0.0001, "0.0001")]
    [TestCase(0.00012, "0.00012")]
    [TestCase(1.5e-7, "1.5e-07")]
    [TestCase(2.5e300, "2.5e+300")]
    [TestCase(5e-324, "5e-324")]
    [TestCase(1234567.0, "1234567.0")]
    [TestCase(double.NaN, "NaN")]
    [TestCase(double.NegativeInfinity, "-Infinity")]
    public void FloatsAreSpelledAsPythonRepr(double value, string expected) =>
        Assert.That(PythonJson.FloatRepr(value), Is.EqualTo(expected));
}
