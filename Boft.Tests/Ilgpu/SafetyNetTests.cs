// The safety nets of the ILGPU simulator fixtures can fail: the simulator's context has ILGPU assertions enabled, and a
// Debug.Assert that fails inside a kernel reaches the recording trace listener (which IlgpuKernelTestBase and
// BackendTestBase turn into a test failure). Boft's kernels carry Debug.Asserts on their invariants (tile bounds, gathers
// that stay inside a tile, team and slot ranges), so an index bug on the simulator fails the test that caused it.

using System.Diagnostics;
using Boft.Tests.Infrastructure;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Tests.Ilgpu;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.Ilgpu))]
public sealed class SafetyNetTests(BackendCase backendCase) : IlgpuKernelTestBase(backendCase)
{
    /// <summary>Asserts that every element is zero.</summary>
    public static void AssertZeroKernel(Index1D index, ArrayView<int> values) => Debug.Assert(values[index] == 0, "SafetyNetTests: value is not zero");

    [Test]
    public void Simulator_HasAssertionsEnabled_AndAFailingKernelAssertIsRecorded()
    {
        if (!IsSimulator)
            Assert.Ignore("Device-side assertions are checked on ILGPU's CPU simulator; on CUDA they need a Debug context.");
        Assert.That(Accelerator.Context.Properties.EnableAssertions, Is.True, "CreateCpuSimulator must enable ILGPU assertions");
        var kernel = Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>>(AssertZeroKernel);
        using MemoryBuffer1D<int, Stride1D.Dense> values = Accelerator.Allocate1D(new[] { 0, 0, 7, 0 });
        kernel(values.IntExtent, values.View);
        Accelerator.Synchronize();
        IReadOnlyList<string> failures = RecordingTraceListener.Drain();
#if DEBUG
        Assert.That(failures, Has.Count.EqualTo(1).And.Some.Contain("value is not zero"));
#else
        Assert.That(failures, Is.Empty, "Debug.Assert is compiled out of Release builds");
#endif
    }
}
