// The benchmark program's command line, run as a process (Boft.Tests builds it but does not reference it): unknown flags
// and bad values exit non-zero with a message naming the flag and the accepted values, and nothing is measured; --help
// works for every command.

using System.Diagnostics;

namespace Boft.Tests.Benchmarks;

[TestFixture]
[Category("Cli")]
public sealed class CliTests
{
    private static string Program()
    {
        // Boft.Tests/bin/<Configuration>/net10.0 → Boft.Benchmarks/bin/<Configuration>/net10.0/Boft.Benchmarks.dll
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string configuration = output.Parent!.Name, framework = output.Name;
        for (DirectoryInfo? folder = output; folder is not null; folder = folder.Parent)
            if (File.Exists(Path.Combine(folder.FullName, "Boft.sln")))
                return Path.Combine(folder.FullName, "Boft.Benchmarks", "bin", configuration, framework, "Boft.Benchmarks.dll");
        throw new FileNotFoundException($"No Boft.sln above {AppContext.BaseDirectory}.");
    }

    private static (int ExitCode, string Output) Run(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Program());
        foreach (string a in args)
            info.ArgumentList.Add(a);
        info.Environment["COLUMNS"] = "400"; // one line per message
        using Process process = Process.Start(info)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        Assert.That(process.WaitForExit(60_000), Is.True, "the program exits promptly on bad input");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [TestCase(new[] { "--bogus" }, "bogus")]
    [TestCase(new[] { "compare", "--quik" }, "quik")]
    [TestCase(new[] { "--backend", "gpu9" }, "--backend 'gpu9' is not a backend; accepted values: default, simd")]
    [TestCase(new[] { "compare", "--features", "512,x" }, "--features '512,x' is not valid; accepted values: a comma-separated list")]
    [TestCase(new[] { "--steps", "abc" }, "--steps 'abc' is not valid; accepted values: a whole number")]
    [TestCase(new[] { "--tokens", "0" }, "--tokens '0' is not valid")]
    [TestCase(new[] { "peer", "--pairs", "2,8,4" }, "--pairs '2,8,4' is not valid; accepted values: m,b pairs")]
    [TestCase(new[] { "finetune", "--model", "resnet" }, "--model 'resnet' is not a model; accepted values: mlp")]
    [TestCase(new[] { "compare", "--budget-ms", "-1" }, "--budget-ms -1 is not valid; accepted values: a number > 0")]
    [TestCase(new[] { "compare", "--simd-rotation", "fast" }, "--simd-rotation 'fast' is not a kernel; accepted values: auto, tiled")]
    public void BadInput_ExitsNonZero_NamingTheFlag(string[] args, string expected)
    {
        (int exitCode, string output) = Run(args);
        Assert.That(exitCode, Is.Not.Zero);
        Assert.That(output, Does.Contain(expected));
        Assert.That(output, Does.Not.Contain("wrote "), "nothing ran");
    }

    [Test]
    public void ResultFiles_RecordTheCommand_WithoutTheFoldersOfTheMachineThatRanIt()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"boft-cli-{Guid.NewGuid():N}");
        try
        {
            (int exitCode, string output) = Run("compare", "-d", "64", "--tokens", "1", "--budget-ms", "1", "--out", folder, "--json", Path.Combine(folder, "rows.json"));
            Assert.That(exitCode, Is.Zero, output);
            string markdown = File.ReadAllText(Path.Combine(folder, "compare.md"));
            Assert.That(markdown, Does.Contain("`dotnet run -c Release --project Boft.Benchmarks -- compare -d 64 --tokens 1 --budget-ms 1`"));
            Assert.That(markdown, Does.Not.Contain(folder));
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    [TestCase("main")]
    [TestCase("compare")]
    [TestCase("peer")]
    [TestCase("peak")]
    [TestCase("finetune")]
    [TestCase("bdn")]
    public void Help_WorksForEveryCommand(string command)
    {
        (int exitCode, string output) = Run(command, "--help");
        Assert.That(exitCode, Is.Zero);
        Assert.That(output, Does.Contain("USAGE:").And.Contain(command));
    }
}
