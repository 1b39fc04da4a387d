// The README's "Inside your own ILGPU pipeline" example, compiled and run here exactly as printed (on ILGPU's CPU
// accelerator with assertions on): the code between the README-BEGIN/README-END markers must equal the README's code
// block line for line (second test), and its results must match the same layer on the SIMD backend (first test).
// Edit the example here, then paste it into README.md (the comparison test prints the expected block when they differ).

using System.Runtime.CompilerServices;
using Boft;
using Boft.Backends;
using Boft.Kernels.Ilgpu;
using Boft.Kernels.Simd;
using Boft.Layers;
using Boft.Tests.Infrastructure;
using Boft.Training;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Boft.Tests.Docs;

[TestFixture]
public sealed class ReadmePipelineExampleTests
{
    private const string Heading = "## Inside your own ILGPU pipeline";

    [Test]
    public void PipelineExample_RunsOnTheCallersBuffersAndStream_AndMatchesTheSimdBackend()
    {
        // README-BEGIN
        // Your pipeline: a context, an accelerator, a stream and device buffers that you own. (ILGPU's CPU accelerator here;
        // on a GPU: Context.Create(b => b.Cuda()) and context.CreateCudaAccelerator(0).)
        using Context context = Context.Create(builder => builder.CPU().EnableAlgorithms());
        using Accelerator accelerator = context.GetCPUDevice(0).CreateCPUAccelerator(context);
        using AcceleratorStream stream = accelerator.CreateStream();
        const int tokens = 16, inFeatures = 64, outFeatures = 32;
        using MemoryBuffer1D<float, Stride1D.Dense> activations = accelerator.Allocate1D<float>(tokens * inFeatures);
        using MemoryBuffer1D<float, Stride1D.Dense> outputs = accelerator.Allocate1D<float>(tokens * outFeatures);
        using MemoryBuffer1D<float, Stride1D.Dense> gradOutputs = accelerator.Allocate1D<float>(tokens * outFeatures);
        using MemoryBuffer1D<float, Stride1D.Dense> gradActivations = accelerator.Allocate1D<float>(tokens * inFeatures);
        var random = new Random(0);
        float[] RandomValues(int count) => Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        float[] w0 = RandomValues(outFeatures * inFeatures), hostX = RandomValues(tokens * inFeatures), hostGradY = RandomValues(tokens * outFeatures);
        activations.View.CopyFromCPU(stream, hostX);                        // stands for your own kernels writing x ...
        gradOutputs.View.CopyFromCPU(stream, hostGradY);                    // ... and ∂L/∂y

        using var backend = new IlgpuBackend(stream);                       // every Boft op is enqueued on your stream
        using var layer = new BoftLinear(backend, new BoftConfig(FeatureCount: inFeatures, BlockSize: 8, FactorCount: 2), outFeatures, w0);
        using Tensor x = backend.Wrap(activations.View, tokens, inFeatures); // no copy; you keep ownership
        using Tensor y = backend.Wrap(outputs.View, tokens, outFeatures);
        using Tensor gradY = backend.Wrap(gradOutputs.View, tokens, outFeatures);
        using Tensor gradX = backend.Wrap(gradActivations.View, tokens, inFeatures);
        layer.Forward(x, y);                                                // y = ((x R) W0ᵀ) ⊙ s, written into outputs
        layer.Backward(gradY, gradX);                                       // ∂L/∂x into gradActivations; ∂L/∂boft_R, ∂L/∂boft_s accumulate
        stream.Synchronize();                                               // the only wait: outputs and gradActivations are ready
        float[] result = outputs.View.GetAsArray1D(stream);
        // README-END

        // The same layer, inputs and gradients on the SIMD backend: float32 with different summation orders, so compare
        // with the layer tolerance of the backend tests (reduction length d = 64).
        using var simd = new SimdBackend();
        using var expectedLayer = new BoftLinear(simd, new BoftConfig(FeatureCount: inFeatures, BlockSize: 8, FactorCount: 2), outFeatures, w0);
        using Tensor xs = simd.Upload(hostX, tokens, inFeatures);
        using Tensor ys = simd.Allocate(tokens, outFeatures);
        using Tensor gys = simd.Upload(hostGradY, tokens, outFeatures);
        using Tensor gxs = simd.Allocate(tokens, inFeatures);
        expectedLayer.Forward(xs, ys);
        expectedLayer.Backward(gys, gxs);
        Compare.AllClose(AsDouble(result), AsDouble(ys.ToArray()), 1e-5, 1e-5, "y", "README pipeline example vs SIMD");
        Compare.AllClose(AsDouble(gradActivations.View.GetAsArray1D(stream)), AsDouble(gxs.ToArray()), 1e-5, 1e-5, "gradX", "README pipeline example vs SIMD");
        Parameter[] actual = [.. layer.TrainableParameters], expected = [.. expectedLayer.TrainableParameters];
        Assert.That(actual, Has.Length.EqualTo(expected.Length).And.Length.GreaterThan(0));
        for (int p = 0; p < actual.Length; p++)
            Compare.AllClose(AsDouble(actual[p].Gradient!.ToArray()), AsDouble(expected[p].Gradient!.ToArray()), 1e-5, 1e-5, actual[p].Name, "README pipeline example vs SIMD");
        Assert.That(expected[0].Gradient!.ToArray().Max(Math.Abs), Is.GreaterThan(0f), "the example must produce a non-zero rotation gradient");

        // Non-owning: disposing the wrapper leaves the caller's buffer alive and unchanged.
        Assert.That(((IlgpuTensor)x).OwnsMemory, Is.False);
        x.Dispose();
        Assert.That(activations.IsDisposed, Is.False);
        Assert.That(activations.View.GetAsArray1D(stream), Is.EqualTo(hostX).AsCollection);
        Assert.That(backend.Stream, Is.SameAs(stream));
    }

