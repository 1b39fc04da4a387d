// The test assembly's entry point (GenerateProgramFile is off in Boft.Tests.csproj). `dotnet test` never calls it; tests
// that need a child process run `dotnet Boft.Tests.dll <command> ...` (a test-host re-entry: no separate project to build,
// starts in a fraction of a second). Commands:
//   checkpoint-save <folder> <stopAtStep>   saves the "new" checkpoint, stopping at step n until killed (prints DONE when
//                                           the save has fewer steps)

using Boft.Tests.Reliability;

namespace Boft.Tests.Infrastructure;

public static class ChildProcessEntry
{
    public static int Main(string[] args)
    {
        if (args.Length == 3 && args[0] == "checkpoint-save")
        {
            TwoCheckpoints.Make(2).Save(args[1], Boft.Checkpoints.SafeTensorsElementType.Float32, new StoppingFileSystem(int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture)));
            Console.Out.WriteLine("DONE");
            return 0;
        }
        Console.Error.WriteLine("Boft.Tests is a test assembly; run it with `dotnet test`.");
        return 2;
    }
}
