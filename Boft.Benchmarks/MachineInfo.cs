// Facts about the machine for table headers and result folder names.

using System.Text.RegularExpressions;

namespace Boft.Benchmarks;

internal static partial class MachineInfo
{
    public static string Cpu()
    {
        (string model, string? generation) = CpuModel();
        return $"{model}{(generation is null ? "" : $" ({generation})")} {VectorIsa}, {Environment.ProcessorCount} cores, .NET {Environment.Version}";
    }

    /// <summary>The CPU's model name, and its family and model numbers where /proc/cpuinfo gives them (virtual machines
    /// often show a bare "AMD EPYC": the family tells the generation, 25 = Zen 3/4, 26 = Zen 5).</summary>
    private static (string Model, string? Generation) CpuModel()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo"))
                return ("unknown CPU", null);
            string[] lines = File.ReadLines("/proc/cpuinfo").TakeWhile(l => l.Length > 0).ToArray();
            string? Field(string name) => lines.FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal) && l[name.Length..].TrimStart().StartsWith(':')) is { } line
                ? line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim() : null;
            string? generation = Field("cpu family") is { } family && Field("model") is { } model ? $"family {family} model {model}" : null;
            return (Field("model name") ?? "unknown CPU", generation);
        }
        catch (IOException)
        {
            return ("unknown CPU", null);
        }
    }

    /// <summary>The widest float32 vector instructions present: what the SIMD backend's kernels are compiled to.</summary>
    public static string VectorIsa => System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "AVX-512"
        : System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "AVX2"
        : System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported ? "AdvSIMD" : "no wide SIMD";

    /// <summary>A folder-safe machine name, e.g. <c>amd-epyc-2-cores</c>.</summary>
    public static string FolderName()
    {
        string slug = NonWord().Replace(CpuModel().Model.ToLowerInvariant(), "-").Trim('-');
        // AVX2 machines keep the plain name (the folders recorded before the ISA was part of it); others say theirs.
        string isa = VectorIsa == "AVX2" ? "" : "-" + NonWord().Replace(VectorIsa.ToLowerInvariant(), "");
        return $"{slug}{isa}-{Environment.ProcessorCount}-cores";
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
