// The file-system steps of a checkpoint save, each behind one hook (Step) so that tests can fail or stop a save between any
// two steps (docs/08_Guarantees.md). Production code uses Default, whose hook does nothing; every operation is the real one.

namespace Boft.Checkpoints;

/// <summary>A mutating file-system step of a save.</summary>
internal enum CheckpointStep
{
    /// <summary>Creating a folder.</summary>
    CreateDirectory,

    /// <summary>Creating a file and writing its bytes.</summary>
    WriteFile,

    /// <summary>Flushing a written file to disk.</summary>
    FlushFile,

    /// <summary>Renaming a file.</summary>
    MoveFile,

    /// <summary>Renaming a folder.</summary>
    MoveDirectory,

    /// <summary>Deleting a file.</summary>
    DeleteFile,

    /// <summary>Deleting a folder and its content.</summary>
    DeleteDirectory,
}

/// <summary>The real file-system operations of checkpoint saves, with an overridable hook before each one.</summary>
internal class CheckpointFileSystem
{
    /// <summary>The file system without hooks.</summary>
    public static CheckpointFileSystem Default { get; } = new();

    /// <summary>Runs before every step; an override may throw (an injected failure) or block (to be killed).</summary>
    /// <param name="step">The step about to run.</param>
    /// <param name="path">The path it acts on (the source for a move).</param>
    protected virtual void Step(CheckpointStep step, string path)
    {
    }

    public void CreateDirectory(string path)
    {
        Step(CheckpointStep.CreateDirectory, path);
        Directory.CreateDirectory(path);
    }

    /// <summary>Creates <paramref name="path"/> (it must not exist), writes it and flushes it to disk.</summary>
    public void WriteFile(string path, Action<FileStream> write)
    {
        Step(CheckpointStep.WriteFile, path);
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        write(stream);
        Step(CheckpointStep.FlushFile, path);
        stream.Flush(flushToDisk: true);
    }

    public void MoveFile(string source, string destination, bool overwrite)
    {
        Step(CheckpointStep.MoveFile, source);
        File.Move(source, destination, overwrite);
    }

    public void MoveDirectory(string source, string destination)
    {
        Step(CheckpointStep.MoveDirectory, source);
        Directory.Move(source, destination);
    }

    public void DeleteFile(string path)
    {
        Step(CheckpointStep.DeleteFile, path);
        File.Delete(path);
    }

    public void DeleteDirectory(string path)
    {
        Step(CheckpointStep.DeleteDirectory, path);
        Directory.Delete(path, recursive: true);
    }

    /// <summary>Deletes a file, ignoring I/O and permission errors (cleanup after a failure, whose exception matters more).</summary>
    public void TryDeleteFile(string path)
    {
        try
        {
            DeleteFile(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Best effort.
        }
    }

    /// <summary>Deletes a folder when it exists, ignoring I/O and permission errors.</summary>
    public void TryDeleteDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path))
                DeleteDirectory(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Best effort.
        }
    }
}
