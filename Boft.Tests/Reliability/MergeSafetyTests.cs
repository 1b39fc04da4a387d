// Merge safety (docs/08_Guarantees.md): Merge and Unmerge refuse, changing nothing, when the scale has a zero or non-finite
// entry, when a rotation block is too far from orthogonal to invert, or when the result would be non-finite.

using Boft.Backends;
using Boft.Layers;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.Reliability;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class MergeSafetyTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private static float[] RandomFloats(int seed, int length)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
    }

    private BoftLinear Boft() =>
        new(Backend, new BoftConfig(16, BlockSize: 4, FactorCount: 2), 6, RandomFloats(1, 6 * 16), RandomFloats(2, 6), new AdapterInitialization(false, 3));

    /// <summary>The case: a zero in boft_s turned the whole frozen base weight into NaN, silently and for good.</summary>
    [Test]
    public void Unmerge_WithAZeroInBoftS_RefusesAndKeepsTheMergedWeight()
    {
        using BoftLinear layer = Boft();
        layer.Merge();
        float[] scale = layer.BoftS.Value.ToArray();
        scale[2] = 0;
        layer.BoftS.CopyFrom(scale);
        float[] merged = layer.BaseWeight.Value.ToArray();

        Assert.That(() => layer.Unmerge(), Throws.TypeOf<MergeRefusedException>()
            .With.Message.Contains("boft_s has 1 zero").And.Message.Contains("index 2").And.Message.Contains("Nothing was changed")
            .And.Message.Contains("LayerCheckpoints.Load"));
        Assert.That(layer.IsMerged, Is.True);
        Assert.That(layer.BaseWeight.Value.ToArray(), Is.EqualTo(merged), "the merged weight is untouched");
    }

    [TestCase(0f)]
    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    public void Merge_WithAZeroOrNonFiniteScale_RefusesAndChangesNothing(float bad)
    {
        using BoftLinear layer = Boft();
        float[] scale = layer.BoftS.Value.ToArray();
        scale[4] = bad;
        layer.BoftS.CopyFrom(scale);
        float[] w0 = layer.BaseWeight.Value.ToArray();
        Assert.That(() => layer.Merge(), Throws.TypeOf<MergeRefusedException>().With.Message.Contains("boft_s").And.Message.Contains("index 4"));
        Assert.That(layer.IsMerged, Is.False);
        Assert.That(layer.BaseWeight.Value.ToArray(), Is.EqualTo(w0));
    }

    [Test]
    public void Merge_WhoseResultWouldOverflow_RefusesAndChangesNothing()
    {
        float[] huge = Enumerable.Repeat(3e38f, 6 * 16).ToArray();
        using var layer = new BoftLinear(Backend, new BoftConfig(16, BlockSize: 4, FactorCount: 2), 6, huge, initialization: new AdapterInitialization(false, 3));
        layer.BoftS.CopyFrom(Enumerable.Repeat(4f, 6).ToArray());
        Assert.That(() => layer.Merge(), Throws.TypeOf<MergeRefusedException>().With.Message.Contains("NaN or infinite"));
        Assert.That(layer.IsMerged, Is.False);
        Assert.That(layer.BaseWeight.Value.ToArray(), Is.EqualTo(huge));
    }

    [Test]
    public void MergeAndUnmerge_OfANeumannRotationFarFromOrthogonal_Refuse()
    {
        float[] w0 = RandomFloats(4, 6 * 16);
        using var layer = new OftLinear(Backend, new OftConfig(16, BlockSize: 4, NeumannTerms: 5), 6, w0);
        layer.Weight.CopyFrom(Enumerable.Repeat(1.5f, layer.Weight.Value.Length).ToArray());
        Assert.That(() => layer.Merge(), Throws.TypeOf<MergeRefusedException>().With.Message.Contains("too far from orthogonal").And.Message.Contains("exact Cayley"));
        Assert.That(layer.IsMerged, Is.False);
        Assert.That(layer.BaseWeight.Value.ToArray(), Is.EqualTo(w0));

        layer.SafeMerge = false;
        layer.Merge();
        layer.SafeMerge = true;
        float[] merged = layer.BaseWeight.Value.ToArray();
        Assert.That(() => layer.Unmerge(), Throws.TypeOf<MergeRefusedException>().With.Message.Contains("too far from orthogonal"));
        Assert.That(layer.BaseWeight.Value.ToArray(), Is.EqualTo(merged));
    }

    [Test]
    public void SmallNeumannRotations_MergeAndUnmergeAsBefore()
    {
        float[] w0 = RandomFloats(5, 6 * 16);
        using var layer = new OftLinear(Backend, new OftConfig(16, BlockSize: 4, NeumannTerms: 5), 6, w0, initialization: new AdapterInitialization(false, 6));
        layer.Merge();
        layer.Unmerge();
        Compare.AllClose(layer.BaseWeight.Value.ToArray(), Array.ConvertAll(w0, v => (double)v), 2e-5, 1e-5, "unmerge(merge(W0))", Case.Name);
    }

    [Test]
    public void SafeMergeOff_ReproducesTheUncheckedBehaviour()
    {
        using BoftLinear layer = Boft();
        layer.SafeMerge = false;
        layer.Merge();
        float[] scale = layer.BoftS.Value.ToArray();
        scale[2] = 0;
        layer.BoftS.CopyFrom(scale);
        layer.Unmerge();
        Assert.That(layer.BaseWeight.Value.ToArray().Skip(2 * 16).Take(16), Has.All.Matches<float>(v => !float.IsFinite(v)),
            "without the check, row 2 of W0 = diag(1/s) W' R is lost");
    }
}
