// File systems for the checkpoint-atomicity tests: the real operations with a failure injected at step N (FailingFileSystem),
// or a stop at step N that waits to be killed (the child process of the kill test, ChildProcessEntry).

using Boft.Checkpoints;

namespace Boft.Tests.Reliability;

/// <summary>Records every step and throws an <see cref="IOException"/> at step <see cref="FailAt"/> (1-based; 0 = never), once.</summary>
internal sealed class FailingFileSystem(int failAt) : CheckpointFileSystem
{
    public int FailAt { get; } = failAt;

    public List<string> Steps { get; } = [];

    protected override void Step(CheckpointStep step, string path)
    {
        Steps.Add($"{step} {Path.GetFileName(path)}");
        if (Steps.Count == FailAt)
            throw new IOException($"Injected failure at step {Steps.Count}: {step} {path}");
    }
}

/// <summary>At step <see cref="StopAt"/> prints "STOP n step" on stdout and blocks until the process is killed.</summary>
internal sealed class StoppingFileSystem(int stopAt) : CheckpointFileSystem
{
    private int count;

    public int StopAt { get; } = stopAt;

    protected override void Step(CheckpointStep step, string path)
    {
        if (++count != StopAt)
            return;
        Console.Out.WriteLine($"STOP {count} {step} {Path.GetFileName(path)}");
        Console.Out.Flush();
        Thread.Sleep(Timeout.Infinite);
    }
}

/// <summary>The two checkpoints of the atomicity tests: "old" and "new" differ in every value and in the config.</summary>
internal static class TwoCheckpoints
{
    public static AdapterCheckpoint Make(int version)
    {
        var config = new PeftBoftAdapterConfig
        {
            BoftBlockSize = 4,
            BoftNButterflyFactor = 2,
            TargetModules = PeftModuleSelection.FromNames(["q"]),
            BaseModelNameOrPath = $"model-v{version}",
        };
        var modules = new Dictionary<string, AdapterModuleWeights>
        {
            ["layer.q"] = new BoftModuleWeights(16, 8, Values(2 * 4 * 4 * 4, version), Values(8, version + 10)),
        };
        return new AdapterCheckpoint(config, modules);
    }

    /// <summary>Which version a folder holds (1 = old, 2 = new), asserting that config and weights agree (never a mix).</summary>
    public static int VersionOf(string directory)
    {
        AdapterCheckpoint loaded = AdapterCheckpoint.Load(directory);
        string? name = loaded.Config.BaseModelNameOrPath;
        int version = name == "model-v1" ? 1 : name == "model-v2" ? 2 : throw new AssertionException($"unexpected config base model '{name}'");
        var expected = (BoftModuleWeights)Make(version).Modules["layer.q"];
        var actual = (BoftModuleWeights)loaded.Modules["layer.q"];
        Assert.That(actual.Rotation, Is.EqualTo(expected.Rotation), $"weights of version {version} with the config of version {version}");
        Assert.That(actual.Scale, Is.EqualTo(expected.Scale));
        return version;
    }

    private static float[] Values(int count, int seed) =>
        Enumerable.Range(0, count).Select(i => (float)Math.Sin(seed * 1000 + i * 0.37) * 0.1f).ToArray();
}
