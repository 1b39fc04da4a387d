// Temporary folders, fixture paths and the Python runner shared by the checkpoint tests.

using System.Diagnostics;

namespace Boft.Tests.Checkpoints;

internal static class CheckpointTestFiles
{
    public const string Python = "/usr/bin/python3";

    /// <summary>The committed Python fixtures, copied next to the test assembly.</summary>
    public static string FixturesDirectory => Path.Combine(AppContext.BaseDirectory, "Checkpoints", "Fixtures");

    /// <summary>The committed Python scripts, copied next to the test assembly.</summary>
    public static string ScriptsDirectory => Path.Combine(AppContext.BaseDirectory, "Checkpoints");

    public static string Fixture(string name) => Path.Combine(FixturesDirectory, name);

    /// <summary>A new empty folder under the system temp folder; delete it with <see cref="Delete"/>.</summary>
    public static string NewDirectory()
    {
        string path = Path.Combine(Path.GetTempPath(), "boft-ckpt-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    public static void Delete(string directory)
    {
        if (!Directory.Exists(directory))
            return;
        foreach (string path in Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories))
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.Delete(directory, recursive: true);
    }

    /// <summary>Names of the entries of a folder, sorted.</summary>
    public static string[] Entries(string directory) =>
        Directory.EnumerateFileSystemEntries(directory).Select(p => Path.GetFileName(p)!).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Why Python with torch cannot run here, or null when it can.</summary>
    public static string? PythonWithTorchUnavailableReason()
    {
        if (!File.Exists(Python))
            return $"{Python} is not installed; the Python cross-check needs Debian's python3 with torch.";
        var (exitCode, output) = Run(Python, ["-c", "import torch, numpy"], TimeSpan.FromMinutes(2));
        return exitCode == 0 ? null : $"{Python} cannot import torch and numpy (exit {exitCode}): {output.Trim()}";
    }

    /// <summary>Runs a process and returns its exit code and combined output.</summary>
    public static (int ExitCode, string Output) Run(string fileName, IEnumerable<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} did not finish within {timeout}.");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
