// Atomic file replacement: write a temporary file in the destination's folder, flush it to disk, then rename it over
// the destination (File.Move with overwrite, a rename(2) on Unix and MoveFileEx(REPLACE_EXISTING) on Windows, both
// atomic within one volume). On any failure the temporary file is deleted and the destination is untouched.
// Limitation: .NET has no API to fsync the folder, so after a power loss the rename itself may be lost (the old file
// then remains, intact); the new file's contents are on disk before the rename.

namespace Boft.Checkpoints;

internal static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> atomically with the content <paramref name="write"/> produces.</summary>
    public static void Write(string path, Action<FileStream> write)
    {
        string temporary = CreateTemporary(path, write);
        try
        {
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>Writes a flushed temporary file next to <paramref name="path"/> and returns its path; the caller moves or deletes it.</summary>
    public static string CreateTemporary(string path, Action<FileStream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(fullPath)
            ?? throw new ArgumentException($"'{path}' has no parent folder.", nameof(path));
        string temporary = Path.Combine(folder, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            return temporary;
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the original exception matters more.
        }
        catch (UnauthorizedAccessException)
        {
            // Best effort, as above.
        }
    }
}
