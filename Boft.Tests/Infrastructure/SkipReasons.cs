// Says once which tests are skipped on this machine and why. At the default (minimal) verbosity the VSTest console shows a
// skipped test as a bare "Skipped <name>" line; with `--logger "console;verbosity=normal"` it shows this line and each test's
// reason, and .ci/run prints the reasons grouped from the TRX results (README, "What is skipped without a GPU").

using Boft.Kernels.Ilgpu;

[SetUpFixture]
public sealed class SkipReasons
{
    [OneTimeSetUp]
    public void Report()
    {
        if (!IlgpuBackend.IsCudaAvailable)
            TestContext.Progress.WriteLine(
                "Boft.Tests: no CUDA device is visible to ILGPU, so every test of the \"Cuda\" backend fixtures (category Cuda) is skipped " +
                "with the reason \"Cuda is not available here\"; the same tests run on the SIMD, Reference and ILGPU CPU-simulator backends. " +
                "Run them on a machine with an NVIDIA GPU (scripts/gpu-check.sh).");
    }
}
