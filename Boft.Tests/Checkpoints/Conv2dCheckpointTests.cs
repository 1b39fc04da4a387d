// Conv2d adapters in PEFT's checkpoint layout (docs/05_Checkpoints.md, "Conv2d adapters"). Python → C#: the fixture
// boft_conv_b6_m2_f32 (make_peft_fixtures.py: PEFT's boft.layer.Conv2d layout, boft_s [1, n], beside a Linear head with
// boft_s [n, 1]) loads with exact values into BoftConv2d + BoftLinear and is written back byte for byte. C# → Python:
// folders saved from conv layers (BOFT with the Conv2d layout, OFT, a non-square grouped kernel) pass read_checkpoint.py,
// which checks the safetensors bytes, PEFT's config rules, keys, shapes (boft_s [1, n] for the listed conv modules) and
// exact values. Mismatches (a conv checkpoint into a Linear layer, a different kernel dimension) are rejected before any
// value changes.

using System.Text.Json;
using Boft.Checkpoints;
using Boft.Kernels.Simd;
using Boft.Layers;

namespace Boft.Tests.Checkpoints;

[TestFixture]
[Category("Checkpoints")]
public sealed class Conv2dCheckpointTests
{
    private static readonly Conv2dShape Conv1 = Conv2dShape.Square(4, 6, 3, 6, 6, padding: 1);

