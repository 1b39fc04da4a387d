// Configuration validation against PEFT: config_cases.json (errors with PEFT's exact text, accepted cases with their resolved
// shapes, permutation tables) from the golden folder in use, plus every documented exception of configs and shapes.

using System.Text.Json;
using Boft.Reference;
using Boft.Tests.Golden;

namespace Boft.Tests.Reference;

[TestFixture]
[Category("Golden")]
public sealed class ConfigTests
{
    public static IEnumerable<TestCaseData> ErrorCases() => ConfigCases("errors");

    public static IEnumerable<TestCaseData> AcceptedCases() => ConfigCases("accepted");

    public static IEnumerable<TestCaseData> PermutationCases() => ConfigCases("permutations");

    private static IEnumerable<TestCaseData> ConfigCases(string section)
    {
        string? file = GoldenCases.ConfigCasesFile;
        if (file is null)
        {
            if (!GoldenCases.IsCustomDirectory)
                yield return new TestCaseData(string.Empty).SetArgDisplayNames("missing-config_cases.json");
            yield break;
        }
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(file));
        int i = 0;
        foreach (JsonElement e in doc.RootElement.GetProperty(section).EnumerateArray())
            yield return new TestCaseData(e.GetRawText()).SetArgDisplayNames($"{section}[{i++}]");
    }

    private static JsonElement Parse(string json)
    {
        if (json.Length == 0)
            Assert.Fail("config_cases.json is missing from the vendored golden folder.");
        using JsonDocument doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    private static int Arg(JsonElement args, string name) => args.TryGetProperty(name, out JsonElement v) ? v.GetInt32() : 0;

    private static BoftConfig Boft(JsonElement e)
    {
        JsonElement args = e.GetProperty("args");
        return new BoftConfig(e.GetProperty("in_features").GetInt32(), Arg(args, "block_size"), Arg(args, "block_num"),
            args.TryGetProperty("n_butterfly_factor", out JsonElement m) ? m.GetInt32() : 1);
    }

    private static OftConfig Oft(JsonElement e, bool adjust)
    {
        JsonElement args = e.GetProperty("args");
        return new OftConfig(e.GetProperty("in_features").GetInt32(), Arg(args, "block_size"), Arg(args, "r"), AdjustInvalidBlockSize: adjust);
    }

    [TestCaseSource(nameof(ErrorCases))]
    public void Config_ThrowsForWhatPeftRejects_WithPeftsMessage(string json)
    {
        JsonElement e = Parse(json);
        string message = e.GetProperty("message").GetString()!;
        TestDelegate resolve = e.GetProperty("method").GetString() == "boft"
            ? () => Boft(e).Resolve()
            : () => Oft(e, adjust: true).Resolve();
        var ex = Assert.Throws<ArgumentException>(resolve, json);
        Assert.That(ex!.Message, Does.Contain(message), json);
    }

    [TestCaseSource(nameof(AcceptedCases))]
    public void Config_AcceptsWhatPeftAccepts_WithTheSameResolvedShape(string json)
    {
        JsonElement e = Parse(json);
        JsonElement resolved = e.GetProperty("resolved");
        if (e.GetProperty("method").GetString() == "boft")
        {
            BoftShape shape = Boft(e).Resolve();
            Assert.That((shape.BlockSize, shape.BlockCount, shape.FactorCount),
                Is.EqualTo((resolved.GetProperty("block_size").GetInt32(), resolved.GetProperty("block_num").GetInt32(), resolved.GetProperty("m").GetInt32())), json);
        }
        else
        {
            OftShape shape = Oft(e, adjust: true).Resolve();
            Assert.That((shape.BlockSize, shape.BlockCount), Is.EqualTo((resolved.GetProperty("block_size").GetInt32(), resolved.GetProperty("r").GetInt32())), json);
        }
    }

    [TestCaseSource(nameof(PermutationCases))]
    public void Permutations_MatchPeft(string json)
    {
        JsonElement e = Parse(json);
        BoftShape shape = new BoftConfig(e.GetProperty("d").GetInt32(), e.GetProperty("block_size").GetInt32(), FactorCount: e.GetProperty("m").GetInt32()).Resolve();
        int i = 0;
        foreach (JsonElement perm in e.GetProperty("perms").EnumerateArray())
        {
            int[] expected = perm.EnumerateArray().Select(v => v.GetInt32()).ToArray();
            Assert.That(shape.Permutations.Forward(i).ToArray(), Is.EqualTo(expected), $"p_{i} of {shape}");
            i++;
        }
        Assert.That(i, Is.EqualTo(shape.FactorCount), "one table per factor");
    }

    [Test]
    public void OftConfig_ThrowsForInvalidBlockSize_NamingTheNearestValidSizes()
    {
        var ex = Assert.Throws<ArgumentException>(() => new OftConfig(96, BlockSize: 7).Resolve());
        Assert.That(ex!.Message, Does.Contain("Invalid `oft_block_size` (7)!").And.Contain("6 and 8").And.Contain("AdjustInvalidBlockSize"));
        Assert.That(ex.ParamName, Is.EqualTo("BlockSize"));
        var exR = Assert.Throws<ArgumentException>(() => new OftConfig(100, BlockSize: 0, BlockCount: 7).Resolve());
        Assert.That(exR!.Message, Does.Contain("Invalid `r` (7)!").And.Contain("5 and 10"));
        var tooBig = Assert.Throws<ArgumentException>(() => new OftConfig(96, BlockSize: 200).Resolve());
        Assert.That(tooBig!.Message, Does.Contain("96"));
        Assert.That(new OftConfig(96, BlockSize: 7, AdjustInvalidBlockSize: true).Resolve().BlockSize, Is.EqualTo(6));
    }

    [Test]
    public void BoftConfig_ThrowsForPeftsMutuallyExclusiveSizes_WithPeftsConfigText()
    {
        // PEFT's BOFTConfig.__post_init__ (peft/tuners/boft/config.py) texts; config_cases.json records the golden generator's.
        Assert.That(() => new BoftConfig(16, BlockSize: 0, BlockCount: 0).Resolve(),
            Throws.ArgumentException.With.Message.Contains("You must specify either boft_block_size or boft_block_num."));
        Assert.That(() => new BoftConfig(16, BlockSize: 4, BlockCount: 4).Resolve(),
            Throws.ArgumentException.With.Message.Contains("You can only specify either boft_block_size (4) or boft_block_num (4), but not both simultaneously, because boft_block_size x boft_block_num != in_features."));
    }

    [Test]
    public void OftConfig_ThrowsForPeftsMutuallyExclusiveSizes()
    {
        Assert.That(() => new OftConfig(16, BlockSize: 0, BlockCount: 0).Resolve(),
            Throws.ArgumentException.With.Message.Contains("Either `r` or `oft_block_size` must be non-zero. Currently, r = 0 and oft_block_size = 0."));
        Assert.That(() => new OftConfig(16, BlockSize: 4, BlockCount: 4).Resolve(),
            Throws.ArgumentException.With.Message.Contains("You can only specify either r (4) or oft_block_size (4), but not both simultaneously, because r x oft_block_size == in_features."));
    }

    [Test]
    public void Configs_ThrowForOutOfRangeValues()
    {
        Assert.That(() => new BoftConfig(0).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("FeatureCount"));
        Assert.That(() => new BoftConfig(16, BlockSize: -2).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("BlockSize"));
        Assert.That(() => new BoftConfig(16, BlockSize: 0, BlockCount: -4).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("BlockCount"));
        Assert.That(() => new BoftConfig(16, Dropout: 1.0).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("Dropout"));
        Assert.That(() => new BoftConfig(16, Dropout: double.NaN).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => new OftConfig(0).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("FeatureCount"));
        Assert.That(() => new OftConfig(16, BlockSize: -1).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("BlockSize"));
        Assert.That(() => new OftConfig(16, BlockSize: 0, BlockCount: -1).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("BlockCount"));
        Assert.That(() => new OftConfig(16, NeumannTerms: -1).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("NeumannTerms"));
        Assert.That(() => new OftConfig(16, Eps: -1e-3).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("Eps"));
        Assert.That(() => new OftConfig(16, Eps: double.PositiveInfinity).Resolve(), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void BoftConfig_NeverResetsTheFactorCountSilently()
    {
        // PEFT forces m = 1 when its CUDA extension cannot be built (boft-spec §2.6); Boft keeps what was asked for.
        Assert.That(new BoftConfig(64, BlockSize: 8, FactorCount: 4).Resolve().FactorCount, Is.EqualTo(4));
    }

    [Test]
    public void Shapes_ThrowForInconsistentSizes()
    {
        Assert.That(() => new ButterflyPermutations(8, 2, 3), Throws.ArgumentException.With.Message.Contains("must be an even number"));
        Assert.That(() => new ButterflyPermutations(12, 3, 4), Throws.ArgumentException.With.Message.Contains("Invalid combination of in_features (12), boft_n_butterfly_factor (3) and boft_block_size (4)!"));
        Assert.That(() => ButterflyPermutations.Fill(8, 2, 1, new int[7]), Throws.ArgumentException.With.Property("ParamName").EqualTo("destination"));
        Assert.That(() => new ButterflyPermutations(8, 0, 2), Throws.TypeOf<ArgumentOutOfRangeException>());
        var perms = new ButterflyPermutations(8, 2, 2);
        Assert.That(() => perms.Forward(2).Length, Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => new RotationShape(8, 2, 3, 2, perms), Throws.ArgumentException.With.Message.Contains("d = k·b"));
        Assert.That(() => new RotationShape(16, 2, 8, 2, perms), Throws.ArgumentException.With.Property("ParamName").EqualTo("permutations"));
        Assert.That(() => new CayleyShape(0, 2, SkewKind.HalfDifference, null, false), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void NeumannCoefficients_FollowPeftReleases()
    {
        Assert.That(OftConfig.NeumannCoefficients(0, NeumannVariant.Peft018), Is.EqualTo(new[] { 1.0 }));
        Assert.That(OftConfig.NeumannCoefficients(2, NeumannVariant.Peft018), Is.EqualTo(new[] { 1.0, 2.0 }));
        Assert.That(OftConfig.NeumannCoefficients(3, NeumannVariant.Peft018), Is.EqualTo(new[] { 1.0, 2.0, 2.0, 1.0 }));
        Assert.That(OftConfig.NeumannCoefficients(4, NeumannVariant.Peft018), Is.EqualTo(new[] { 1.0, 2.0, 2.0, 1.0 }));
        Assert.That(OftConfig.NeumannCoefficients(5, NeumannVariant.Peft018), Is.EqualTo(new[] { 1.0, 2.0, 2.0, 2.0, 1.0 }));
        Assert.That(OftConfig.NeumannCoefficients(3, NeumannVariant.Peft016), Is.EqualTo(new[] { 1.0, 2.0, 2.0 }));
        Assert.That(OftConfig.NeumannCoefficients(5, NeumannVariant.Peft016), Is.EqualTo(new[] { 1.0, 2.0, 2.0, 2.0, 2.0 }));
    }

    [TestCase(96, 7, 6)]
    [TestCase(10, 4, 5)]
    [TestCase(100, 7, 5)]
    [TestCase(96, 200, 96)]
    [TestCase(12, 5, 4)]
    public void AdjustOftParameter_MatchesPeft(int d, int value, int expected) =>
        Assert.That(OftConfig.AdjustOftParameter(d, value), Is.EqualTo(expected));

    [Test]
    public void ReferenceOps_ThrowForMismatchedLengths()
    {
        BoftShape shape = new BoftConfig(8, BlockSize: 2, FactorCount: 2).Resolve();
        Assert.That(() => RotationReference.Forward(shape.Rotation, new double[15], new double[shape.RawParameterCount], false, new double[15]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("input"));
        Assert.That(() => RotationReference.Forward(shape.Rotation, new double[16], new double[3], false, new double[16]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("blocks"));
        Assert.That(() => CayleyReference.Forward(new double[8], 2, new double[4]), Throws.ArgumentException.With.Property("ParamName").EqualTo("blocks"));
        Assert.That(() => SkewReference.HalfDifference(new double[5], 2, new double[5]), Throws.ArgumentException.With.Property("ParamName").EqualTo("raw"));
        Assert.That(() => BoftReference.Forward(shape, new double[8], new double[8 * 3], [], new double[shape.RawParameterCount], new double[2], [], new double[3]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("boftS"));
        Assert.That(() => LossReference.SoftmaxCrossEntropy(new double[6], [0, 3], 3, []), Throws.ArgumentException.With.Property("ParamName").EqualTo("labels"));
        Assert.That(() => MatrixReference.Invert(new double[4], 2, new double[4]), Throws.TypeOf<ArithmeticException>());
        Assert.That(() => IdentityMaskReference.Interpolation(shape.Rotation, 3, new double[8]), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => IdentityMaskReference.Dropout(shape, 1.5, new Random(0), new double[8]), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void DropoutMask_FollowsPeftsDistribution()
    {
        // One factor per draw, floor(p·k) distinct blocks in it; over many draws every factor and block gets chosen.
        BoftShape shape = new BoftConfig(32, BlockSize: 4, FactorCount: 3).Resolve(); // k = 8
        var random = new Random(5);
        var mask = new double[3 * 8];
        var factorHits = new int[3];
        var blockHits = new int[8];
        for (int draw = 0; draw < 600; draw++)
        {
            IdentityMaskReference.Dropout(shape, 0.3, random, mask);
            Assert.That(mask.Sum(), Is.EqualTo(2), "floor(0.3·8) = 2 blocks per draw");
            int[] factors = Enumerable.Range(0, 3).Where(f => mask.AsSpan(f * 8, 8).IndexOf(1.0) >= 0).ToArray();
            Assert.That(factors, Has.Length.EqualTo(1), "exactly one factor per draw");
            factorHits[factors[0]]++;
            for (int j = 0; j < 8; j++)
                blockHits[j] += (int)mask[factors[0] * 8 + j];
        }
        Assert.That(factorHits, Has.All.GreaterThan(150), "uniform factor choice (expected 200 each)");
        Assert.That(blockHits, Has.All.GreaterThan(100), "uniform block choice (expected 150 each)");
        IdentityMaskReference.Dropout(shape, 0.1, random, mask);
        Assert.That(mask.Sum(), Is.Zero, "p < 1/k drops nothing");
    }
}
