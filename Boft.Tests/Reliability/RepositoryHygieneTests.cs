// Set-up that works on a fresh machine and names no registry host (docs/08_Guarantees.md; README "Set-up"): no file of the
// repository names a package registry's host (scripts derive sources from the machine's configuration), the hand-written
// docs cite repository-relative paths only, and .ci/run stops with a clear message, downloading nothing, when the .NET SDK
// is missing.

using System.Diagnostics;

namespace Boft.Tests.Reliability;

[TestFixture]
public sealed class RepositoryHygieneTests
{
    // Built from parts so that this file does not name them either.
    private static readonly string[] RegistryHosts =
    [
        string.Join('.', "nuget", "org"), string.Join('.', "deb", "debian", "org"), string.Join('.', "dot", "net") + "/",
        string.Join('.', "npmjs", "org"), string.Join('.', "registry", "npmjs"), string.Join('.', "pypi", "org"),
        string.Join('.', "files", "pythonhosted", "org"), string.Join('.', "download", "pytorch", "org"),
    ];

    private static readonly HashSet<string> SkippedFolders = new(StringComparer.Ordinal)
    {
        ".git", "bin", "obj", ".tools", "TestResults", "results", "BenchmarkDotNet.Artifacts", ".gpucheck", ".gl", ".whl", "__pycache__",
    };

    private static IEnumerable<string> RepositoryTextFiles(string folder)
    {
        foreach (string file in Directory.EnumerateFiles(folder))
        {
            var info = new FileInfo(file);
            if (info.Length > 8 << 20)
                continue;
            byte[] head = new byte[Math.Min(8192, (int)info.Length)];
            using (FileStream stream = File.OpenRead(file))
                stream.ReadExactly(head);
            if (Array.IndexOf(head, (byte)0) < 0 && !file.EndsWith(".gz", StringComparison.Ordinal))
                yield return file;
        }
        foreach (string sub in Directory.EnumerateDirectories(folder))
            if (!SkippedFolders.Contains(Path.GetFileName(sub)))
                foreach (string file in RepositoryTextFiles(sub))
                    yield return file;
    }

    [Test]
    public void NoFileNamesAPackageRegistryHost()
    {
        string root = GoldenGeneratorTests.RepositoryRoot();
        var hits = new List<string>();
        foreach (string file in RepositoryTextFiles(root))
        {
            string text = File.ReadAllText(file);
            foreach (string host in RegistryHosts)
                if (text.Contains(host, StringComparison.OrdinalIgnoreCase))
                    hits.Add($"{Path.GetRelativePath(root, file)} names {host}");
        }
        Assert.That(hits, Is.Empty, "derive package sources from the machine's configuration (/etc/apt, NuGet.Config) instead");
    }

    [Test]
    public void HandWrittenDocs_CiteRepositoryRelativePathsOnly()
    {
        string root = GoldenGeneratorTests.RepositoryRoot();
        IEnumerable<string> docs = Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(root, f).Replace('\\', '/').StartsWith("docs/benchmarks/", StringComparison.Ordinal)) // generated results
            .Append(Path.Combine(root, "README.md")).Append(Path.Combine(root, "reference", "README.md"));
        var hits = new List<string>();
        foreach (string doc in docs)
        {
            string[] lines = File.ReadAllLines(doc);
            for (int i = 0; i < lines.Length; i++)
                if (lines[i].Contains("/work/", StringComparison.Ordinal) || lines[i].Contains("../shared/", StringComparison.Ordinal))
                    hits.Add($"{Path.GetRelativePath(root, doc)}:{i + 1}: {lines[i].Trim()}");
        }
        Assert.That(hits, Is.Empty);
    }

    [Test]
    public void CiRun_WithoutDotnet_StopsWithAClearMessage_AndPrintsTheCountsLine()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/bin/bash"))
            Assert.Ignore(".ci/run is a bash script for Linux CI machines.");
        string root = GoldenGeneratorTests.RepositoryRoot();
        string bin = Checkpoints.CheckpointTestFiles.NewDirectory();
        try
        {
            // A PATH with only what .ci/run needs before it looks for dotnet.
            File.CreateSymbolicLink(Path.Combine(bin, "dirname"), File.Exists("/usr/bin/dirname") ? "/usr/bin/dirname" : "/bin/dirname");
            var start = new ProcessStartInfo("/bin/bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add(Path.Combine(root, ".ci", "run"));
            start.Environment["PATH"] = bin;
            using var process = Process.Start(start)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
            Assert.That(process.WaitForExit(TimeSpan.FromSeconds(60)), Is.True, ".ci/run returns at once");
            Assert.That(process.ExitCode, Is.Not.Zero);
            Assert.That(stderr.Result, Does.Contain(".NET 10 SDK").And.Contain("does not download"));
            Assert.That(stdout.Result.TrimEnd().Split('\n')[^1], Is.EqualTo("0 passed, 1 failed, 0 skipped"));
        }
        finally
        {
            Checkpoints.CheckpointTestFiles.Delete(bin);
        }
    }
}
