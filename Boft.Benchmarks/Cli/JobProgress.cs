// Live progress of a long job on stderr (stdout stays the result): Spectre.Console's progress display when stderr is an
// interactive terminal, plain "[step/total] elapsed  what" lines when it is redirected (CI logs, files).

using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Boft.Benchmarks;

/// <summary>Reports the steps of a job.</summary>
internal abstract class JobProgress
{
    private readonly Stopwatch clock = Stopwatch.StartNew();

    public TimeSpan Elapsed => clock.Elapsed;

    /// <summary>Starts a phase of <paramref name="total"/> steps.</summary>
    public abstract void Phase(string name, int total);

    /// <summary>One step of the current phase begins.</summary>
    public abstract void Step(string text);

    /// <summary>A free-form note.</summary>
    public abstract void Note(string text);

    /// <summary>Plain progress lines on stderr.</summary>
    public static JobProgress Lines() => new Plain();

    /// <summary>Runs <paramref name="job"/> with the progress display that suits stderr.</summary>
    public static T Run<T>(Func<JobProgress, T> job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (Console.IsErrorRedirected || Environment.GetEnvironmentVariable("TERM") is null or "dumb")
            return job(new Plain());
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(context => result = job(new Live(context)));
        return result;
    }

    private sealed class Plain : JobProgress
    {
        private string phase = "";
        private int done, total;

        public override void Phase(string name, int total)
        {
            phase = name;
            done = 0;
            this.total = total;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Elapsed.TotalSeconds,6:F1} s  {name} ({total} steps)"));
        }

        public override void Step(string text)
        {
            done++;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Elapsed.TotalSeconds,6:F1} s  [{phase} {done}/{total}] {text}"));
        }

        public override void Note(string text) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Elapsed.TotalSeconds,6:F1} s  {text}"));
    }

    private sealed class Live(ProgressContext context) : JobProgress
    {
        private ProgressTask? task;
        private string phase = "";
        private bool started;

        public override void Phase(string name, int total)
        {
            if (task is not null)
                task.Value = task.MaxValue;
            phase = name;
            started = false;
            task = context.AddTask(Markup.Escape(name), maxValue: Math.Max(total, 1));
        }

        public override void Step(string text)
        {
            if (task is null)
                return;
            if (started)
                task.Increment(1);
            started = true;
            task.Description = Markup.Escape($"{phase}: {text}");
        }

        public override void Note(string text) => context.AddTask(Markup.Escape(text), maxValue: 1).Value = 1;
    }
}
