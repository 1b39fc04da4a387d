// The base class of the ILGPU kernel fixtures; the backends come from TestBackends' ILGPU selection. Write a fixture once:
//   [TestFixtureSource(typeof(TestBackends), nameof(TestBackends.Ilgpu))]
//   public sealed class CayleyKernelTests(BackendCase backendCase) : IlgpuKernelTestBase(backendCase) { ... }
// and it runs as CayleyKernelTests(IlgpuCpuWarp4), CayleyKernelTests(IlgpuCpuWarp32) and CayleyKernelTests(Cuda); the Cuda
// fixture carries the NUnit category "Cuda" and is ignored (not failed) on machines without a CUDA device.

using Boft.Kernels.Ilgpu;
using Boft.Tests.Infrastructure;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Tests.Ilgpu;

/// <summary>
/// Base of the ILGPU kernel fixtures: one backend (context, accelerator, loaded kernels) per fixture; every test fails when the
/// recording trace listener caught an assertion (out-of-bounds access on the CPU accelerator); device buffers made with
/// <see cref="Upload(float[])"/> or <see cref="Zeros"/> are freed after each test.
/// </summary>
public abstract class IlgpuKernelTestBase(BackendCase backendCase)
{
    private readonly List<IDisposable> buffers = [];
    private IlgpuBackend? backend;

    protected BackendCase Case { get; } = backendCase;

    protected IlgpuBackend Backend => backend ?? throw new InvalidOperationException("The backend was not created.");

    protected BoftKernels Kernels => Backend.Kernels;

    protected Accelerator Accelerator => Backend.Accelerator;

    /// <summary>Float32 kernels against the double reference: CPU math is exact .NET math; GPUs contract to FMA and use approximate ex2/lg2.</summary>
    protected bool IsSimulator => Case.IsSimulator;

    [OneTimeSetUp]
    public void CreateBackend()
    {
        Assert.That(RecordingTraceListener.IsInstalled, Is.True, "The assembly-level TraceRecordingSetup must have installed the recording listener.");
        try
        {
            backend = (IlgpuBackend)Case.Create();
        }
        catch (BackendUnavailableException e)
        {
            Assert.Ignore($"{Case.Name} is not available here: {e.Message}");
        }
    }

    [OneTimeTearDown]
    public void DisposeBackend() => backend?.Dispose();

    [SetUp]
    public void ClearTrace() => RecordingTraceListener.Drain();

    [TearDown]
    public void CheckTraceAndFree()
    {
        try
        {
            if (backend is not null && !backend.IsDisposed)
                Accelerator.Synchronize();
        }
        finally
        {
            foreach (IDisposable buffer in buffers)
                buffer.Dispose();
            buffers.Clear();
        }
        IReadOnlyList<string> failures = RecordingTraceListener.Drain();
        if (failures.Count > 0)
            Assert.Fail($"{failures.Count} trace assertion(s) (e.g. out-of-bounds view access) during the test on {Case.Name}: {string.Join(" | ", failures.Take(5))}");
    }

    /// <summary>A device copy of <paramref name="values"/>, freed after the test.</summary>
    protected ArrayView<float> Upload(float[] values)
    {
        MemoryBuffer1D<float, Stride1D.Dense> buffer = Accelerator.Allocate1D<float>(Math.Max(1, values.Length));
        buffers.Add(buffer);
        if (values.Length > 0)
            buffer.View.SubView(0, values.Length).CopyFromCPU(values);
        return buffer.View.SubView(0, values.Length);
    }

    /// <summary>A device copy of doubles rounded to float32.</summary>
    protected ArrayView<float> Upload(double[] values) => Upload(Array.ConvertAll(values, v => (float)v));

    /// <summary>A zero-filled device buffer of <paramref name="length"/> floats, freed after the test.</summary>
    protected ArrayView<float> Zeros(int length) => Upload(new float[length]);

    /// <summary>Waits for the device and copies a view back as doubles.</summary>
    protected double[] Download(ArrayView<float> view)
    {
        Accelerator.Synchronize();
        var host = new float[view.Length];
        if (host.Length > 0)
            view.CopyToCPU(host);
        return Array.ConvertAll(host, v => (double)v);
    }

    /// <summary>Waits for the device and copies a view back bit for bit.</summary>
    protected float[] DownloadRaw(ArrayView<float> view)
    {
        Accelerator.Synchronize();
        var host = new float[view.Length];
        if (host.Length > 0)
            view.CopyToCPU(host);
        return host;
    }

    /// <summary>Deterministic values uniform in [−scale, scale], rounded to float32 (so the reference sees the exact kernel inputs).</summary>
    protected static double[] Random(int length, int seed, double scale = 1.0)
    {
        var random = new Random(seed);
        var values = new double[length];
        for (int i = 0; i < length; i++)
            values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return values;
    }

    /// <summary>Kernels with other launch options on the same accelerator (disposed after the test).</summary>
    protected BoftKernels KernelsWith(BoftKernelOptions options)
    {
        var kernels = new BoftKernels(Accelerator, options);
        buffers.Add(kernels);
        return kernels;
    }
}
