// Result files are written to a temporary name in the same folder and then renamed, so a failed or interrupted run never
// leaves a half-written table, plot or JSON file where a complete one was.

using System.Text;
using Boft.Checkpoints;

namespace Boft.Benchmarks;

internal static class ResultFiles
{
    public static void WriteText(string path, string text)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
            Directory.CreateDirectory(directory);
        byte[] bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text);
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }
}
