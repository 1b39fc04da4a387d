// Fused rotation kernels (forward, transposed, in place, backward with the two-stage gradBlocks reduction) and the merge,
// against the double-precision reference, on every ILGPU device; the global-workspace path and multi-chunk reductions are
// forced with small launch options so that tiny shapes exercise them too.
// Tolerances: each factor adds b float32 products of O(1) values; inputs ~U(−1, 1), orthogonal blocks, so |x·R| ≤ ~√d.
// Forward atol 2e-6·m·b (observed ≤ 3e-7·m·b), rtol 1e-5. gradBlocks sums rows·b products of O(1) values: atol 4e-6·rows·m·b.

using Boft.Kernels.Ilgpu;
using Boft.Reference;
using Boft.Tests.Infrastructure;
using ILGPU;

namespace Boft.Tests.Ilgpu;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.Ilgpu))]
public sealed class RotationKernelTests(BackendCase backendCase) : IlgpuKernelTestBase(backendCase)
{
    /// <summary>(d, m, b): OFT (m = 1) with b = 1, 3, 32, 48; BOFT powers of two, non-powers of two (b = 6, d = 24/96), a dense R (d = 64, b = 2, m = 6).</summary>
    public static IEnumerable<TestCaseData> Shapes()
    {
        int[][] shapes =
        [
            [8, 1, 1], [12, 1, 3], [64, 1, 32], [96, 1, 48], [8, 2, 2], [32, 2, 16], [24, 2, 12], [8, 3, 2], [16, 3, 4], [24, 2, 6], [48, 3, 6], [64, 6, 2], [64, 2, 32], [32, 2, 8],
        ];
        foreach (int[] s in shapes)
            yield return new TestCaseData(s[0], s[1], s[2]).SetArgDisplayNames($"d{s[0]}_m{s[1]}_b{s[2]}");
    }

    private static RotationShape Shape(int d, int m, int b) => new(d, m, d / b, b, new ButterflyPermutations(d, m, b));

    /// <summary>Orthogonal blocks from the reference Cayley map of random skew matrices.</summary>
    private static double[] OrthogonalBlocks(RotationShape shape, int seed)
    {
        double[] raw = Random(shape.BlocksLength, seed, 0.5);
        var skew = new double[raw.Length];
        SkewReference.HalfDifference(raw, shape.BlockSize, skew);
        var blocks = new double[raw.Length];
        CayleyReference.Forward(skew, shape.BlockSize, blocks);
        return Array.ConvertAll(blocks, v => (double)(float)v);
    }

    [TestCaseSource(nameof(Shapes))]
    public void Rotate_MatchesReference(int d, int m, int b)
    {
        RotationShape shape = Shape(d, m, b);
        const int rows = 5;
        double[] x = Random(rows * d, 100 + d + m);
        double[] blocks = OrthogonalBlocks(shape, 200 + d + m);
        ArrayView<float> blocksView = Upload(blocks);
        foreach (bool transpose in new[] { false, true })
        {
            ArrayView<float> output = Zeros(rows * d);
            Kernels.Rotate(shape, Upload(x), blocksView, transpose, output);
            var expected = new double[x.Length];
            RotationReference.Forward(shape, x, blocks, transpose, expected);
            Compare.AllClose(Download(output), expected, 2e-6 * m * b, 1e-5, transpose ? "x·Rᵀ" : "x·R", $"{shape} rows={rows} on {Case.Name}", [rows, d]);
        }
    }

    [TestCase(64, 6, 2, 0, 1)]
    [TestCase(24, 2, 6, 0, 2)]
    [TestCase(64, 1, 32, 512, 3)]
    public void Rotate_InPlaceAndGlobalPath_MatchesReference(int d, int m, int b, int sharedBytes, int maxRows)
    {
        RotationShape shape = Shape(d, m, b);
        const int rows = 7;
        BoftKernels kernels = KernelsWith(new BoftKernelOptions { SharedMemoryBytes = sharedBytes, MaxRowsPerTile = maxRows, GroupSize = 16 });
        double[] x = Random(rows * d, 300 + d);
        double[] blocks = OrthogonalBlocks(shape, 301 + d);
        ArrayView<float> data = Upload(x);
        kernels.Rotate(shape, data, Upload(blocks), transpose: false, data);
        var expected = new double[x.Length];
        RotationReference.Forward(shape, x, blocks, transpose: false, expected);
        Compare.AllClose(Download(data), expected, 2e-6 * m * b, 1e-5, "x·R in place", $"{shape} sharedBytes={sharedBytes} on {Case.Name}", [rows, d]);
    }

    [TestCaseSource(nameof(Shapes))]
    public void RotateBackward_MatchesReference(int d, int m, int b) => CheckBackward(Kernels, Shape(d, m, b), rows: 6, seed: 400 + d + m, "default launch");

