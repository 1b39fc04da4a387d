// Checkpoint atomicity (docs/08_Guarantees.md): a save fails at every one of its file-system steps in turn, and a child
// process is killed between every two steps; each time the folder must load as the complete old or the complete new
// checkpoint, never a mix, keep the user's other files, and leave no staging or previous folder behind.

using System.Diagnostics;
using System.Runtime.InteropServices;
using Boft.Checkpoints;
using Boft.Tests.Checkpoints;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.Reliability;

[TestFixture]
[Category("Checkpoints")]
public sealed class CheckpointAtomicityTests
{
    private string root = null!;
    private string folder = null!;

    [SetUp]
    public void SetUp()
    {
        root = CheckpointTestFiles.NewDirectory();
        folder = Path.Combine(root, "adapter");
    }

    [TearDown]
    public void TearDown() => CheckpointTestFiles.Delete(root);

    private static int StepCount(bool withOld)
    {
        string dir = CheckpointTestFiles.NewDirectory();
        try
        {
            string target = Path.Combine(dir, "adapter");
            if (withOld)
            {
                TwoCheckpoints.Make(1).Save(target);
                File.WriteAllText(Path.Combine(target, "README.md"), "user notes");
            }
            var recorder = new FailingFileSystem(0);
            TwoCheckpoints.Make(2).Save(target, SafeTensorsElementType.Float32, recorder);
            return recorder.Steps.Count;
        }
        finally
        {
            CheckpointTestFiles.Delete(dir);
        }
    }

    [Test]
    public void Save_RecordsEveryWriteFlushAndRename()
    {
        var recorder = new FailingFileSystem(0);
        TwoCheckpoints.Make(1).Save(folder);
        File.WriteAllText(Path.Combine(folder, "README.md"), "user notes");
        TwoCheckpoints.Make(2).Save(folder, SafeTensorsElementType.Float32, recorder);
        Assert.That(recorder.Steps, Is.EqualTo(new[]
        {
            "CreateDirectory .adapter.boft-staging",
            "WriteFile adapter_model.safetensors", "FlushFile adapter_model.safetensors",
            "WriteFile adapter_config.json", "FlushFile adapter_config.json",
            "MoveDirectory adapter", "MoveDirectory .adapter.boft-staging",
            "MoveFile README.md", "DeleteDirectory .adapter.boft-previous",
        }));
    }

    [Test]
    public void Save_FailingAtAnyStep_LeavesTheOldOrTheNewCheckpointAndNoTemporaries([Values] bool withOld)
    {
        int steps = StepCount(withOld);
        for (int failAt = 1; failAt <= steps; failAt++)
        {
            CheckpointTestFiles.Delete(root);
            Directory.CreateDirectory(root);
            if (withOld)
            {
                TwoCheckpoints.Make(1).Save(folder);
                File.WriteAllText(Path.Combine(folder, "README.md"), "user notes");
            }
            var faults = new FailingFileSystem(failAt);
            bool threw = false;
            try
            {
                TwoCheckpoints.Make(2).Save(folder, SafeTensorsElementType.Float32, faults);
            }
            catch (IOException)
            {
                threw = true;
            }
            string step = $"failure at step {failAt} ({faults.Steps[failAt - 1]})";
            Assert.That(CheckpointTestFiles.Entries(root), Is.EqualTo(withOld || !threw ? new[] { "adapter" } : Array.Empty<string>()), $"{step}: no staging or previous folder remains");
            if (threw && !withOld)
                continue;
            Assert.That(TwoCheckpoints.VersionOf(folder), Is.EqualTo(threw ? 1 : 2), $"{step}: a failed save keeps the old checkpoint, a finished one has the new");
            if (withOld)
                Assert.That(File.ReadAllText(Path.Combine(folder, "README.md")), Is.EqualTo("user notes"), $"{step}: other files are kept");
        }
    }

    /// <summary>The case: replacing the config failed after the weights had been replaced, leaving a folder that did not load.</summary>
    [Test]
    public void Save_FailingWhileWritingTheConfigAfterTheWeights_KeepsTheOldCheckpoint()
    {
        TwoCheckpoints.Make(1).Save(folder);
        var faults = new FailingFileSystem(4); // 4 = WriteFile adapter_config.json, after the weights were written and flushed
        Assert.That(() => TwoCheckpoints.Make(2).Save(folder, SafeTensorsElementType.Float32, faults), Throws.TypeOf<IOException>());
        Assert.That(faults.Steps[3], Is.EqualTo("WriteFile adapter_config.json"));
        Assert.That(TwoCheckpoints.VersionOf(folder), Is.EqualTo(1));
        Assert.That(CheckpointTestFiles.Entries(folder), Is.EqualTo(new[] { "adapter_config.json", "adapter_model.safetensors" }));
    }

    [Test]
    [Category("ChildProcess")]
    public void Save_KilledBetweenAnyTwoSteps_LoadsAsTheOldOrTheNewCheckpoint()
    {
        int steps = StepCount(withOld: true);
        string host = DotnetHost();
        string assembly = typeof(ChildProcessEntry).Assembly.Location;
        var seen = new HashSet<int>();
        for (int stopAt = 1; stopAt <= steps + 1; stopAt++)
        {
            CheckpointTestFiles.Delete(root);
            Directory.CreateDirectory(root);
            TwoCheckpoints.Make(1).Save(folder);
            File.WriteAllText(Path.Combine(folder, "README.md"), "user notes");
            string line = RunChildUntilStop(host, assembly, folder, stopAt);
            if (stopAt <= steps)
                Assert.That(line, Does.StartWith($"STOP {stopAt} "), "the child stopped at the requested step");
            else
                Assert.That(line, Is.EqualTo("DONE"));
            int version = TwoCheckpoints.VersionOf(folder); // recovers the half-finished swap first
            seen.Add(version);
            Assert.That(CheckpointTestFiles.Entries(root), Is.EqualTo(new[] { "adapter" }), $"killed at {line}: recovery leaves no staging or previous folder");
            Assert.That(File.ReadAllText(Path.Combine(folder, "README.md")), Is.EqualTo("user notes"), $"killed at {line}: other files are kept");
            if (stopAt <= 6)
                Assert.That(version, Is.EqualTo(1), $"killed at {line}: before the swap the old checkpoint stays");
            else
                Assert.That(version, Is.EqualTo(2), $"killed at {line}: after the first rename the new checkpoint is completed");
        }
        Assert.That(seen, Is.EquivalentTo(new[] { 1, 2 }));
    }

    private static string RunChildUntilStop(string host, string assembly, string target, int stopAt)
    {
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[] { assembly, "checkpoint-save", target, stopAt.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {host}");
        Task<string?> read = process.StandardOutput.ReadLineAsync();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        if (!read.Wait(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the child printed nothing within 60 s: {errors.Result}");
        }
        string? line = read.Result;
        if (!process.HasExited)
            process.Kill(entireProcessTree: true);
        process.WaitForExit();
        return line ?? throw new AssertionException($"the child exited with {process.ExitCode} and no output: {errors.Result}");
    }

    /// <summary>The dotnet host running this test process (the muxer beside the shared runtime).</summary>
    private static string DotnetHost()
    {
        string? fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
            return fromSdk;
        string runtime = RuntimeEnvironment.GetRuntimeDirectory();
        string candidate = Path.GetFullPath(Path.Combine(runtime, "..", "..", "..", OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet"));
        return File.Exists(candidate) ? candidate : "dotnet";
    }
}
