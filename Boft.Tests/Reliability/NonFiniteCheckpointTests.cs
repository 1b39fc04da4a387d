// Non-finite policy of checkpoints (docs/08_Guarantees.md): saving refuses NaN/±Inf parameters and writes nothing; loading
// refuses NaN, ±Inf and values beyond the float range unless the caller allows them.

using Boft.Checkpoints;
using Boft.Tests.Checkpoints;

namespace Boft.Tests.Reliability;

[TestFixture]
[Category("Checkpoints")]
public sealed class NonFiniteCheckpointTests
{
    private string root = null!;

    [SetUp]
    public void SetUp() => root = CheckpointTestFiles.NewDirectory();

    [TearDown]
    public void TearDown() => CheckpointTestFiles.Delete(root);

    [Test]
    public void Save_OfANaNParameter_IsRefused_AndWritesNothing()
    {
        AdapterCheckpoint checkpoint = TwoCheckpoints.Make(1);
        ((BoftModuleWeights)checkpoint.Modules["layer.q"]).Scale[3] = float.NaN;
        string folder = Path.Combine(root, "adapter");
        Assert.That(() => checkpoint.Save(folder), Throws.ArgumentException
            .With.Message.Contains("'base_model.model.layer.q.boft_s' holds NaN at flat index 3").And.Message.Contains("Nothing was written"));
        Assert.That(CheckpointTestFiles.Entries(root), Is.Empty);
    }

    /// <summary>The case: NaN, +Inf or out-of-range values in a checkpoint loaded without a word.</summary>
    [TestCase(double.NaN, "holds NaN")]
    [TestCase(double.PositiveInfinity, "holds Infinity")]
    [TestCase(1e39, "outside the float range")]
    public void Load_OfANonFiniteOrOutOfRangeValue_IsRefused_UnlessAllowed(double value, string expected)
    {
        string folder = Path.Combine(root, "adapter");
        AdapterCheckpoint good = TwoCheckpoints.Make(1);
        good.Save(folder);
        string key = PeftStateDictKeys.BoftRotation("layer.q");
        var tensors = good.ToStateDict(SafeTensorsElementType.Float64).Select(t =>
        {
            if (t.Name != key)
                return t;
            double[] values = t.ToDoubleArray();
            values[5] = value;
            return SafeTensor.FromDouble(t.Name, t.Shape, values);
        }).ToList();
        SafeTensorsFile.Write(tensors, AdapterCheckpoint.PeftMetadata, Path.Combine(folder, AdapterCheckpoint.WeightsFileName));

        Assert.That(() => AdapterCheckpoint.Load(folder), Throws.TypeOf<InvalidDataException>()
            .With.Message.Contains(key).And.Message.Contains(expected).And.Message.Contains("flat index 5").And.Message.Contains("allowNonFinite"));
        AdapterCheckpoint loaded = AdapterCheckpoint.Load(folder, allowNonFinite: true);
        Assert.That(float.IsFinite(((BoftModuleWeights)loaded.Modules["layer.q"]).Rotation[5]), Is.False);
    }
}
