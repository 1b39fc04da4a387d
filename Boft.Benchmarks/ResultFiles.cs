// Result files are written to a temporary name in the same folder and then renamed, so a failed or interrupted run never
// leaves a half-written table, plot or JSON file where a complete one was.

using System.Text;

namespace Boft.Benchmarks;

internal static class ResultFiles
{
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
