// Cross-language checks. Python → C#: the committed fixtures written by make_peft_fixtures.py (torch, PEFT's keys and
// layouts) load with exact values. C# → Python: folders written here are parsed by read_checkpoint.py, which checks
// the reference safetensors layout byte for byte, PEFT's config format and checks, keys, shapes and exact values.
// The Python-running tests are ignored (with the reason) where /usr/bin/python3 with torch is missing.

using System.Globalization;
using System.Text;
using System.Text.Json;
using Boft.Checkpoints;

namespace Boft.Tests.Checkpoints;

[TestFixture]
[Category("Checkpoints")]
public sealed class PythonCrossCheckTests
{
    private static readonly string[] FixtureNames = ["boft_b4_m2_f32", "boft_b4_m2_bf16", "boft_legacy_p_f16", "oft_b4_v020_f32", "oft_shared_v017_bf16", "boft_conv_b6_m2_f32"];

    private static Dictionary<string, (string DataType, long[] Shape, double[] Values)> Expected(string fixture)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(Path.Combine(CheckpointTestFiles.Fixture(fixture), "expected.json")));
        var result = new Dictionary<string, (string, long[], double[])>(StringComparer.Ordinal);
        foreach (JsonProperty tensor in document.RootElement.EnumerateObject())
            result[tensor.Name] = (
                tensor.Value.GetProperty("dtype").GetString()!,
                tensor.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
                tensor.Value.GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray());
        return result;
    }

    [TestCaseSource(nameof(FixtureNames))]
    public void Fixture_SafetensorsParseWithExactValuesAndReserializeByteIdentically(string fixture)
    {
        string path = Path.Combine(CheckpointTestFiles.Fixture(fixture), AdapterCheckpoint.WeightsFileName);
        byte[] bytes = File.ReadAllBytes(path);
        SafeTensorsContent content = SafeTensorsFile.Parse(bytes, path);
        var expected = Expected(fixture);

        Assert.That(content.Metadata, Is.EqualTo(new Dictionary<string, string> { ["format"] = "pt" }));
        Assert.That(content.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), Is.EqualTo(expected.Keys.Order(StringComparer.Ordinal)));
        foreach (var (name, (dataType, shape, values)) in expected)
        {
            SafeTensor tensor = content[name];
            Assert.That(SafeTensorsElementTypes.GetName(tensor.ElementType), Is.EqualTo(dataType), name);
            Assert.That(tensor.Shape.ToArray(), Is.EqualTo(shape), name);
            Assert.That(tensor.ToDoubleArray(), Is.EqualTo(values), name + " (exact)");
        }
        Assert.That(SafeTensorsFile.Serialize(content.Tensors, content.Metadata), Is.EqualTo(bytes), "C# writes the same bytes as the Python reference layout");
    }

    [TestCaseSource(nameof(FixtureNames))]
    public void Fixture_ConfigRewritesByteIdentically(string fixture)
    {
        string path = Path.Combine(CheckpointTestFiles.Fixture(fixture), AdapterConfigFile.FileName);
        string text = File.ReadAllText(path, Encoding.UTF8);
        Assert.That(AdapterConfigFile.ToJson(AdapterConfigFile.Read(path)), Is.EqualTo(text), "json.dumps(indent=2, sort_keys=True) reproduced");
    }

    [Test]
    public void Fixture_BoftB4M2_LoadsWithExactValuesAndPeftConfig()
    {
        AdapterCheckpoint checkpoint = AdapterCheckpoint.Load(CheckpointTestFiles.Fixture("boft_b4_m2_f32"));
        var expected = Expected("boft_b4_m2_f32");
        var config = (PeftBoftAdapterConfig)checkpoint.Config;
        Assert.Multiple(() =>
        {
            Assert.That((config.BoftBlockSize, config.BoftBlockNum, config.BoftNButterflyFactor, config.BoftDropout), Is.EqualTo((4, 0, 2, 0.1)));
            Assert.That(config.Bias, Is.EqualTo("boft_only"));
            Assert.That(config.TaskType, Is.EqualTo("CAUSAL_LM"));
            Assert.That(config.PeftVersion, Is.EqualTo("0.20.0"));
            Assert.That(config.TargetModules!.Names, Is.EqualTo(new[] { "q_proj", "v_proj" }));
        });
        Assert.That(checkpoint.Modules.Keys, Is.EqualTo(new[] { "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj" }));
        var v = (BoftModuleWeights)checkpoint.Modules["model.layers.0.self_attn.v_proj"];
        Assert.That((v.InFeatureCount, v.OutFeatureCount), Is.EqualTo((16, 8)));
        Assert.That(v.Rotation.Select(x => (double)x), Is.EqualTo(expected["base_model.model.model.layers.0.self_attn.v_proj.boft_R"].Values));
        Assert.That(v.Scale.Select(x => (double)x), Is.EqualTo(expected["base_model.model.model.layers.0.self_attn.v_proj.boft_s"].Values));
        Assert.That(checkpoint.AdditionalTensors.Select(t => t.Name), Is.EqualTo(new[]
        {
            "base_model.model.model.layers.0.self_attn.q_proj.base_layer.bias", "base_model.model.model.layers.0.self_attn.v_proj.base_layer.bias",
        }), "bias=\"boft_only\" biases are kept as additional tensors");
        BoftShape shape = config.ToBoftConfig(v.InFeatureCount).Resolve();
        Assert.That(v.Rotation, Has.Length.EqualTo(shape.RawParameterCount));
    }

    [Test]
    public void Fixture_LegacyBoftF16_SkipsBoftPAndConvertsHalfExactly()
    {
        AdapterCheckpoint checkpoint = AdapterCheckpoint.Load(CheckpointTestFiles.Fixture("boft_legacy_p_f16"));
        var expected = Expected("boft_legacy_p_f16");
        Assert.That(checkpoint.IgnoredKeys, Is.EqualTo(new[] { "base_model.model.fc.boft_P" }));
        Assert.That(checkpoint.AdditionalTensors, Is.Empty);
        Assert.That(checkpoint.Config.PeftVersion, Is.Null);
        var fc = (BoftModuleWeights)checkpoint.Modules["fc"];
        Assert.That((fc.InFeatureCount, fc.OutFeatureCount), Is.EqualTo((8, 6)));
        Assert.That(fc.Rotation.Select(x => (double)x), Is.EqualTo(expected["base_model.model.fc.boft_R"].Values));
        Assert.That(fc.Scale.Select(x => (double)x), Is.EqualTo(expected["base_model.model.fc.boft_s"].Values));
    }

    [Test]
    public void Fixture_OftV020_LoadsWithExactValuesAndNewNeumannCoefficients()
    {
        AdapterCheckpoint checkpoint = AdapterCheckpoint.Load(CheckpointTestFiles.Fixture("oft_b4_v020_f32"));
        var expected = Expected("oft_b4_v020_f32");
        var config = (PeftOftAdapterConfig)checkpoint.Config;
        Assert.That(config.TargetModules!.Pattern, Is.EqualTo(@".*\.(q_proj|v_proj)$"));
        Assert.That(config.LayersToTransform, Is.EqualTo(new[] { 1 }));
        Assert.That(config.TrainedNeumannVariant, Is.EqualTo(NeumannVariant.Peft018), "peft_version 0.20.0.dev0@<commit>");
        var v = (OftModuleWeights)checkpoint.Modules["model.layers.1.self_attn.v_proj"];
        Assert.That(v.InFeatureCount, Is.EqualTo(12));
        Assert.That(v.Weight.Select(x => (double)x), Is.EqualTo(expected["base_model.model.model.layers.1.self_attn.v_proj.oft_R.weight"].Values));
        OftShape shape = config.ToOftConfig(v.InFeatureCount).Resolve();
        Assert.That(shape.NeumannCoefficients.ToArray(), Is.EqualTo(new[] { 1.0, 2.0, 2.0, 2.0, 1.0 }));
    }

    [Test]
    public void Fixture_OftSharedV017Bf16_NeedsFeatureCountsAndUsesOldNeumannCoefficients()
    {
        string folder = CheckpointTestFiles.Fixture("oft_shared_v017_bf16");
        Assert.That(Assert.Throws<InvalidDataException>(() => AdapterCheckpoint.Load(folder))!.Message, Does.Contain("block-shared"));

        AdapterCheckpoint checkpoint = AdapterCheckpoint.Load(folder, new Dictionary<string, LayerFeatureCounts> { ["encoder.dense"] = new(16, 16) });
        var config = (PeftOftAdapterConfig)checkpoint.Config;
        Assert.That(config.TrainedNeumannVariant, Is.EqualTo(NeumannVariant.Peft016), "no peft_version: written by PEFT < 0.18");
        OftShape shape = config.ToOftConfig(16).Resolve();
        Assert.That((shape.BlockCount, shape.BlockSize, shape.ParameterBlockCount), Is.EqualTo((2, 8, 1)));
        Assert.That(shape.NeumannCoefficients.ToArray(), Is.EqualTo(new[] { 1.0, 2.0, 2.0, 2.0, 2.0 }));
        var dense = (OftModuleWeights)checkpoint.Modules["encoder.dense"];
        Assert.That(dense.Weight.Select(x => (double)x), Is.EqualTo(Expected("oft_shared_v017_bf16")["base_model.model.encoder.dense.oft_R.weight"].Values));
    }

    [Test]
    public void Fixtures_AreWhatTheCommittedScriptWrites()
    {
        string? reason = CheckpointTestFiles.PythonWithTorchUnavailableReason();
        if (reason is not null)
            Assert.Ignore(reason);
        // The fixtures' values come from torch's seeded CPU generator, whose stream is only stable within one torch release:
        // compare bytes only with the torch that generated them (Debian bookworm's python3-torch).
        const string GeneratingTorch = "1.13.0a0";
        var (_, version) = CheckpointTestFiles.Run(CheckpointTestFiles.Python, ["-c", "import torch; print(torch.__version__)"], TimeSpan.FromMinutes(2));
        if (version.Trim() != GeneratingTorch)
            Assert.Ignore($"The fixtures were generated with torch {GeneratingTorch}; this machine has torch {version.Trim()}, whose seeded random stream may differ.");
        string scratch = CheckpointTestFiles.NewDirectory();
        try
        {
            foreach (string script in new[] { "make_peft_fixtures.py", "peft_layout.py" })
                File.Copy(Path.Combine(CheckpointTestFiles.ScriptsDirectory, script), Path.Combine(scratch, script));
            var (exitCode, output) = CheckpointTestFiles.Run(CheckpointTestFiles.Python, [Path.Combine(scratch, "make_peft_fixtures.py")], TimeSpan.FromMinutes(3));
            Assert.That(exitCode, Is.Zero, output);
            foreach (string fixture in FixtureNames)
                foreach (string file in new[] { "adapter_config.json", "adapter_model.safetensors", "expected.json" })
                    Assert.That(File.ReadAllBytes(Path.Combine(scratch, "Fixtures", fixture, file)),
                        Is.EqualTo(File.ReadAllBytes(Path.Combine(CheckpointTestFiles.Fixture(fixture), file))), $"{fixture}/{file} is stale: rerun make_peft_fixtures.py");
        }
        finally
        {
            CheckpointTestFiles.Delete(scratch);
        }
    }

    // ---------- C# → Python ----------

    private static string ExpectationJson(AdapterCheckpoint checkpoint, SafeTensorsElementType elementType, IReadOnlyDictionary<string, object?> config,
        bool withFloat32Source = false)
    {
        if (withFloat32Source)
        {
            // The float32 masters behind every adapter tensor, as bit patterns (exact, -0 included): Python converts them with torch and compares the stored bits.
            var sources = checkpoint.ToStateDict(SafeTensorsElementType.Float32).Where(t => PeftStateDictKeys.TryParse(t.Name, out _))
                .ToDictionary(t => t.Name, t => t.ToSingleArray().Select(BitConverter.SingleToUInt32Bits).ToArray());
            string plain = ExpectationJson(checkpoint, elementType, config);
            using JsonDocument document = JsonDocument.Parse(plain);
            return JsonSerializer.Serialize(new
            {
                tensors = document.RootElement.GetProperty("tensors"),
                config = document.RootElement.GetProperty("config"),
                float32_source = sources,
            });
        }
        var tensors = new Dictionary<string, object>();
        foreach (SafeTensor tensor in checkpoint.ToStateDict(elementType))
            tensors[tensor.Name] = new
            {
                dtype = SafeTensorsElementTypes.GetName(tensor.ElementType),
                shape = tensor.Shape.ToArray(),
                values = tensor.ToDoubleArray(),
            };
        return JsonSerializer.Serialize(new { tensors, config });
    }

    private static void RunReader(AdapterCheckpoint checkpoint, SafeTensorsElementType elementType, IReadOnlyDictionary<string, object?> config,
        bool withFloat32Source = false)
    {
        string? reason = CheckpointTestFiles.PythonWithTorchUnavailableReason();
        if (reason is not null)
            Assert.Ignore(reason);
        string folder = CheckpointTestFiles.NewDirectory();
        try
        {
            checkpoint.Save(folder, elementType);
            string expectation = Path.Combine(folder, "..", Path.GetFileName(folder) + ".expected.json");
            File.WriteAllText(expectation, ExpectationJson(checkpoint, elementType, config, withFloat32Source));
            try
            {
                var (exitCode, output) = CheckpointTestFiles.Run(CheckpointTestFiles.Python,
                    [Path.Combine(CheckpointTestFiles.ScriptsDirectory, "read_checkpoint.py"), folder, expectation], TimeSpan.FromMinutes(3));
                TestContext.Out.WriteLine(output);
                Assert.That(exitCode, Is.Zero, output);
                Assert.That(output, Does.StartWith("OK"));
            }
            finally
            {
                File.Delete(expectation);
            }
        }
        finally
        {
            CheckpointTestFiles.Delete(folder);
        }
    }

    [Test]
    public void CSharpBoftFolder_IsReadByPythonAsPeftWould()
    {
        AdapterCheckpoint original = AdapterCheckpointTests.BoftCheckpoint();
        var bias = SafeTensor.FromSingle("base_model.model.encoder.layer.0.q.base_layer.bias", [12],
            Enumerable.Range(0, 12).Select(i => i * 0.125f - 0.5f).ToArray());
        var checkpoint = new AdapterCheckpoint(original.Config with { Bias = "boft_only", BaseModelNameOrPath = "boft-tests/ünïcode" }, original.Modules, [bias]);
        RunReader(checkpoint, SafeTensorsElementType.Float32, new Dictionary<string, object?>
        {
            ["peft_type"] = "BOFT",
            ["boft_block_size"] = 4,
            ["boft_n_butterfly_factor"] = 2,
            ["bias"] = "boft_only",
            ["inference_mode"] = true,
            ["base_model_name_or_path"] = "boft-tests/ünïcode",
            ["target_modules"] = new[] { "q", "v" },
            ["peft_version"] = "0.18.0",
        });
    }

    [Test]
    public void CSharpOftFolderInF64_IsReadByPythonAsPeftWould() =>
        RunReader(AdapterCheckpointTests.OftCheckpoint(), SafeTensorsElementType.Float64, new Dictionary<string, object?>
        {
            ["peft_type"] = "OFT",
            ["oft_block_size"] = 4,
            ["r"] = 0,
            ["use_cayley_neumann"] = true,
            ["num_cayley_neumann_terms"] = 5,
            ["eps"] = 6e-5,
            ["target_modules"] = @".*\.(q|v)$",
        });

    [TestCase(SafeTensorsElementType.BFloat16)]
    [TestCase(SafeTensorsElementType.Float16)]
    public void CSharpBoftFolderIn16Bit_IsReadByPython_AsTorchsOwnRoundingOfTheMasters(SafeTensorsElementType elementType)
    {
        // Masters with ties at both types' rounding points (1 + 2^-8, 1 + 3·2^-8 for bf16; 1 + 2^-11, 1 + 3·2^-11 for fp16) and subnormals.
        AdapterCheckpoint original = AdapterCheckpointTests.BoftCheckpoint();
        var q = (BoftModuleWeights)original.Modules["encoder.layer.0.q"];
        float[] rotation = q.Rotation.ToArray();
        float[] special = [1f + 1f / 256, 1f + 3f / 256, 1f + 1f / 2048, 1f + 3f / 2048, -(1f + 1f / 256), BitConverter.UInt32BitsToSingle(0x0020C000u), 3e-7f, -0f, 1000.0625f];
        special.CopyTo(rotation, 0);
        var modules = original.Modules.ToDictionary(kv => kv.Key, kv => kv.Value);
        modules["encoder.layer.0.q"] = q with { Rotation = rotation };
        RunReader(new AdapterCheckpoint(original.Config, modules), elementType, new Dictionary<string, object?> { ["peft_type"] = "BOFT" }, withFloat32Source: true);
    }

    [Test]
    public void CSharpOftFolderWithOldNeumann_HasNoPeftVersionForPython()
    {
        var config = PeftOftAdapterConfig.FromOftConfig(new OftConfig(16, BlockSize: 4, NeumannVariant: NeumannVariant.Peft016));
        var checkpoint = new AdapterCheckpoint(config, new Dictionary<string, AdapterModuleWeights>
        {
            ["fc"] = new OftModuleWeights(16, Enumerable.Range(0, 24).Select(i => (float)(i - 12) / 64).ToArray()),
        });
        RunReader(checkpoint, SafeTensorsElementType.Float32, new Dictionary<string, object?>
        {
            ["peft_type"] = "OFT",
            ["__absent__"] = new[] { "peft_version" },
        });
    }

    [Test]
    public void ExpectationJson_WritesExactDoubles()
    {
        // The C# → Python comparison is exact only if System.Text.Json writes round-trippable doubles.
        double[] values = [0.1, 1.0 / 3.0, 6e-5, float.Epsilon, 1e300];
        using JsonDocument document = JsonDocument.Parse(JsonSerializer.Serialize(values));
        Assert.That(document.RootElement.EnumerateArray().Select(e => double.Parse(e.GetRawText(), CultureInfo.InvariantCulture)), Is.EqualTo(values));
    }
}
