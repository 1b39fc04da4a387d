// The loss scaler's resumable state (Boft.Core/Training/LossScalerState.cs): torch's GradScaler.state_dict() keys, a resumed
// scaler that continues exactly where an uninterrupted one is, and bad files refused with the key they got wrong.

using System.Text.Json;
using Boft.Training;

namespace Boft.Tests.Training;

[TestFixture]
public sealed class LossScalerStateTests
{
    // Overflow pattern: growth after 3 good steps, backoff on every 'true'.
    private static readonly bool[] Overflows = [false, false, false, false, true, false, false, false, false, false, true, true, false, false, false, false, false];

    [Test]
    public void ResumedScaler_ContinuesExactlyLikeTheUninterruptedOne()
    {
        var options = new LossScalingOptions(InitialScale: 1024, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 3);
        var reference = new LossScaler(options);
        var expected = new List<(float, int)>();
        foreach (bool overflow in Overflows)
        {
            reference.Update(overflow);
            expected.Add((reference.Scale, reference.GoodStepsInARow));
        }
        string path = Path.Combine(Path.GetTempPath(), $"boft-scaler-{Guid.NewGuid():N}.json");
        try
        {
            for (int stop = 0; stop < Overflows.Length; stop++)
            {
                var first = new LossScaler(options);
                for (int i = 0; i < stop; i++)
                    first.Update(Overflows[i]);
                first.State.Save(path);
                LossScaler resumed = LossScaler.FromState(LossScalerState.Load(path));
                Assert.That(resumed.State, Is.EqualTo(first.State), $"state after {stop} steps");
                for (int i = stop; i < Overflows.Length; i++)
                {
                    resumed.Update(Overflows[i]);
                    Assert.That((resumed.Scale, resumed.GoodStepsInARow), Is.EqualTo(expected[i]), $"resumed after {stop} steps, step {i}");
                }
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void Json_HasTorchsStateDictKeys_AndExactValues()
    {
        var state = new LossScalerState(3.0517578125E-05f, 2.0, 0.25, 7, 5);
        using JsonDocument document = JsonDocument.Parse(state.ToJson());
        Assert.That(document.RootElement.EnumerateObject().Select(p => p.Name),
            Is.EquivalentTo(new[] { "scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker" }));
        Assert.That(LossScalerState.FromJson(state.ToJson()), Is.EqualTo(state));
    }

    [TestCase("[1, 2]", "JSON object")]
    [TestCase("{\"growth_factor\": 2, \"backoff_factor\": 0.5, \"growth_interval\": 3, \"_growth_tracker\": 0}", "'scale'")]
    [TestCase("{\"scale\": \"big\", \"growth_factor\": 2, \"backoff_factor\": 0.5, \"growth_interval\": 3, \"_growth_tracker\": 0}", "'scale'")]
    [TestCase("{\"scale\": 0.1, \"growth_factor\": 2, \"backoff_factor\": 0.5, \"growth_interval\": 3, \"_growth_tracker\": 0}", "float32")]
    [TestCase("{\"scale\": -1, \"growth_factor\": 2, \"backoff_factor\": 0.5, \"growth_interval\": 3, \"_growth_tracker\": 0}", "InitialScale")]
    [TestCase("{\"scale\": 8, \"growth_factor\": 2, \"backoff_factor\": 1.5, \"growth_interval\": 3, \"_growth_tracker\": 0}", "BackoffFactor")]
    [TestCase("{\"scale\": 8, \"growth_factor\": 2, \"backoff_factor\": 0.5, \"growth_interval\": 2.5, \"_growth_tracker\": 0}", "whole numbers")]
    [TestCase("{\"scale\": 8, \"growth_factor\": 2, \"backoff_factor\": 0.5, \"growth_interval\": 3, \"_growth_tracker\": 3}", "GrowthTracker")]
    [TestCase("{\"scale\": 8,", "must be JSON")]
    public void BadState_IsRefused_NamingWhatIsWrong(string json, string named) =>
        Assert.That(() => LossScalerState.FromJson(json), Throws.InstanceOf<InvalidDataException>().With.Message.Contains(named));

    [Test]
    public void Load_NamesTheFile_AndSaveReplacesTheOldState()
    {
        string path = Path.Combine(Path.GetTempPath(), $"boft-scaler-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, "{}");
            Assert.That(() => LossScalerState.Load(path), Throws.InstanceOf<InvalidDataException>().With.Message.StartsWith(path));
            var state = new LossScalerState(512f, 2, 0.5, 2000, 17);
            state.Save(path);
            Assert.That(LossScalerState.Load(path), Is.EqualTo(state));
            Assert.That(Directory.GetFiles(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.*.tmp"), Is.Empty, "no temporary file left");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