    [TestCase(64, 6, 2, 48 * 1024, 2, 3)]
    [TestCase(24, 2, 6, 0, 1, 4)]
    [TestCase(64, 1, 32, 0, 2, 2)]
    [TestCase(16, 3, 4, 1024, 3, 5)]
    public void RotateBackward_GlobalPathAndChunks_MatchesReference(int d, int m, int b, int sharedBytes, int maxRows, int chunks)
    {
        BoftKernels kernels = KernelsWith(new BoftKernelOptions { SharedMemoryBytes = sharedBytes, MaxRowsPerTile = maxRows, ReductionChunkCount = chunks, GroupSize = 16 });
        CheckBackward(kernels, Shape(d, m, b), rows: 9, seed: 500 + d, $"sharedBytes={sharedBytes} maxRows={maxRows} chunks={chunks}");
    }

    [Test]
    public void RotateBackward_IsBitIdenticalOnRerunAndGradInputMayAliasGradOutput()
    {
        RotationShape shape = Shape(32, 3, 4);
        const int rows = 10;
        BoftKernels kernels = KernelsWith(new BoftKernelOptions { MaxRowsPerTile = 2, ReductionChunkCount = 3 });
        ArrayView<float> x = Upload(Random(rows * 32, 601));
        ArrayView<float> blocks = Upload(OrthogonalBlocks(shape, 602));
        double[] g = Random(rows * 32, 603);
        float[][] results = new float[2][];
        float[][] inputs = new float[2][];
        for (int run = 0; run < 2; run++)
        {
            ArrayView<float> gradBlocks = Upload(Random(shape.BlocksLength, 604 + run)); // overwritten, whatever it held
            ArrayView<float> gradOutput = Upload(g);
            kernels.RotateBackward(shape, x, blocks, gradOutput, gradOutput, gradBlocks);
            results[run] = DownloadRaw(gradBlocks);
            inputs[run] = DownloadRaw(gradOutput);
        }
        Assert.That(results[1], Is.EqualTo(results[0]), "gradBlocks differ between two identical runs");
        Assert.That(inputs[1], Is.EqualTo(inputs[0]), "gradInput differs between two identical runs");
        var expectedInput = new double[g.Length];
        RotationReference.Forward(shape, g, Download(blocks), transpose: true, expectedInput);
        Compare.AllClose(Array.ConvertAll(inputs[0], v => (double)v), expectedInput, 2e-5, 1e-5, "gradInput (aliasing gradOutput)", $"{shape} on {Case.Name}");
    }

    [TestCase(16, 3, 4, true)]
    [TestCase(24, 2, 6, false)]
    [TestCase(64, 1, 32, true)]
    public void Merge_MatchesReference(int d, int m, int b, bool withScale)
    {
        RotationShape shape = Shape(d, m, b);
        const int outFeatures = 7;
        double[] weight = Random(outFeatures * d, 700 + d);
        double[] blocks = OrthogonalBlocks(shape, 701 + d);
        double[] scale = Random(outFeatures, 702, 2);
        ArrayView<float> output = Zeros(weight.Length);
        Kernels.Merge(shape, Upload(weight), Upload(blocks), withScale ? Upload(scale) : default, output);
        var expected = new double[weight.Length];
        RotationReference.Forward(shape, weight, blocks, transpose: true, expected);
        if (withScale)
            for (int o = 0; o < outFeatures; o++)
                for (int t = 0; t < d; t++)
                    expected[o * d + t] *= scale[o];
        Compare.AllClose(Download(output), expected, 4e-6 * m * b, 1e-5, "merged", $"{shape} scale={withScale} on {Case.Name}", [outFeatures, d]);

        ArrayView<float> inPlace = Upload(weight);
        Kernels.Merge(shape, inPlace, Upload(blocks), withScale ? Upload(scale) : default, inPlace);
        Compare.AllClose(Download(inPlace), expected, 4e-6 * m * b, 1e-5, "merged in place", $"{shape} on {Case.Name}", [outFeatures, d]);
    }

    private void CheckBackward(BoftKernels kernels, RotationShape shape, int rows, int seed, string launch)
    {
        int d = shape.FeatureCount, m = shape.FactorCount, b = shape.BlockSize;
        double[] x = Random(rows * d, seed);
        double[] blocks = OrthogonalBlocks(shape, seed + 1);
        double[] g = Random(rows * d, seed + 2);
        ArrayView<float> gradInput = Upload(Random(rows * d, seed + 3));
        ArrayView<float> gradBlocks = Upload(Random(shape.BlocksLength, seed + 4));
        kernels.RotateBackward(shape, Upload(x), Upload(blocks), Upload(g), gradInput, gradBlocks);
        var expectedInput = new double[x.Length];
        var expectedBlocks = new double[blocks.Length];
        RotationReference.Backward(shape, x, blocks, g, expectedInput, expectedBlocks);
        string context = $"{shape} rows={rows} {launch} on {Case.Name}";
        Compare.AllClose(Download(gradInput), expectedInput, 2e-6 * m * b, 1e-5, "gradInput", context, [rows, d]);
        Compare.AllClose(Download(gradBlocks), expectedBlocks, 4e-6 * rows * m * b, 1e-5, "gradBlocks", context, [m, shape.BlockCount, b, b]);
    }
}