    private static Dictionary<string, double[]> ExpectedValues(string fixture)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(Path.Combine(CheckpointTestFiles.Fixture(fixture), "expected.json")));
        return document.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray());
    }

    [Test]
    public void PeftConvFixture_LoadsIntoConvAndLinearLayers_AndSavesBackByteIdentically()
    {
        string folder = CheckpointTestFiles.Fixture("boft_conv_b6_m2_f32");
        AdapterCheckpoint checkpoint = AdapterCheckpoint.Load(folder);
        var conv = (BoftModuleWeights)checkpoint.Modules["conv1"];
        var fc = (BoftModuleWeights)checkpoint.Modules["fc"];
        Assert.That((conv.InFeatureCount, conv.OutFeatureCount, conv.Conv2dLayout), Is.EqualTo((36, 6, true)), "boft_s [1, 6]: PEFT's Conv2d layout, d = 4·3·3");
        Assert.That((fc.InFeatureCount, fc.OutFeatureCount, fc.Conv2dLayout), Is.EqualTo((12, 4, false)));

        using var backend = new SimdBackend();
        using var convLayer = new BoftConv2d(backend, Conv1, new BoftConfig(0, BlockSize: 6, FactorCount: 2), new float[Conv1.WeightLength]);
        using var fcLayer = new BoftLinear(backend, new BoftConfig(12, BlockSize: 6, FactorCount: 2), 4, new float[48]);
        var layers = new Dictionary<string, ILayer> { ["conv1"] = convLayer, ["fc"] = fcLayer };
        AdapterLayerCheckpoints.Load(folder, layers);
        var expected = ExpectedValues("boft_conv_b6_m2_f32");
        Assert.That(convLayer.BoftR.Value.ToArray().Select(v => (double)v), Is.EqualTo(expected["base_model.model.conv1.boft_R"]));
        Assert.That(convLayer.BoftS.Value.ToArray().Select(v => (double)v), Is.EqualTo(expected["base_model.model.conv1.boft_s"]));
        Assert.That(fcLayer.BoftS.Value.ToArray().Select(v => (double)v), Is.EqualTo(expected["base_model.model.fc.boft_s"]));

        string scratch = CheckpointTestFiles.NewDirectory();
        try
        {
            AdapterLayerCheckpoints.Save(layers, scratch, checkpoint.Config);
            Assert.That(File.ReadAllBytes(Path.Combine(scratch, AdapterCheckpoint.WeightsFileName)),
                Is.EqualTo(File.ReadAllBytes(Path.Combine(folder, AdapterCheckpoint.WeightsFileName))), "keys, [1, n] / [n, 1] shapes and values as PEFT wrote them");
        }
        finally
        {
            CheckpointTestFiles.Delete(scratch);
        }
    }

    [Test]
    public void ConvCheckpoint_IntoMismatchedLayers_IsRejectedBeforeAnyChange()
    {
        string folder = CheckpointTestFiles.Fixture("boft_conv_b6_m2_f32");
        using var backend = new SimdBackend();
        using var wrongKind = new BoftLinear(backend, new BoftConfig(36, BlockSize: 6, FactorCount: 2), 6, new float[216]);
        using var fcLayer = new BoftLinear(backend, new BoftConfig(12, BlockSize: 6, FactorCount: 2), 4, new float[48]);
        float[] before = fcLayer.BoftS.Value.ToArray();
        var e = Assert.Throws<ArgumentException>(() => AdapterLayerCheckpoints.Load(folder, new Dictionary<string, ILayer> { ["conv1"] = wrongKind, ["fc"] = fcLayer }))!;
        Assert.That(e.Message, Does.Contain("conv1").And.Contain("[1, 6]").And.Contain("[6, 1]"));
        Assert.That(fcLayer.BoftS.Value.ToArray(), Is.EqualTo(before), "nothing changed");

        var otherKernel = Conv2dShape.Square(4, 6, 2, 6, 6); // d = 16, not 36
        using var wrongDimension = new BoftConv2d(backend, otherKernel, new BoftConfig(0, BlockSize: 4, FactorCount: 2), new float[otherKernel.WeightLength]);
        Assert.That(() => AdapterLayerCheckpoints.Load(folder, new Dictionary<string, ILayer> { ["conv1"] = wrongDimension, ["fc"] = fcLayer }),
            Throws.InstanceOf<Exception>().With.Message.Contain("conv1"));
    }

    public static IEnumerable<TestCaseData> SavedModels()
    {
        yield return new TestCaseData("boft", Conv1).SetArgDisplayNames("boft_square");
        yield return new TestCaseData("oft", Conv1).SetArgDisplayNames("oft_square");
        yield return new TestCaseData("boft", new Conv2dShape(4, 6, 3, 1, 6, 6, paddingHeight: 1, groups: 2)).SetArgDisplayNames("boft_nonsquare_grouped");
    }

    [TestCaseSource(nameof(SavedModels))]
    public void CSharpConvFolder_RoundTripsAndIsReadByPythonAsPeftWould(string method, Conv2dShape shape)
    {
        using var backend = new SimdBackend();
        var init = new AdapterInitialization(Identity: false, Seed: 11);
        ILayer conv = method == "boft"
            ? new BoftConv2d(backend, shape, new BoftConfig(0, BlockSize: 6, FactorCount: shape.FilterDimension % 12 == 0 ? 2 : 1), new float[shape.WeightLength], initialization: init)
            : new OftConv2d(backend, shape, new OftConfig(0, BlockSize: 6), new float[shape.WeightLength], initialization: init);
        ILayer fc = method == "boft"
            ? new BoftLinear(backend, new BoftConfig(12, BlockSize: 6, FactorCount: shape.FilterDimension % 12 == 0 ? 2 : 1), 4, new float[48], initialization: init)
            : new OftLinear(backend, new OftConfig(12, BlockSize: 6), 4, new float[48], initialization: init);
        using (conv)
        using (fc)
        {
            var layers = new Dictionary<string, ILayer> { ["features.conv1"] = conv, ["head.fc"] = fc };
            AdapterCheckpoint checkpoint = AdapterLayerCheckpoints.Capture(layers);
            string folder = CheckpointTestFiles.NewDirectory();
            try
            {
                checkpoint.Save(folder);
                // C# round trip: fresh layers get exactly the saved values.
                ILayer conv2 = method == "boft"
                    ? new BoftConv2d(backend, shape, new BoftConfig(0, BlockSize: 6, FactorCount: shape.FilterDimension % 12 == 0 ? 2 : 1), new float[shape.WeightLength])
                    : new OftConv2d(backend, shape, new OftConfig(0, BlockSize: 6), new float[shape.WeightLength]);
                ILayer fc2 = method == "boft"
                    ? new BoftLinear(backend, new BoftConfig(12, BlockSize: 6, FactorCount: shape.FilterDimension % 12 == 0 ? 2 : 1), 4, new float[48])
                    : new OftLinear(backend, new OftConfig(12, BlockSize: 6), 4, new float[48]);
                using (conv2)
                using (fc2)
                {
                    AdapterLayerCheckpoints.Load(folder, new Dictionary<string, ILayer> { ["features.conv1"] = conv2, ["head.fc"] = fc2 });
                    for (int i = 0; i < 2; i++)
                    {
                        var (a, b) = i == 0 ? (conv, conv2) : (fc, fc2);
                        foreach (var (p, q) in a.Parameters.Where(p => p.RequiresGrad).Zip(b.Parameters.Where(p => p.RequiresGrad)))
                            Assert.That(q.Value.ToArray(), Is.EqualTo(p.Value.ToArray()), $"{p.Name} round trip");
                    }
                }
                if (method == "boft")
                    Assert.That(checkpoint.ToStateDict().Single(t => t.Name == "base_model.model.features.conv1.boft_s").Shape.ToArray(), Is.EqualTo(new long[] { 1, shape.OutChannels }));

                string? reason = CheckpointTestFiles.PythonWithTorchUnavailableReason();
                if (reason is not null)
                    Assert.Ignore(reason);
                string expectation = Path.Combine(folder, "..", Path.GetFileName(folder) + ".expected.json");
                var tensors = checkpoint.ToStateDict().ToDictionary(t => t.Name, t => (object)new
                {
                    dtype = SafeTensorsElementTypes.GetName(t.ElementType),
                    shape = t.Shape.ToArray(),
                    values = t.ToDoubleArray(),
                });
                var config = new Dictionary<string, object?> { ["peft_type"] = method == "boft" ? "BOFT" : "OFT", ["target_modules"] = new[] { "conv1", "fc" } };
                File.WriteAllText(expectation, JsonSerializer.Serialize(new { tensors, config, conv_modules = new[] { "features.conv1" } }));
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
    }
}
