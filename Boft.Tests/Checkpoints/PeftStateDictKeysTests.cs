// PEFT state-dict key names: creation, parsing, adapter-name removal exactly as PEFT's helper does.

using Boft.Checkpoints;

namespace Boft.Tests.Checkpoints;

[TestFixture]
[Category("Checkpoints")]
public sealed class PeftStateDictKeysTests
{
    private const string Path = "model.layers.0.self_attn.q_proj";

    [Test]
    public void Create_GivesPeftsCheckpointKeys()
    {
        Assert.That(PeftStateDictKeys.BoftRotation(Path), Is.EqualTo("base_model.model.model.layers.0.self_attn.q_proj.boft_R"));
        Assert.That(PeftStateDictKeys.BoftScale(Path), Is.EqualTo("base_model.model.model.layers.0.self_attn.q_proj.boft_s"));
        Assert.That(PeftStateDictKeys.OftRotationWeight(Path), Is.EqualTo("base_model.model.model.layers.0.self_attn.q_proj.oft_R.weight"));
    }

    [TestCase("base_model.model.model.layers.0.self_attn.q_proj.boft_R", Path, PeftParameterKind.BoftRotation)]
    [TestCase("base_model.model.model.layers.0.self_attn.q_proj.boft_s", Path, PeftParameterKind.BoftScale)]
    [TestCase("base_model.model.model.layers.0.self_attn.q_proj.oft_R.weight", Path, PeftParameterKind.OftRotationWeight)]
    [TestCase("base_model.model.fc.boft_P", "fc", PeftParameterKind.LegacyBoftPermutation)]
    [TestCase("base_model.model.fc.oft_r", "fc", PeftParameterKind.LegacyOftRotation)]
    [TestCase("base_model.model.fc.oft_s", "fc", PeftParameterKind.LegacyOftScale)]
    [TestCase("fc.boft_R", "fc", PeftParameterKind.BoftRotation)]
    public void TryParse_RecognisesAdapterKeys(string key, string modulePath, PeftParameterKind kind)
    {
        Assert.That(PeftStateDictKeys.TryParse(key, out PeftParameterKey parsed), Is.True);
        Assert.That(parsed, Is.EqualTo(new PeftParameterKey(modulePath, kind)));
    }

    [TestCase("base_model.model.fc.base_layer.bias")]
    [TestCase("base_model.model.fc.weight")]
    [TestCase("base_model.model.boft_R")]
    [TestCase("boft_R")]
    [TestCase("base_model.model.fc..boft_R")]
    [TestCase("base_model.model.fc.oft_R.default.weight")]
    public void TryParse_RejectsOtherKeys(string key) =>
        Assert.That(PeftStateDictKeys.TryParse(key, out _), Is.False);

    // Examples from PEFT's _remove_adapter_name_from_state_dict_key docstring and its two cases.
    [TestCase("model.q_proj.lora_A.default.weight", "default", "model.q_proj.lora_A.weight")]
    [TestCase("base_model.model.lin.boft_R.default", "default", "base_model.model.lin.boft_R")]
    [TestCase("base_model.model.lin.oft_R.default.weight", "default", "base_model.model.lin.oft_R.weight")]
    [TestCase("base_model.model.default.lin.boft_s.default", "default", "base_model.model.default.lin.boft_s")]
    [TestCase("base_model.model.other.lin.oft_R.other.weight", "other", "base_model.model.other.lin.oft_R.weight")]
    [TestCase("nodots", "default", "nodots")]
    public void RemoveAdapterName_MatchesPeft(string key, string adapter, string expected) =>
        Assert.That(PeftStateDictKeys.RemoveAdapterName(key, adapter), Is.EqualTo(expected));

    [Test]
    public void InsertAdapterName_IsTheInverseForAdapterKeys()
    {
        foreach (string key in new[] { PeftStateDictKeys.BoftRotation(Path), PeftStateDictKeys.BoftScale(Path), PeftStateDictKeys.OftRotationWeight(Path) })
        {
            string modelKey = PeftStateDictKeys.InsertAdapterName(key, "my_adapter");
            Assert.That(modelKey, Does.Contain(".my_adapter"));
            Assert.That(PeftStateDictKeys.RemoveAdapterName(modelKey, "my_adapter"), Is.EqualTo(key));
        }
        Assert.That(PeftStateDictKeys.InsertAdapterName(PeftStateDictKeys.OftRotationWeight("fc"), "default"), Is.EqualTo("base_model.model.fc.oft_R.default.weight"));
        Assert.Throws<ArgumentException>(() => PeftStateDictKeys.InsertAdapterName("base_model.model.fc.weight", "default"));
    }

    [Test]
    public void Create_ThrowsForInvalidModulePath()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => PeftStateDictKeys.BoftRotation("a..b"))!.ParamName, Is.EqualTo("modulePath"));
        Assert.Throws<ArgumentException>(() => PeftStateDictKeys.BoftRotation(""));
        Assert.Throws<ArgumentException>(() => PeftStateDictKeys.BoftRotation(".a"));
    }

    [Test]
    public void Shapes_FollowTheConfig()
    {
        BoftShape boft = new BoftConfig(96, BlockSize: 6, FactorCount: 2).Resolve();
        Assert.That(PeftStateDictKeys.BoftRotationShape(boft), Is.EqualTo(new long[] { 2, 16, 6, 6 }));
        Assert.That(PeftStateDictKeys.BoftScaleShape(40), Is.EqualTo(new long[] { 40, 1 }));
        OftShape oft = new OftConfig(96, BlockSize: 8).Resolve();
        Assert.That(PeftStateDictKeys.OftRotationWeightShape(oft), Is.EqualTo(new long[] { 12, 28 }));
        OftShape shared = new OftConfig(96, BlockSize: 8, BlockShare: true).Resolve();
        Assert.That(PeftStateDictKeys.OftRotationWeightShape(shared), Is.EqualTo(new long[] { 1, 28 }));
    }

    [Test]
    public void ValidateShape_NamesTheKeyAndBothShapes()
    {
        var exception = Assert.Throws<ArgumentException>(() => PeftStateDictKeys.ValidateShape("k.boft_R", [2, 4, 4, 4], [3, 4, 4, 4]))!;
        Assert.That(exception.Message, Does.Contain("'k.boft_R'").And.Contain("[2, 4, 4, 4]").And.Contain("[3, 4, 4, 4]"));
        Assert.DoesNotThrow(() => PeftStateDictKeys.ValidateShape("k", [1, 2], [1, 2]));
    }
}
