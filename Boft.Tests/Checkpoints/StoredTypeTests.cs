// Checkpoint stored types (docs/05_Checkpoints.md, "Stored types"): float32 masters saved as F32, F64, BF16 or F16 and loaded
// back exactly into float32; round to nearest even checked against an independent rounding and against torch (the committed
// boft_b4_m2_bf16 fixture, which torch's Tensor.to(torch.bfloat16) wrote from boft_b4_m2_f32); overflow refused before
// anything is written; truncated and unknown-dtype files rejected.

using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Boft.Backends;
using Boft.Checkpoints;
using Boft.Layers;

namespace Boft.Tests.Checkpoints;

[TestFixture]
[Category("Checkpoints")]
public sealed class StoredTypeTests
{
    private const string Prefix = "base_model.model.model.layers.0.self_attn.";
    private string directory = null!;

    [SetUp]
    public void SetUp() => directory = CheckpointTestFiles.NewDirectory();

    [TearDown]
    public void TearDown() => CheckpointTestFiles.Delete(directory);

    public static readonly SafeTensorsElementType[] StoredTypes =
        [SafeTensorsElementType.Float32, SafeTensorsElementType.Float64, SafeTensorsElementType.BFloat16, SafeTensorsElementType.Float16];

    /// <summary>The float32 value a stored value of <paramref name="elementType"/> loads back as, computed without the code under test:
    /// BF16 by comparing the two neighbours (truncation and one ulp up) in double, F16 through double → Half (also RNE, and exact
    /// for float inputs because float → double is exact).</summary>
    private static float Expected(float value, SafeTensorsElementType elementType)
    {
        switch (elementType)
        {
            case SafeTensorsElementType.BFloat16:
                uint bits = BitConverter.SingleToUInt32Bits(value);
                float down = BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
                float up = BitConverter.UInt32BitsToSingle((bits & 0xFFFF0000u) + 0x10000u);
                double toDown = Math.Abs((double)value - down), toUp = Math.Abs((double)up - value);
                if (toDown != toUp)
                    return toDown < toUp ? down : up;
                return ((bits >> 16) & 1) == 0 ? down : up;
            case SafeTensorsElementType.Float16:
                return (float)(Half)(double)value;
            default:
                return value;
        }
    }

    private static float RoundTrip(float value, SafeTensorsElementType elementType) =>
        SafeTensor.FromSingle("x", [1], [value], elementType).ToSingleArray()[0];

    [TestCase(1f + 1f / 256, 1f, TestName = "BF16 tie 1+2^-8 rounds down to even 1")]
    [TestCase(1f + 3f / 256, 1f + 1f / 64, TestName = "BF16 tie 1+3·2^-8 rounds up to even 1+2^-6")]
    [TestCase(1f + 1f / 256 + 1f / 65536, 1f + 1f / 128, TestName = "BF16 just above a tie rounds up")]
    [TestCase(-1f - 1f / 256, -1f, TestName = "BF16 negative tie rounds to even")]
    public void BFloat16_RoundsToNearestEven(float value, float expected) =>
        Assert.That(RoundTrip(value, SafeTensorsElementType.BFloat16), Is.EqualTo(expected));

    [TestCase(0x00208000u, 0x00200000u, TestName = "BF16 subnormal tie rounds to even")]
    [TestCase(0x0020C000u, 0x00210000u, TestName = "BF16 subnormal above a tie rounds up")]
    [TestCase(0x00007FFFu, 0x00000000u, TestName = "BF16 smallest subnormals round to zero")]
    public void BFloat16_RoundsSubnormalsToNearestEven(uint valueBits, uint expectedBits) =>
        Assert.That(BitConverter.SingleToUInt32Bits(RoundTrip(BitConverter.UInt32BitsToSingle(valueBits), SafeTensorsElementType.BFloat16)), Is.EqualTo(expectedBits));

