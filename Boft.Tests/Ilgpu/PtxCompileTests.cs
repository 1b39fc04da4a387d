// Every Boft kernel, in every instantiation it is launched with, compiled to PTX for sm_80 and sm_90 at ISA 7.8 — no GPU
// needed. The context is a plain CPU context without ILGPU.Algorithms, like an arbitrary user context, so a kernel that needs
// an Algorithms intrinsic (exp, log, ...) fails here. Environment variables:
//   BOFT_PTX_DIR=/dir   also write each kernel's PTX to /dir/<kernel>.<sm_XY>.ptx (scripts/ptxas-check.sh uses this);
//   PTXAS=/path/ptxas   also assemble each PTX with `ptxas -arch=sm_XY` and fail on errors (Debian's ptxas 11.8 knows ISA ≤ 7.8).

using System.Diagnostics;
using Boft.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Boft.Tests.Ilgpu;

[TestFixture]
[Category("Ptx")]
public sealed class PtxCompileTests
{
    private Context? context;
    private readonly Dictionary<string, PTXBackend> backends = [];

    public static IEnumerable<TestCaseData> Kernels()
    {
        foreach (KernelEntry entry in KernelCatalog.All())
            foreach (string arch in new[] { "sm_80", "sm_90" })
                yield return new TestCaseData(entry.Name, arch).SetArgDisplayNames(entry.Name, arch);
    }

    [OneTimeSetUp]
    public void CreateContext() => context = Context.Create(b => b.CPU());

    [OneTimeTearDown]
    public void DisposeContext()
    {
        foreach (PTXBackend backend in backends.Values)
            backend.Dispose();
        context?.Dispose();
    }

    [Test]
    public void Catalog_ListsEveryLaunchedKernel()
    {
        IReadOnlyList<KernelEntry> all = KernelCatalog.All();
        Assert.That(all.Select(e => e.Name), Is.Unique);
        // Cayley: 2 sized kernels × 7 size structs + 2 global-workspace kernels (any b) + COFT projection. The kernels with a 16-bit
        // path once per storage codec (float32, bfloat16, float16): 4 rotation kernels × 7 size structs, the GEMM × 3 tiles, and the
        // direct GEMM, 3 scale/bias kernels and the reduction. Fill for float and ushort. 12 plain kernels (ReLU twice: float32 and
        // 16-bit bits; the conv adapters' row-scale backward). For the 16-bit codecs only (bf16, fp16): the scale/bias forward with a
        // float32 bias, the GEMMs with a float32 C (3 tiles + direct). Conv2d: the forward for float32 images and, per 16-bit type,
        // 2 weight × 2 bias types (float32 or the images' type); the input gradient 1 + 2 × 2 weight types; the weight and bias
        // gradients once per codec.
        Assert.That(all, Has.Count.EqualTo((2 * 7 + 2 + 1) + 3 * (4 * 7 + 3 + 1 + 3 + 1) + 2 + 12 + 2 * (1 + 3 + 1) + (1 + 2 * 4) + (1 + 2 * 2) + 3 + 3));
        var launched = typeof(BoftKernels).Assembly.GetTypes()
            .Where(t => t.Namespace == "Boft.Kernels.Ilgpu" && t.Name.EndsWith("Kernels", StringComparison.Ordinal) && t.IsAbstract && t.IsSealed)
            .SelectMany(t => t.GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public)
                .Where(m => m.Name.EndsWith("Kernel", StringComparison.Ordinal) && m.ReturnType == typeof(void)))
            .Select(m => m.Name)
            .ToHashSet();
        Assert.That(all.Select(e => e.Method.Name).ToHashSet(), Is.EquivalentTo(launched), "every *Kernel method of the op classes is in the catalog");
    }

    [TestCaseSource(nameof(Kernels))]
    public void Kernel_CompilesToPtx(string name, string arch)
    {
        KernelEntry entry = KernelCatalog.All().Single(e => e.Name == name);
        PTXBackend backend = Backend(arch);
        string ptx = KernelCatalog.CompilePtx(backend, entry);
        Assert.That(ptx, Does.Contain(".version 7.8").And.Contain(".visible .entry"), $"{name} for {arch}");
        string? directory = Environment.GetEnvironmentVariable("BOFT_PTX_DIR");
        string path = Path.Combine(string.IsNullOrEmpty(directory) ? Path.GetTempPath() : directory, $"{entry.FileName}.{arch}.ptx");
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(path, ptx);
        }
        string? ptxas = Environment.GetEnvironmentVariable("PTXAS");
        if (!string.IsNullOrEmpty(ptxas))
            Assemble(ptxas, ptx, path, arch);
    }

    private PTXBackend Backend(string arch)
    {
        if (!backends.TryGetValue(arch, out PTXBackend? backend))
        {
            CudaArchitecture architecture = arch == "sm_80" ? CudaArchitecture.SM_80 : CudaArchitecture.SM_90;
            backend = new PTXBackend(context!, architecture, CudaInstructionSet.ISA_78, nvvmAPI: null!);
            backends[arch] = backend;
        }
        return backend;
    }

    private static void Assemble(string ptxas, string ptx, string path, string arch)
    {
        string input = path + ".in.ptx";
        File.WriteAllText(input, ptx);
        try
        {
            var info = new ProcessStartInfo(ptxas, ["-arch=" + arch, "-o", "/dev/null", input]) { RedirectStandardError = true, RedirectStandardOutput = true };
            using Process process = Process.Start(info)!;
            string errors = process.StandardError.ReadToEnd() + process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.That(process.ExitCode, Is.Zero, $"ptxas -arch={arch} rejected {Path.GetFileName(path)}: {errors}");
        }
        finally
        {
            File.Delete(input);
        }
    }
}
