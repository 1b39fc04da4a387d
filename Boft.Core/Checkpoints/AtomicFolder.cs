// All-or-nothing replacement of the checkpoint files of a folder (docs/08_Guarantees.md, "Checkpoint atomicity").
// For a folder D with parent P and name N, a save
//   1. recovers any half-finished earlier save (below),
//   2. writes every new file into the staging folder P/.N.boft-staging and flushes each one to disk,
//   3. renames D to P/.N.boft-previous (skipped when D does not exist yet), then the staging folder to D,
//   4. moves every other entry of the previous folder (files that are not this save's, e.g. a README) into D, and
//      deletes the previous folder.
// Both renames are rename(2) of a folder within one parent, which is atomic. At every instant the loader therefore sees
// the complete previous checkpoint (D), no folder at D (between the renames), or the complete new one. A process killed
// between any two steps leaves one of these states, which the next load or save completes:
//   staging, no previous      -> the new files may be incomplete and the swap had not begun: delete staging (old kept)
//   staging, previous, no D   -> staging is complete (previous only exists after step 2): rename it to D, then step 4
//   previous, D, no staging   -> the swap is done: step 4
//   previous only             -> D was removed by someone else: rename previous back to D
// Limitations: .NET cannot fsync a folder, so after a power loss (not a process kill) a rename may be lost; it then rolls
// back to the previous state, which is still complete. One writer per folder at a time; a reader in another process that
// looks during step 3 sees no folder and must retry.

namespace Boft.Checkpoints;

internal static class AtomicFolder
{
    /// <summary>Suffix of the staging folder beside the checkpoint folder.</summary>
    public const string StagingSuffix = ".boft-staging";

    /// <summary>Suffix of the previous checkpoint while it is being replaced.</summary>
    public const string PreviousSuffix = ".boft-previous";

    /// <summary>Replaces the files named in <paramref name="files"/> in <paramref name="directory"/> all at once.</summary>
    /// <param name="directory">The checkpoint folder (created when missing).</param>
    /// <param name="files">File name (no folders) → writer of its content.</param>
    /// <param name="fileSystem">The file system (tests inject failures through it).</param>
    /// <exception cref="IOException">A step failed; the folder then holds the complete previous checkpoint (or none, if there was none).</exception>
    public static void Replace(string directory, IReadOnlyList<(string Name, Action<FileStream> Write)> files, CheckpointFileSystem fileSystem)
    {
        (string target, string staging, string previous) = PathsOf(directory);
        Recover(target, staging, previous, fileSystem);
        bool hadTarget = Directory.Exists(target);
        bool swapped = false;
        try
        {
            fileSystem.CreateDirectory(staging);
            foreach (var (name, write) in files)
                fileSystem.WriteFile(Path.Combine(staging, name), write);
            if (hadTarget)
                fileSystem.MoveDirectory(target, previous);
            try
            {
                fileSystem.MoveDirectory(staging, target);
            }
            catch
            {
                if (hadTarget)
                    fileSystem.MoveDirectory(previous, target);
                throw;
            }
            swapped = true;
            if (hadTarget)
                CarryOverAndDelete(previous, target, fileSystem);
        }
        catch when (!swapped)
        {
            TryRecover(target, staging, previous, fileSystem);
            throw;
        }
        catch
        {
            // The new checkpoint is in place; only the cleanup of the previous folder failed. Retry it once; the save counts
            // as done when that succeeds (otherwise the next load or save finishes it).
            if (!TryRecover(target, staging, previous, fileSystem))
                throw;
        }
    }

    /// <summary>Completes or undoes a half-finished save of <paramref name="directory"/> (see the file comment).</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="fileSystem">The file system.</param>
    public static void Recover(string directory, CheckpointFileSystem fileSystem)
    {
        (string target, string staging, string previous) = PathsOf(directory);
        Recover(target, staging, previous, fileSystem);
    }

    /// <summary>Whether <paramref name="path"/> is a staging or previous folder of some checkpoint folder.</summary>
    public static bool IsTemporaryName(string path)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(path));
        return name.StartsWith('.') && (name.EndsWith(StagingSuffix, StringComparison.Ordinal) || name.EndsWith(PreviousSuffix, StringComparison.Ordinal));
    }

    private static (string Target, string Staging, string Previous) PathsOf(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        string parent = Path.GetDirectoryName(target) ?? throw new ArgumentException($"'{directory}' has no parent folder; a checkpoint folder needs one.", nameof(directory));
        string name = Path.GetFileName(target);
        return (target, Path.Combine(parent, $".{name}{StagingSuffix}"), Path.Combine(parent, $".{name}{PreviousSuffix}"));
    }

    private static void Recover(string target, string staging, string previous, CheckpointFileSystem fileSystem)
    {
        bool hasStaging = Directory.Exists(staging), hasPrevious = Directory.Exists(previous), hasTarget = Directory.Exists(target);
        if (hasStaging && !hasPrevious)
        {
            fileSystem.DeleteDirectory(staging);
            return;
        }
        if (hasStaging && !hasTarget)
        {
            fileSystem.MoveDirectory(staging, target);
            hasTarget = true;
        }
        else if (hasStaging)
        {
            // Someone made a new folder at the target between the renames: it wins; the staged copy is dropped.
            fileSystem.DeleteDirectory(staging);
        }
        if (!hasPrevious)
            return;
        if (hasTarget)
            CarryOverAndDelete(previous, target, fileSystem);
        else
            fileSystem.MoveDirectory(previous, target);
    }

    private static bool TryRecover(string target, string staging, string previous, CheckpointFileSystem fileSystem)
    {
        try
        {
            Recover(target, staging, previous, fileSystem);
            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Moves every entry of <paramref name="previous"/> that <paramref name="target"/> lacks into it, then deletes <paramref name="previous"/>.</summary>
    private static void CarryOverAndDelete(string previous, string target, CheckpointFileSystem fileSystem)
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(previous).ToArray())
        {
            string destination = Path.Combine(target, Path.GetFileName(entry));
            if (File.Exists(destination) || Directory.Exists(destination))
                continue;
            if (Directory.Exists(entry))
                fileSystem.MoveDirectory(entry, destination);
            else
                fileSystem.MoveFile(entry, destination, overwrite: false);
        }
        fileSystem.DeleteDirectory(previous);
    }
}