    [Test]
    public void BFloat16AndFloat16_MatchAnIndependentRounding_OnRandomBitPatterns()
    {
        var random = new Random(11);
        var values = new List<float>();
        while (values.Count < 200_000)
        {
            float v = BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32));
            // Keep every finite value within the 16-bit range, and a dense sample around 1 with all low bits (ties included).
            if (float.IsFinite(v) && Math.Abs(v) < 60000f)
                values.Add(v);
            values.Add(BitConverter.UInt32BitsToSingle(0x3F800000u | (uint)random.Next(0, 1 << 23)));
        }
        foreach (SafeTensorsElementType type in new[] { SafeTensorsElementType.BFloat16, SafeTensorsElementType.Float16 })
        {
            float[] stored = SafeTensor.FromSingle("x", [values.Count], values.ToArray(), type).ToSingleArray();
            for (int i = 0; i < values.Count; i++)
                if (BitConverter.SingleToUInt32Bits(stored[i]) != BitConverter.SingleToUInt32Bits(Expected(values[i], type)))
                    Assert.Fail($"{type}: {values[i]:R} (0x{BitConverter.SingleToUInt32Bits(values[i]):X8}) stored as {stored[i]:R}, expected {Expected(values[i], type):R}");
        }
    }

    [Test]
    public void BFloat16_KeepsNaNAndInfinity()
    {
        // A NaN whose payload lies only in the low 16 bits (0x7F800001) must not truncate to 0x7F80 (+Inf).
        float[] values = [BitConverter.UInt32BitsToSingle(0x7F800001u), BitConverter.UInt32BitsToSingle(0xFFC00000u), float.PositiveInfinity, float.NegativeInfinity];
        byte[] bytes = SafeTensor.FromSingle("x", [4], values, SafeTensorsElementType.BFloat16).GetBytes().ToArray();
        ushort[] bits = Enumerable.Range(0, 4).Select(i => BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i))).ToArray();
        Assert.That(bits, Is.EqualTo(new ushort[] { 0x7FC0, 0xFFC0, 0x7F80, 0xFF80 }));
    }

    [Test]
    public void Float16_TiesAndLimits()
    {
        Assert.That(RoundTrip(1f + 1f / 2048, SafeTensorsElementType.Float16), Is.EqualTo(1f), "tie 1+2^-11 rounds to even 1");
        Assert.That(RoundTrip(1f + 3f / 2048, SafeTensorsElementType.Float16), Is.EqualTo(1f + 1f / 512), "tie 1+3·2^-11 rounds to even");
        Assert.That(RoundTrip(65504f, SafeTensorsElementType.Float16), Is.EqualTo(65504f));
        Assert.That(RoundTrip(65519.996f, SafeTensorsElementType.Float16), Is.EqualTo(65504f), "below the overflow threshold 65520");
        Assert.That(RoundTrip(6e-8f, SafeTensorsElementType.Float16), Is.EqualTo((float)Half.Epsilon), "subnormal float16");
    }

    [TestCase(SafeTensorsElementType.Float16, 0x477FF000u, TestName = "F16 overflow at 65520 (the tie above 65504)")]
    [TestCase(SafeTensorsElementType.Float16, 0xC9742400u, TestName = "F16 overflow at -1e6")]
    [TestCase(SafeTensorsElementType.BFloat16, 0x7F7FFFFFu, TestName = "BF16 overflow at float.MaxValue")]
    [TestCase(SafeTensorsElementType.BFloat16, 0x7F7F8000u, TestName = "BF16 overflow at the tie above the largest bf16")]
    public void Overflow_ThrowsNamingTheTensor(SafeTensorsElementType type, uint valueBits)
    {
        float value = BitConverter.UInt32BitsToSingle(valueBits);
        var ex = Assert.Throws<OverflowException>(() => SafeTensor.FromSingle("layer.w", [3], [0.5f, value, 1f], type));
        Assert.That(ex!.Message, Does.Contain("'layer.w'").And.Contain("flat index 1").And.Contain(SafeTensorsElementTypes.GetName(type)));
        Assert.That(RoundTrip(BitConverter.UInt32BitsToSingle(0x7F7F7FFFu), SafeTensorsElementType.BFloat16),
            Is.EqualTo(BitConverter.UInt32BitsToSingle(0x7F7F0000u)), "just below the bf16 threshold rounds to the largest bf16");
    }

    [Test]
    public void FromSingle_RefusesATypeItCannotStore() =>
        Assert.That(() => SafeTensor.FromSingle("x", [1], [1f], SafeTensorsElementType.Int32),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("I32"));

    [TestCaseSource(nameof(StoredTypes))]
    public void Checkpoint_SaveInEachType_LoadsBackTheRoundedMastersAsFloat32(SafeTensorsElementType type)
    {
        AdapterCheckpoint checkpoint = AdapterCheckpointTests.BoftCheckpoint();
        checkpoint.Save(directory, type);
        SafeTensorsContent content = SafeTensorsFile.Read(Path.Combine(directory, AdapterCheckpoint.WeightsFileName));
        Assert.That(content.Tensors.Select(t => t.ElementType), Is.All.EqualTo(type));

        AdapterCheckpoint loaded = AdapterCheckpoint.Load(directory);
        foreach (var (path, weights) in checkpoint.Modules)
        {
            var original = (BoftModuleWeights)weights;
            var back = (BoftModuleWeights)loaded.Modules[path];
            Assert.That(back.Rotation, Is.EqualTo(original.Rotation.Select(v => Expected(v, type))), path);
            Assert.That(back.Scale, Is.EqualTo(original.Scale.Select(v => Expected(v, type))), path);
        }
        // Saving the loaded (already rounded) values again in the same type writes the same bytes: rounding is idempotent.
        string again = CheckpointTestFiles.NewDirectory();
        try
        {
            loaded.Save(again, type);
            Assert.That(File.ReadAllBytes(Path.Combine(again, AdapterCheckpoint.WeightsFileName)),
                Is.EqualTo(File.ReadAllBytes(Path.Combine(directory, AdapterCheckpoint.WeightsFileName))));
        }
        finally
        {
            CheckpointTestFiles.Delete(again);
        }
    }

    [Test]
    public void Checkpoint_DefaultStoredTypeIsFloat32()
    {
        AdapterCheckpointTests.BoftCheckpoint().Save(directory);
        Assert.That(SafeTensorsFile.Read(Path.Combine(directory, AdapterCheckpoint.WeightsFileName)).Tensors.Select(t => t.ElementType),
            Is.All.EqualTo(SafeTensorsElementType.Float32));
    }

    [TestCase(SafeTensorsElementType.Float16)]
    [TestCase(SafeTensorsElementType.BFloat16)]
    public void Checkpoint_SaveThatOverflows_ThrowsNamingTheTensor_AndKeepsThePreviousCheckpoint(SafeTensorsElementType type)
    {
        AdapterCheckpoint good = AdapterCheckpointTests.BoftCheckpoint();
        good.Save(directory);
        byte[] weightsBefore = File.ReadAllBytes(Path.Combine(directory, AdapterCheckpoint.WeightsFileName));
        byte[] configBefore = File.ReadAllBytes(Path.Combine(directory, AdapterConfigFile.FileName));
        var v = (BoftModuleWeights)good.Modules["encoder.layer.0.v"];
        float[] scale = v.Scale.ToArray();
        scale[5] = type == SafeTensorsElementType.Float16 ? 1e5f : float.MaxValue;
        var modules = good.Modules.ToDictionary(kv => kv.Key, kv => kv.Value);
        modules["encoder.layer.0.v"] = v with { Scale = scale };
        var bad = new AdapterCheckpoint(good.Config, modules);

        var ex = Assert.Throws<OverflowException>(() => bad.Save(directory, type));
        Assert.That(ex!.Message, Does.Contain("'base_model.model.encoder.layer.0.v.boft_s'").And.Contain("flat index 5").And.Contain("Nothing was written"));
        Assert.That(CheckpointTestFiles.Entries(directory), Is.EqualTo(new[] { "adapter_config.json", "adapter_model.safetensors" }), "no staging folder left behind");
        Assert.That(File.ReadAllBytes(Path.Combine(directory, AdapterCheckpoint.WeightsFileName)), Is.EqualTo(weightsBefore));
        Assert.That(File.ReadAllBytes(Path.Combine(directory, AdapterConfigFile.FileName)), Is.EqualTo(configBefore));
        Assert.That(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(directory)!).Where(p => p.StartsWith(directory, StringComparison.Ordinal) && p != directory),
            Is.Empty, "no staging folder beside the checkpoint");
        bad.Save(directory, SafeTensorsElementType.Float32);
        Assert.That(((BoftModuleWeights)AdapterCheckpoint.Load(directory).Modules["encoder.layer.0.v"]).Scale[5], Is.EqualTo(scale[5]), "F32 stores it");
    }

    [Test]
    public void Checkpoint_SaveInAnIntegerType_Throws() =>
        Assert.That(() => AdapterCheckpointTests.BoftCheckpoint().Save(directory, SafeTensorsElementType.Int64),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("F32, F64, BF16 or F16"));

    [Test]
    public void TruncatedBFloat16Checkpoint_IsRejectedNamingTheFile()
    {
        string fixture = CheckpointTestFiles.Fixture("boft_b4_m2_bf16");
        File.Copy(Path.Combine(fixture, AdapterConfigFile.FileName), Path.Combine(directory, AdapterConfigFile.FileName));
        byte[] bytes = File.ReadAllBytes(Path.Combine(fixture, AdapterCheckpoint.WeightsFileName));
        string weights = Path.Combine(directory, AdapterCheckpoint.WeightsFileName);
        File.WriteAllBytes(weights, bytes[..^3]);
        Assert.That(() => AdapterCheckpoint.Load(directory),
            Throws.InstanceOf<InvalidDataException>().With.Message.Contains("truncated").And.Message.Contains(weights));
    }

    [Test]
    public void UnknownDtype_IsRejectedNamingTheDtype()
    {
        // The header of a one-tensor file with dtype "BF17", padded to a multiple of 8 as the reference writer does.
        string header = "{\"w\":{\"dtype\":\"BF17\",\"shape\":[2],\"data_offsets\":[0,4]}}";
        header = header.PadRight((header.Length + 7) / 8 * 8);
        byte[] file = [.. BitConverter.GetBytes((ulong)header.Length), .. Encoding.UTF8.GetBytes(header), 0, 0, 0, 0];
        Assert.That(() => SafeTensorsFile.Parse(file, "bad.safetensors"),
            Throws.InstanceOf<InvalidDataException>().With.Message.Contains("BF17").And.Message.Contains("bad.safetensors"));
    }

    [Test]
    public void TorchWrittenBf16Fixture_LoadsIntoFloat32Masters_AsTheRoundedFloat32Fixture()
    {
        // boft_b4_m2_bf16 is boft_b4_m2_f32 converted by torch (Tensor.to(torch.bfloat16)); loading it into float32 layers must give
        // exactly our RNE rounding of the float32 fixture's values, within half a bf16 ulp (2^-8 relative) of them.
        using var backend = new ReferenceBackend();
        var config = new BoftConfig(16, BlockSize: 4, FactorCount: 2, Dropout: 0.1);
        using var q32 = new BoftLinear(backend, config, 16, new float[16 * 16], new float[16], trainBias: true);
        using var v32 = new BoftLinear(backend, config, 8, new float[8 * 16], new float[8], trainBias: true);
        using var q16 = new BoftLinear(backend, config, 16, new float[16 * 16], new float[16], trainBias: true);
        using var v16 = new BoftLinear(backend, config, 8, new float[8 * 16], new float[8], trainBias: true);
        var layers32 = new Dictionary<string, AdapterLinear> { ["model.layers.0.self_attn.q_proj"] = q32, ["model.layers.0.self_attn.v_proj"] = v32 };
        var layers16 = new Dictionary<string, AdapterLinear> { ["model.layers.0.self_attn.q_proj"] = q16, ["model.layers.0.self_attn.v_proj"] = v16 };
        LayerCheckpoints.Load(CheckpointTestFiles.Fixture("boft_b4_m2_f32"), layers32);
        AdapterCheckpoint loaded = LayerCheckpoints.Load(CheckpointTestFiles.Fixture("boft_b4_m2_bf16"), layers16);
        Assert.That(loaded.Config.Bias, Is.EqualTo("boft_only"));

        using JsonDocument expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(CheckpointTestFiles.Fixture("boft_b4_m2_bf16"), "expected.json")));
        Assert.That(expected.RootElement.EnumerateObject().Select(p => p.Value.GetProperty("dtype").GetString()), Is.All.EqualTo("BF16"));
        var pairs = new (string Key, Boft.Training.Parameter Wide, Boft.Training.Parameter Narrow)[]
        {
            ("q_proj.boft_R", q32.BoftR, q16.BoftR), ("q_proj.boft_s", q32.BoftS, q16.BoftS), ("q_proj.base_layer.bias", q32.Bias!, q16.Bias!),
            ("v_proj.boft_R", v32.BoftR, v16.BoftR), ("v_proj.boft_s", v32.BoftS, v16.BoftS), ("v_proj.base_layer.bias", v32.Bias!, v16.Bias!),
        };
        foreach (var (key, wide, narrow) in pairs)
        {
            float[] master = wide.Value.ToArray(), fromBf16 = narrow.Value.ToArray();
            Assert.That(fromBf16.Select(x => (double)x), Is.EqualTo(expected.RootElement.GetProperty(Prefix + key).GetProperty("values").EnumerateArray().Select(e => e.GetDouble())),
                key + ": the bf16 values, exactly");
            Assert.That(fromBf16, Is.EqualTo(master.Select(x => Expected(x, SafeTensorsElementType.BFloat16))), key + ": torch's rounding is RNE, as ours");
            for (int i = 0; i < master.Length; i++)
                Assert.That(Math.Abs(fromBf16[i] - master[i]), Is.LessThanOrEqualTo(Math.Abs(master[i]) * Math.Pow(2, -8)), $"{key}[{i}] within half a bf16 ulp");
        }

        // Boft's own bf16 save of the float32 masters writes torch's file byte for byte (adapter parameters and trained biases).
        LayerCheckpoints.Save(layers32, directory, elementType: SafeTensorsElementType.BFloat16);
        Assert.That(File.ReadAllBytes(Path.Combine(directory, AdapterCheckpoint.WeightsFileName)),
            Is.EqualTo(File.ReadAllBytes(Path.Combine(CheckpointTestFiles.Fixture("boft_b4_m2_bf16"), AdapterCheckpoint.WeightsFileName))));
    }

    [TestCase(SafeTensorsElementType.BFloat16)]
    [TestCase(SafeTensorsElementType.Float16)]
    public void Layers_SaveIn16Bit_LoadIntoFloat32Masters(SafeTensorsElementType type)
    {
        using var backend = new ReferenceBackend();
        var config = new OftConfig(16, BlockSize: 4);
        var random = new Random(3);
        float[] weight = Enumerable.Range(0, 6 * 16).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        float[] bias = Enumerable.Range(0, 6).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        using var layer = new OftLinear(backend, config, 6, weight, bias, new AdapterInitialization(false, 8), trainBias: true);
        LayerCheckpoints.Save(new Dictionary<string, AdapterLinear> { ["fc"] = layer }, directory, elementType: type);
        Assert.That(SafeTensorsFile.Read(Path.Combine(directory, AdapterCheckpoint.WeightsFileName)).Tensors.Select(t => t.ElementType), Is.All.EqualTo(type),
            "the trained bias is stored in the chosen type too");
        using var copy = new OftLinear(backend, config, 6, weight, new float[6], trainBias: true);
        LayerCheckpoints.Load(directory, new Dictionary<string, AdapterLinear> { ["fc"] = copy });
        Assert.That(copy.Weight.Value.ToArray(), Is.EqualTo(layer.Weight.Value.ToArray().Select(v => Expected(v, type))));
        Assert.That(copy.Bias!.Value.ToArray(), Is.EqualTo(bias.Select(v => Expected(v, type))));
    }
}
