// Backend selection: the default is CUDA when present, otherwise SIMD; explicit choices are honoured or refused.

using Boft.Backends;
using Boft.Kernels;

namespace Boft.Tests.Backends;

[TestFixture]
public sealed class BackendSelectionTests
{
    [Test]
    public void Default_IsCudaWhenPresent_OtherwiseSimd()
    {
        using BoftBackend backend = BoftBackends.CreateDefault();
        Assert.That(backend.Name, Is.EqualTo(BoftBackends.IsCudaAvailable ? "Cuda" : "Simd"));
        Assert.That(BoftBackends.DefaultKind, Is.EqualTo(BoftBackends.IsCudaAvailable ? BackendKind.Cuda : BackendKind.Simd));
    }

    [TestCase("simd", "Simd")]
    [TestCase("SIMD", "Simd")]
    [TestCase("simd128", "Simd")]
    [TestCase("reference", "Reference")]
    [TestCase("ilgpu-cpu", "IlgpuCpuWarp4")]
    [TestCase("ilgpu-cpu32", "IlgpuCpuWarp32")]
    public void ExplicitChoice_IsHonoured(string name, string expected)
    {
        using BoftBackend backend = BoftBackends.Create(name);
        Assert.That(backend.Name, Is.EqualTo(expected));
    }

    [Test]
    public void Cuda_ThrowsWhenNoDeviceIsPresent_InsteadOfFallingBack()
    {
        if (BoftBackends.IsCudaAvailable)
            Assert.Ignore("A CUDA device is present: the refusal path cannot be exercised here.");
        Assert.That(() => BoftBackends.Create("cuda"), Throws.TypeOf<NotSupportedException>().With.Message.Contains("No CUDA device"));
        Assert.That(() => BoftBackends.Create(BackendKind.Cuda), Throws.TypeOf<NotSupportedException>());
    }

    [Test]
    public void UnknownName_ThrowsListingTheKnownOnes() =>
        Assert.That(() => BoftBackends.Create("opencl"), Throws.ArgumentException.With.Message.Contains("opencl").And.Message.Contains("simd, simd512"));
}
