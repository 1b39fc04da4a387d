// The one golden suite: every case file of the golden folder (the vendored Golden/Cases, or GoldenDir), whichever kind —
// Linear (boft_*, oft_*), Conv2d (conv_*) or low-precision (lowp_*) — on every target that supports it:
//   GoldenSuite(Float64)      the double-precision reference functions (Boft.Reference) at float64 tolerances, trajectories
//                             included (the oracle behind every backend);
//   GoldenSuite(<backend>)    each registered backend (Simd, Reference, IlgpuCpuWarp4, IlgpuCpuWarp32, Cuda) at float32
//                             tolerances: the layers (BoftLinear/OftLinear, BoftConv2d/OftConv2d: forward, backward, merge,
//                             unmerge, interpolation, the dropout mask) and, on ILGPU backends, the raw BoftKernels path too.
// Trajectory tests (20 SGD/Adam steps through the training core) exist for the cases that carry a `training` object.
// Low-precision cases run through the 16-bit layers on every backend with a 16-bit path (GoldenSuite.LowPrecision.cs,
// the golden README's acceptance rule); on the others they are reported Ignored with the reason, never silently dropped.
// Tolerances and their reasons: GoldenSuite.Linear.cs (float32), GoldenSuite.Float64.cs (float64), GoldenSuite.Kernels.cs.

using System.Text.Json;
using Boft.Kernels.Ilgpu;
using Boft.Tests.Infrastructure;
using ILGPU;
using ILGPU.Runtime;
using Boft.Tests.Ilgpu;

namespace Boft.Tests.Golden;

[TestFixtureSource(nameof(Targets))]
[Category("Golden")]
public sealed partial class GoldenSuite(BackendCase backendCase) : BackendTestBase(backendCase)
{
    /// <summary>The reason a low-precision case has no trajectory test.</summary>
    public const string LowPrecisionReason = "low-precision cases carry no training object";

    /// <summary>Name of the float64 reference target.</summary>
    public const string Float64 = "Float64";

    private readonly List<IDisposable> deviceBuffers = [];

    /// <summary>Fixture data: the float64 reference, then every registered backend.</summary>
    public static IEnumerable<TestFixtureData> Targets()
    {
        yield return new TestFixtureData(new BackendCase(Float64, () => new Boft.Backends.ReferenceBackend())).SetArgDisplayNames(Float64);
        foreach (TestFixtureData data in TestBackends.All())
            yield return data;
    }

    /// <summary>Every case file of the folder.</summary>
    public static IEnumerable<TestCaseData> Cases() => GoldenCases.CaseData();

    /// <summary>The case files that carry SGD/Adam trajectories.</summary>
    public static IEnumerable<TestCaseData> TrainingCases() => GoldenCases.CaseData(HasTrainingObject);

    private bool IsFloat64 => Case.Name == Float64;

    private IlgpuBackend? Ilgpu => Backend as IlgpuBackend;

    [TearDown]
    public void FreeDeviceBuffers()
    {
        try
        {
            if (Ilgpu is { IsDisposed: false } ilgpu)
                ilgpu.Accelerator.Synchronize();
        }
        finally
        {
            foreach (IDisposable buffer in deviceBuffers)
                buffer.Dispose();
            deviceBuffers.Clear();
        }
        // The trace check (out-of-bounds accesses, kernel assertions) is BackendTestBase's [TearDown], which runs after this.
    }

    [TestCaseSource(nameof(Cases))]
    public void Case_MatchesGolden(string file)
    {
        GoldenCase c = GoldenCases.Load(file);
        if (c.IsLowPrecision)
        {
            CheckLowPrecisionCaseParses(c);
            LowPrecisionLinear(c);
            return;
        }
        switch (c.Layer, IsFloat64)
        {
            case ("linear", true):
                Float64Linear(c);
                break;
            case ("linear", false):
                LayerLinear(c);
                if (Ilgpu is not null)
                    KernelsLinear(c);
                break;
            case ("conv2d", true):
                Float64Conv(c);
                break;
            case ("conv2d", false):
                LayerConv(c);
                if (Ilgpu is not null)
                    KernelsConv(c);
                break;
            default:
                Assert.Fail($"{c.Name}: unknown golden layer kind '{c.Layer}' (expected linear or conv2d).");
                break;
        }
    }

    [TestCaseSource(nameof(TrainingCases))]
    public void SgdTrajectory_MatchesGolden(string file) => Trajectory(GoldenCases.Load(file), adam: false);

    [TestCaseSource(nameof(TrainingCases))]
    public void AdamTrajectory_MatchesGolden(string file) => Trajectory(GoldenCases.Load(file), adam: true);

    private void Trajectory(GoldenCase c, bool adam)
    {
        if (c.IsLowPrecision)
            Assert.Ignore($"{c.Name} ({c.Kind}): {LowPrecisionReason}.");
        if (c.IsConv)
            Assert.Fail($"{c.Name}: Conv2d trajectories are not part of the golden format yet; extend GoldenSuite before adding them.");
        if (IsFloat64)
            Float64Trajectory(c, adam);
        else
            LayerTrajectory(c, adam);
    }

    /// <summary>A low-precision case must carry its contract, its acceptance bounds and the tensors the rule needs.</summary>
    private static void CheckLowPrecisionCaseParses(GoldenCase c)
    {
        Assert.That(c.Precision, Is.Not.Null, $"{c.Name}: a {c.Dtype} case needs a 'precision' object");
        JsonElement acceptance = c.Precision!.Value.GetProperty("acceptance");
        foreach (string bound in new[] { "y_max_abs_err", "grad_x_max_abs_err", "param_grad_rel_tol" })
            Assert.That(acceptance.GetProperty(bound).GetDouble(), Is.GreaterThan(0), $"{c.Name}: acceptance.{bound}");
        foreach (string tensor in new[] { "x", "W0", "y", "upstream_grad", "grad_x" })
            Assert.That(c.Has(tensor), Is.True, $"{c.Name}: tensor '{tensor}'");
        Assert.That(c.Has(c.IsBoft ? "grad_boft_R" : "grad_weight"), Is.True, $"{c.Name}: parameter gradient");
    }

    private static bool HasTrainingObject(string file)
    {
        using FileStream stream = File.OpenRead(file);
        using JsonDocument doc = JsonDocument.Parse(stream);
        return doc.RootElement.TryGetProperty("training", out _);
    }

    private string Context(GoldenCase c) => $"{c.Name} on {Case.Name}";

    /// <summary>A device copy (ILGPU backends), freed after the test.</summary>
    private ArrayView<float> DeviceUpload(double[] values)
    {
        Accelerator accelerator = Ilgpu!.Accelerator;
        MemoryBuffer1D<float, Stride1D.Dense> buffer = accelerator.Allocate1D<float>(Math.Max(1, values.Length));
        deviceBuffers.Add(buffer);
        if (values.Length > 0)
            buffer.View.SubView(0, values.Length).CopyFromCPU(Array.ConvertAll(values, v => (float)v));
        return buffer.View.SubView(0, values.Length);
    }

    private ArrayView<float> DeviceZeros(int length) => DeviceUpload(new double[length]);

    private double[] DeviceDownload(ArrayView<float> view)
    {
        Ilgpu!.Accelerator.Synchronize();
        var host = new float[view.Length];
        if (host.Length > 0)
            view.CopyToCPU(host);
        return Array.ConvertAll(host, v => (double)v);
    }
}
