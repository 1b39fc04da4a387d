// Result files are written to a temporary name in the same folder and then renamed, so a failed or interrupted run never
// leaves a half-written table, plot or JSON file where a complete one was.

using System.Text;

namespace Boft.Benchmarks;

internal static class ResultFiles
{
    /// <summary>Options whose value is a path on the machine that ran the command; result files record the command without them.</summary>
    private static readonly string[] PathOptions = ["--out", "--json"];

    /// <summary>
    /// The command that produced a result file, to be recorded in it: <c>dotnet run … -- ARGS</c> with <paramref name="args"/> (default:
    /// this process's arguments), less <c>--out</c> and <c>--json</c> and their values, which name folders of the machine that ran it.
    /// </summary>
    public static string CommandLine(IReadOnlyList<string>? args = null)
    {
        args ??= Environment.GetCommandLineArgs().Skip(1).ToArray();
        var kept = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i].Split('=')[0];
            if (PathOptions.Contains(name))
            {
                if (!args[i].Contains('='))
                    i++;
                continue;
            }
            kept.Add(args[i]);
        }
        return "dotnet run -c Release --project Boft.Benchmarks" + (kept.Count > 0 ? " -- " + string.Join(' ', kept) : "");
    }

    public static void WriteText(string path, string text)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(directory);
        string temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            File.WriteAllText(temporary, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
                File.Delete(temporary);
        }
    }
}
