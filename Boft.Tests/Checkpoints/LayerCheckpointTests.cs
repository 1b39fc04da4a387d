// Adapter folders to and from BoftLinear/OftLinear layers on every backend: round trips, a PEFT-written fixture loaded into
// layers, and failed loads that change nothing.

using System.Text.Json;
using Boft.Checkpoints;
using Boft.Layers;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.Checkpoints;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class LayerCheckpointTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private static float[] RandomFloats(int seed, int length)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
    }

    [Test]
    public void BoftLayers_SaveThenLoad_RestoreEveryValue()
    {
        var config = new BoftConfig(16, BlockSize: 4, FactorCount: 2);
        using var q = new BoftLinear(Backend, config, 12, RandomFloats(1, 12 * 16), RandomFloats(2, 12), new AdapterInitialization(false, 3), trainBias: true);
        using var v = new BoftLinear(Backend, config, 8, RandomFloats(4, 8 * 16), RandomFloats(5, 8), new AdapterInitialization(false, 6), trainBias: true);
        string dir = CheckpointTestFiles.NewDirectory();
        try
        {
            LayerCheckpoints.Save(new Dictionary<string, AdapterLinear> { ["model.layers.0.q_proj"] = q, ["model.layers.0.v_proj"] = v }, dir);
            using var q2 = new BoftLinear(Backend, config, 12, RandomFloats(1, 12 * 16), new float[12], trainBias: true);
            using var v2 = new BoftLinear(Backend, config, 8, RandomFloats(4, 8 * 16), new float[8], trainBias: true);
            AdapterCheckpoint loaded = LayerCheckpoints.Load(dir, new Dictionary<string, AdapterLinear> { ["model.layers.0.q_proj"] = q2, ["model.layers.0.v_proj"] = v2 });
            Assert.That(loaded.Config.Bias, Is.EqualTo("boft_only"));
            Assert.That(q2.BoftR.Value.ToArray(), Is.EqualTo(q.BoftR.Value.ToArray()));
            Assert.That(q2.BoftS.Value.ToArray(), Is.EqualTo(q.BoftS.Value.ToArray()));
            Assert.That(q2.Bias!.Value.ToArray(), Is.EqualTo(q.Bias!.Value.ToArray()));
            Assert.That(v2.BoftR.Value.ToArray(), Is.EqualTo(v.BoftR.Value.ToArray()));
            using var config2 = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "adapter_config.json")));
            Assert.That(config2.RootElement.GetProperty("peft_type").GetString(), Is.EqualTo("BOFT"));
            Assert.That(config2.RootElement.GetProperty("boft_n_butterfly_factor").GetInt32(), Is.EqualTo(2));
            Assert.That(config2.RootElement.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()), Is.EquivalentTo(new[] { "q_proj", "v_proj" }));
        }
        finally
        {
            CheckpointTestFiles.Delete(dir);
        }
    }

    [Test]
    public void OftLayers_SaveThenLoad_RestoreEveryValue([Values] bool share)
    {
        var config = new OftConfig(16, BlockSize: 4, BlockShare: share, NeumannTerms: 4);
        using var layer = new OftLinear(Backend, config, 6, RandomFloats(7, 6 * 16), initialization: new AdapterInitialization(false, 8));
        string dir = CheckpointTestFiles.NewDirectory();
        try
        {
            LayerCheckpoints.Save(new Dictionary<string, AdapterLinear> { ["fc"] = layer }, dir);
            using var copy = new OftLinear(Backend, config, 6, RandomFloats(7, 6 * 16));
            LayerCheckpoints.Load(dir, new Dictionary<string, AdapterLinear> { ["fc"] = copy });
            Assert.That(copy.Weight.Value.ToArray(), Is.EqualTo(layer.Weight.Value.ToArray()));
        }
        finally
        {
            CheckpointTestFiles.Delete(dir);
        }
    }

    [Test]
    public void PeftWrittenBoftFixture_LoadsIntoLayers()
    {
        // boft_b4_m2_f32 was written by make_peft_fixtures.py in PEFT's layout: q_proj 16→16 and v_proj 16→8, bias="boft_only".
        string fixture = CheckpointTestFiles.Fixture("boft_b4_m2_f32");
        using JsonDocument expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "expected.json")));
        float[] Values(string key) => expected.RootElement.GetProperty(key).GetProperty("values").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var config = new BoftConfig(16, BlockSize: 4, FactorCount: 2, Dropout: 0.1);
        using var q = new BoftLinear(Backend, config, 16, new float[16 * 16], new float[16], trainBias: true);
        using var v = new BoftLinear(Backend, config, 8, new float[8 * 16], new float[8], trainBias: true);
        LayerCheckpoints.Load(fixture, new Dictionary<string, AdapterLinear> { ["model.layers.0.self_attn.q_proj"] = q, ["model.layers.0.self_attn.v_proj"] = v });
        const string prefix = "base_model.model.model.layers.0.self_attn.";
        Assert.That(q.BoftR.Value.ToArray(), Is.EqualTo(Values(prefix + "q_proj.boft_R")));
        Assert.That(q.BoftS.Value.ToArray(), Is.EqualTo(Values(prefix + "q_proj.boft_s")));
        Assert.That(v.Bias!.Value.ToArray(), Is.EqualTo(Values(prefix + "v_proj.base_layer.bias")));
    }

    [Test]
    public void Load_ThrowsForAMismatchedLayer_AndChangesNothing()
    {
        string fixture = CheckpointTestFiles.Fixture("boft_b4_m2_f32");
        using var q = new BoftLinear(Backend, new BoftConfig(16, BlockSize: 4, FactorCount: 2), 16, new float[256], new float[16], trainBias: true);
        using var v = new BoftLinear(Backend, new BoftConfig(16, BlockSize: 2, FactorCount: 2), 8, new float[128], new float[8], trainBias: true);
        float[] before = q.BoftR.Value.ToArray();
        var layers = new Dictionary<string, AdapterLinear> { ["model.layers.0.self_attn.q_proj"] = q, ["model.layers.0.self_attn.v_proj"] = v };
        var ex = Assert.Throws<ArgumentException>(() => LayerCheckpoints.Restore(AdapterCheckpoint.Load(fixture, new Dictionary<string, LayerFeatureCounts>
        {
            ["model.layers.0.self_attn.q_proj"] = new(16, 16), ["model.layers.0.self_attn.v_proj"] = new(16, 8),
        }), layers));
        Assert.That(ex!.Message, Does.Contain("v_proj").And.Contain("b=4").And.Contain("b=2"));
        Assert.That(q.BoftR.Value.ToArray(), Is.EqualTo(before), "a failed load leaves every layer as it was");
        Assert.That(() => LayerCheckpoints.Load(fixture, new Dictionary<string, AdapterLinear> { ["model.layers.0.self_attn.q_proj"] = q }),
            Throws.InstanceOf<Exception>().With.Message.Contains("v_proj"));
    }

    [Test]
    public void Capture_ThrowsForMixedConfigurations()
    {
        using var a = new BoftLinear(Backend, new BoftConfig(16, BlockSize: 4), 4, new float[64]);
        using var b = new BoftLinear(Backend, new BoftConfig(16, BlockSize: 8), 4, new float[64]);
        using var c = new OftLinear(Backend, new OftConfig(16, BlockSize: 4), 4, new float[64]);
        Assert.That(() => LayerCheckpoints.Capture(new Dictionary<string, AdapterLinear> { ["a"] = a, ["b"] = b }), Throws.ArgumentException.With.Message.Contains("different adapter configurations"));
        Assert.That(() => LayerCheckpoints.Capture(new Dictionary<string, AdapterLinear> { ["a"] = a, ["c"] = c }), Throws.ArgumentException);
        Assert.That(() => LayerCheckpoints.Capture(new Dictionary<string, AdapterLinear>()), Throws.ArgumentException);
    }
}
