// Facts about the machine for table headers and result folder names.

using System.Text.RegularExpressions;

namespace Boft.Benchmarks;

internal static partial class MachineInfo
{
    public static string Cpu()
    {
        string model = "unknown CPU";
        try
        {
            string? line = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) : null;
            if (line is not null)
                model = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
        }
        return $"{model}, {Environment.ProcessorCount} cores, .NET {Environment.Version}";
    }

    /// <summary>A folder-safe machine name, e.g. <c>amd-epyc-2-cores</c>.</summary>
    public static string FolderName()
    {
        string cpu = Cpu().Split(',')[0].ToLowerInvariant();
        string slug = NonWord().Replace(cpu, "-").Trim('-');
        return $"{slug}-{Environment.ProcessorCount}-cores";
    }

    public static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    /// <summary>The folder holding Boft.sln above the current directory (or the current directory).</summary>
    public static string RepositoryRoot()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Boft.sln")))
                    return dir.FullName;
        }
        return Environment.CurrentDirectory;
    }

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NonWord();
}
