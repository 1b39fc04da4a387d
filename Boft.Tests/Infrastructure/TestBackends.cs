// The backends every shared fixture runs on. Write a fixture once:
//   [TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
//   public sealed class CayleyTests(BackendCase backendCase) : BackendTestBase(backendCase) { ... }
// and it runs as CayleyTests(Simd), CayleyTests(IlgpuCpuWarp4), ... so `--filter FullyQualifiedName~Ilgpu` selects one backend.
// A backend that cannot run here (no CUDA device) is ignored, not failed.

using Boft.Backends;

namespace Boft.Tests.Infrastructure;

/// <summary>One backend under test.</summary>
/// <param name="Name">Name used in fixture names (must match <see cref="BoftBackend.Name"/> variants: Simd, IlgpuCpuWarp4, ...).</param>
/// <param name="Create">Creates the backend; throws <see cref="BackendUnavailableException"/> when it cannot run here.</param>
/// <param name="IsSimulator">True for ILGPU's CPU simulator: tests keep shapes tiny there (it is 20-250x slower than managed code).</param>
/// <param name="Categories">NUnit categories added to the fixture (e.g. "Cuda").</param>
public sealed record BackendCase(string Name, Func<BoftBackend> Create, bool IsSimulator = false, params string[] Categories)
{
    public override string ToString() => Name;
}

/// <summary>Thrown by a <see cref="BackendCase.Create"/> when the backend cannot run on this machine.</summary>
public sealed class BackendUnavailableException(string message) : Exception(message);

public static class TestBackends
{
    /// <summary>Every registered backend. Backend implementers add one line each here.</summary>
    public static readonly IReadOnlyList<BackendCase> Registered =
    [
        new BackendCase("Simd", () => new Boft.Kernels.Simd.SimdBackend()),
        new BackendCase("Reference", () => new ReferenceBackend()),
        new BackendCase("IlgpuCpuWarp4", () => Boft.Kernels.Ilgpu.IlgpuBackend.CreateCpuSimulator(4), IsSimulator: true),
        new BackendCase("IlgpuCpuWarp32", () => Boft.Kernels.Ilgpu.IlgpuBackend.CreateCpuSimulator(32), IsSimulator: true),
        new BackendCase("Cuda", () => Boft.Kernels.Ilgpu.IlgpuBackend.IsCudaAvailable ? Boft.Kernels.Ilgpu.IlgpuBackend.CreateCuda() : throw new BackendUnavailableException("no CUDA device is visible to ILGPU"), false, "Cuda"),
    ];

    /// <summary>Fixture data for <c>TestFixtureSource</c>: every registered backend.</summary>
    public static IEnumerable<TestFixtureData> All() => Data(Registered);

    /// <summary>The ILGPU backends only (both CPU simulators and CUDA), for the raw <c>BoftKernels</c> fixtures.</summary>
    public static IEnumerable<TestFixtureData> Ilgpu() => Data(Registered.Where(IsIlgpu));

    /// <summary>One ILGPU simulator (warp size 4) and CUDA, for ILGPU fixtures whose cost matters more than a second warp size.</summary>
    public static IEnumerable<TestFixtureData> IlgpuWarp4AndCuda() => Data(Registered.Where(c => IsIlgpu(c) && c.Name != "IlgpuCpuWarp32"));

    private static bool IsIlgpu(BackendCase backendCase) => backendCase.Name.StartsWith("Ilgpu", StringComparison.Ordinal) || backendCase.Name == "Cuda";

    private static IEnumerable<TestFixtureData> Data(IEnumerable<BackendCase> cases)
    {
        foreach (BackendCase backendCase in cases)
        {
            var data = new TestFixtureData(backendCase).SetArgDisplayNames(backendCase.Name);
            foreach (string category in backendCase.Categories)
                data.Properties.Add(NUnit.Framework.Internal.PropertyNames.Category, category);
            yield return data;
        }
    }
}

/// <summary>Base class of shared backend fixtures: one backend per fixture, disposed at the end.</summary>
public abstract class BackendTestBase(BackendCase backendCase)
{
    private BoftBackend? backend;

    protected BackendCase Case { get; } = backendCase;

    protected BoftBackend Backend => backend ?? throw new InvalidOperationException("The backend was not created.");

    /// <summary>True on ILGPU's CPU simulator; keep shapes tiny there.</summary>
    protected bool IsSimulator => Case.IsSimulator;

    [OneTimeSetUp]
    public void CreateBackend()
    {
        try
        {
            backend = Case.Create();
        }
        catch (BackendUnavailableException e)
        {
            Assert.Ignore($"{Case.Name} is not available here: {e.Message}");
        }
    }

    [OneTimeTearDown]
    public void DisposeBackend() => backend?.Dispose();

    [SetUp]
    public void ClearTrace() => Boft.Tests.Ilgpu.RecordingTraceListener.Drain();

    /// <summary>Fails the test when a kernel assertion (Debug.Assert, an out-of-bounds view access on ILGPU's CPU accelerator)
    /// was recorded during it; the simulator contexts run with ILGPU assertions enabled.</summary>
    [TearDown]
    public void CheckTrace()
    {
        if (backend is not null && !backend.IsDisposed)
            backend.Synchronize();
        IReadOnlyList<string> failures = Boft.Tests.Ilgpu.RecordingTraceListener.Drain();
        if (failures.Count > 0)
            Assert.Fail($"{failures.Count} kernel assertion(s) during the test on {Case.Name}: {string.Join(" | ", failures.Take(5))}");
    }

    /// <summary>Uploads doubles as a float32 tensor.</summary>
    protected Tensor Upload(double[] values, params int[] shape) => Backend.Upload(Array.ConvertAll(values, v => (float)v), shape);

    /// <summary>Downloads a tensor as doubles.</summary>
    protected static double[] Download(Tensor tensor) => Array.ConvertAll(tensor.ToArray(), v => (double)v);
}
