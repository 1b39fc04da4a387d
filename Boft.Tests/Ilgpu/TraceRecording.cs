// Assembly-wide trace recording. On ILGPU's CPU accelerator an out-of-bounds view access (and any Debug.Assert in a kernel)
// calls Trace listeners' Fail; the default listener then kills the test host (Environment.FailFast) and a throwing listener
// kills it too (it throws on an ILGPU worker thread). So the default listener is replaced, for the whole test assembly, by
// one that records failures; IlgpuKernelTestBase fails the test in its TearDown when anything was recorded.

using System.Diagnostics;
using Boft.Tests.Ilgpu;

/// <summary>Installs <see cref="RecordingTraceListener"/> for every test of the assembly (a SetUpFixture outside any namespace).</summary>
[SetUpFixture]
public sealed class TraceRecordingSetup
{
    [OneTimeSetUp]
    public void Install() => RecordingTraceListener.Install();

    [OneTimeTearDown]
    public void Uninstall() => RecordingTraceListener.Uninstall();
}

namespace Boft.Tests.Ilgpu
{
    /// <summary>A trace listener that records assertion failures instead of terminating the process.</summary>
    public sealed class RecordingTraceListener : TraceListener
    {
        private static readonly RecordingTraceListener Instance = new();
        private static readonly List<TraceListener> Removed = [];
        private readonly List<string> failures = [];

        private RecordingTraceListener()
            : base("BoftRecording")
        {
        }

        /// <summary>Replaces the process's trace listeners (kept for <see cref="Uninstall"/>) by the recorder.</summary>
        public static void Install()
        {
            lock (Removed)
            {
                if (Trace.Listeners.Contains(Instance))
                    return;
                foreach (TraceListener listener in Trace.Listeners)
                    Removed.Add(listener);
                Trace.Listeners.Clear();
                Trace.Listeners.Add(Instance);
            }
        }

        /// <summary>Restores the original listeners.</summary>
        public static void Uninstall()
        {
            lock (Removed)
            {
                Trace.Listeners.Remove(Instance);
                foreach (TraceListener listener in Removed)
                    Trace.Listeners.Add(listener);
                Removed.Clear();
            }
        }

        /// <summary>Whether the recorder is the active listener.</summary>
        public static bool IsInstalled => Trace.Listeners.Contains(Instance);

        /// <summary>Returns and clears the failures recorded so far.</summary>
        public static IReadOnlyList<string> Drain()
        {
            lock (Instance.failures)
            {
                string[] copy = [.. Instance.failures];
                Instance.failures.Clear();
                return copy;
            }
        }

        public override void Fail(string? message, string? detailMessage)
        {
            lock (failures)
                failures.Add($"{message} {detailMessage}".Trim());
        }

        public override void Fail(string? message) => Fail(message, null);

        public override void Write(string? message)
        {
        }

        public override void WriteLine(string? message)
        {
        }
    }
}