    [Test]
    public void ReadmeBlock_IsTheCodeThatThisFixtureRuns()
    {
        string[] source = File.ReadAllLines(SourcePath());
        int begin = Array.FindIndex(source, l => l.Trim() == "// README-BEGIN"), end = Array.FindIndex(source, l => l.Trim() == "// README-END");
        Assert.That(begin, Is.GreaterThan(0).And.LessThan(end), "README-BEGIN/END markers");
        string[] expected = source[(begin + 1)..end].Select(l => l.Length >= 8 ? l[8..] : l.TrimStart()).ToArray();

        string readmePath = Path.Combine(Path.GetDirectoryName(SourcePath())!, "..", "..", "README.md");
        string[] readme = File.ReadAllLines(readmePath);
        int heading = Array.IndexOf(readme, Heading);
        Assert.That(heading, Is.GreaterThanOrEqualTo(0), $"README.md needs the section '{Heading}'");
        int open = Array.FindIndex(readme, heading, l => l.StartsWith("```csharp", StringComparison.Ordinal));
        int close = Array.FindIndex(readme, open + 1, l => l.StartsWith("```", StringComparison.Ordinal));
        string[] block = readme[(open + 1)..close];
        string[] usings = block.TakeWhile(l => l.StartsWith("using ", StringComparison.Ordinal) || l.Length == 0).ToArray();
        foreach (string directive in usings.Where(l => l.Length > 0))
            Assert.That(source, Does.Contain(directive), $"the README's '{directive}' must be a using of this file too");
        string[] code = block[usings.Length..];
        Assert.That(code, Is.EqualTo(expected).AsCollection,
            $"README.md's pipeline example differs from the code this test runs; paste:\n{string.Join('\n', expected)}");
    }

    private static double[] AsDouble(float[] values) => Array.ConvertAll(values, v => (double)v);

    private static string SourcePath([CallerFilePath] string path = "") => path;
}
