// Cayley kernels (exact and Neumann, BOFT raw and OFT packed parameters, masks, shared blocks) and the COFT projection
// against the double-precision reference, on every ILGPU device.
// Tolerances: inputs are float32-exact, so differences come from float32 arithmetic only. The Gauss–Jordan solve has pivots
// ≥ 1 and |S| ≤ ~1 here, so its error grows like b·ε·|C| (ε = 6e-8): atol 4e-6·b + rtol 1e-5 leaves ~10× margin
// (observed ≤ 3e-7·b). Backward chains three b-term products: atol 1e-5·b·max|ref| scale. Neumann sums ≤ 8 powers.

using Boft.Reference;
using Boft.Tests.Infrastructure;
using ILGPU;

namespace Boft.Tests.Ilgpu;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.Ilgpu))]
public sealed class CayleyKernelTests(BackendCase backendCase) : IlgpuKernelTestBase(backendCase)
{
    private static readonly double[] Neumann5 = [1, 2, 2, 2, 1];

    [TestCase(1, 3)]
    [TestCase(2, 5)]
    [TestCase(3, 4)]
    [TestCase(4, 7)]
    [TestCase(6, 3)]
    [TestCase(8, 5)]
    [TestCase(12, 2)]
    [TestCase(16, 3)]
    [TestCase(32, 2)]
    public void CayleyForward_BoftExact_MatchesReference(int blockSize, int blockCount)
    {
        var shape = new CayleyShape(blockCount, blockSize, SkewKind.HalfDifference, null, shared: false);
        double[] raw = Random(shape.ParametersLength, 11 + blockSize, 0.4);
        ArrayView<float> blocks = Zeros(shape.BlocksLength);
        Kernels.CayleyForward(shape, Upload(raw), default, blocks);
        var skew = new double[raw.Length];
        SkewReference.HalfDifference(raw, blockSize, skew);
        var expected = new double[raw.Length];
        CayleyReference.Forward(skew, blockSize, expected);
        Compare.AllClose(Download(blocks), expected, 4e-6 * blockSize, 1e-5, "blocks", $"{shape} on {Case.Name}", [blockCount, blockSize, blockSize]);
    }

    [TestCase(2, 4, new double[] { 1 })]
    [TestCase(4, 3, new double[] { 1, 2 })]
    [TestCase(4, 5, new double[] { 1, 2, 2, 1 })]
    [TestCase(5, 3, new double[] { 1, 2, 2, 2, 1 })]
    [TestCase(8, 3, new double[] { 1, 2, 2, 2, 2, 2, 2 })]
    [TestCase(16, 2, new double[] { 1, 2, 2, 2, 1 })]
    [TestCase(32, 2, new double[] { 1, 2, 2, 2, 1 })]
    public void CayleyForward_OftNeumann_MatchesReference(int blockSize, int blockCount, double[] coefficients)
    {
        var shape = new CayleyShape(blockCount, blockSize, SkewKind.PackedUpper, coefficients, shared: false);
        double[] packed = Random(shape.ParametersLength, 21 + blockSize, 0.08);
        ArrayView<float> blocks = Zeros(shape.BlocksLength);
        Kernels.CayleyForward(shape, Upload(packed), default, blocks);
        var skew = new double[shape.BlocksLength];
        SkewReference.FromPacked(packed, blockSize, skew);
        var expected = new double[skew.Length];
        CayleyNeumannReference.Forward(skew, coefficients, blockSize, expected);
        Compare.AllClose(Download(blocks), expected, 2e-6 * blockSize, 1e-5, "blocks", $"{shape} on {Case.Name}", [blockCount, blockSize, blockSize]);
    }

    [TestCase(4, false)]
    [TestCase(6, true)]
    [TestCase(32, false)]
    public void CayleyForward_OftExactSharedAndMask_MatchesReference(int blockSize, bool shared)
    {
        int blockCount = 4;
        var shape = new CayleyShape(blockCount, blockSize, SkewKind.PackedUpper, null, shared);
        double[] packed = Random(shape.ParametersLength, 31 + blockSize, 0.3);
        double[] mask = [0, 1, 0, 1];
        ArrayView<float> blocks = Zeros(shape.BlocksLength);
        Kernels.CayleyForward(shape, Upload(packed), Upload(mask), blocks);
        int bb = blockSize * blockSize;
        var own = new double[shape.ParameterBlockCount * bb];
        var skew = new double[own.Length];
        SkewReference.FromPacked(packed, blockSize, skew);
        CayleyReference.Forward(skew, blockSize, own);
        var expected = new double[shape.BlocksLength];
        for (int j = 0; j < blockCount; j++)
            own.AsSpan(shape.ParameterBlockOf(j) * bb, bb).CopyTo(expected.AsSpan(j * bb, bb));
        IdentityMaskReference.Apply(mask, blockSize, expected);
        Compare.AllClose(Download(blocks), expected, 4e-6 * blockSize, 1e-5, "blocks", $"{shape} on {Case.Name}", [blockCount, blockSize, blockSize]);
    }

    [TestCase(2, 5, false)]
    [TestCase(3, 3, false)]
    [TestCase(8, 3, true)]
    [TestCase(16, 2, false)]
    [TestCase(32, 2, true)]
    public void CayleyBackward_BoftExact_AccumulatesReference(int blockSize, int blockCount, bool withMask)
    {
        var shape = new CayleyShape(blockCount, blockSize, SkewKind.HalfDifference, null, shared: false);
        double[] raw = Random(shape.ParametersLength, 41 + blockSize, 0.4);
        double[] gradBlocks = Random(shape.BlocksLength, 42 + blockSize);
        double[] initial = Random(shape.ParametersLength, 43 + blockSize);
        double[] mask = withMask ? [.. Enumerable.Range(0, blockCount).Select(j => j % 2 == 1 ? 1.0 : 0.0)] : [];
        ArrayView<float> parameters = Upload(raw);
        ArrayView<float> blocks = Zeros(shape.BlocksLength);
        ArrayView<float> maskView = withMask ? Upload(mask) : default;
        Kernels.CayleyForward(shape, parameters, maskView, blocks);
        ArrayView<float> gradParameters = Upload(initial);
        Kernels.CayleyBackward(shape, parameters, blocks, Upload(gradBlocks), maskView, gradParameters);

        var skew = new double[raw.Length];
        SkewReference.HalfDifference(raw, blockSize, skew);
        double[] g = (double[])gradBlocks.Clone();
        if (withMask)
            IdentityMaskReference.ApplyBackward(mask, blockSize, g);
        var gradSkew = new double[raw.Length];
        CayleyReference.Backward(skew, g, blockSize, gradSkew);
        var expected = new double[raw.Length];
        SkewReference.HalfDifferenceBackward(gradSkew, blockSize, expected);
        for (int i = 0; i < expected.Length; i++)
            expected[i] += initial[i];
        Compare.AllClose(Download(gradParameters), expected, 1e-5 * blockSize, 1e-5, "gradParameters", $"{shape} mask={withMask} on {Case.Name}", [blockCount, blockSize, blockSize]);
    }

    [TestCase(4, 4, false, null)]
    [TestCase(6, 3, true, null)]
    [TestCase(4, 4, false, new double[] { 1, 2, 2, 2, 1 })]
    [TestCase(8, 4, true, new double[] { 1, 2, 2, 2, 1 })]
    [TestCase(5, 2, false, new double[] { 1, 2 })]
    [TestCase(4, 2, false, new double[] { 1 })]
    [TestCase(32, 2, true, new double[] { 1, 2, 2, 1 })]
    public void CayleyBackward_Oft_AccumulatesReference(int blockSize, int blockCount, bool shared, double[]? coefficients)
    {
        var shape = new CayleyShape(blockCount, blockSize, SkewKind.PackedUpper, coefficients, shared);
        double[] packed = Random(shape.ParametersLength, 51 + blockSize, coefficients is null ? 0.3 : 0.08);
        double[] gradBlocks = Random(shape.BlocksLength, 52 + blockSize);
        double[] initial = Random(shape.ParametersLength, 53 + blockSize);
        ArrayView<float> parameters = Upload(packed);
        ArrayView<float> blocks = Zeros(shape.BlocksLength);
        Kernels.CayleyForward(shape, parameters, default, blocks);
        ArrayView<float> gradParameters = Upload(initial);
        Kernels.CayleyBackward(shape, parameters, blocks, Upload(gradBlocks), default, gradParameters);

        int bb = blockSize * blockSize;
        var gradOwn = new double[shape.ParameterBlockCount * bb];
        for (int j = 0; j < blockCount; j++)
            for (int t = 0; t < bb; t++)
                gradOwn[shape.ParameterBlockOf(j) * bb + t] += gradBlocks[j * bb + t];
        var skew = new double[gradOwn.Length];
        SkewReference.FromPacked(packed, blockSize, skew);
        var gradSkew = new double[gradOwn.Length];
        if (coefficients is null)
            CayleyReference.Backward(skew, gradOwn, blockSize, gradSkew);
        else
            CayleyNeumannReference.Backward(skew, coefficients, gradOwn, blockSize, gradSkew);
        var expected = new double[packed.Length];
        SkewReference.FromPackedBackward(gradSkew, blockSize, expected);
        for (int i = 0; i < expected.Length; i++)
            expected[i] += initial[i];
        Compare.AllClose(Download(gradParameters), expected, 1e-5 * blockSize * (shared ? blockCount : 1), 1e-5, "gradParameters", $"{shape} on {Case.Name}");
    }

    [Test]
    public void CayleyBackward_OftNeumannSharedWithMask_SkipsMaskedCopies()
    {
        var shape = new CayleyShape(4, 4, SkewKind.PackedUpper, Neumann5, shared: true);
        double[] packed = Random(shape.ParametersLength, 61, 0.08);
        double[] gradBlocks = Random(shape.BlocksLength, 62);
        double[] mask = [1, 0, 0, 1];
        ArrayView<float> parameters = Upload(packed);
        ArrayView<float> blocks = Zeros(shape.BlocksLength);
        ArrayView<float> maskView = Upload(mask);
        Kernels.CayleyForward(shape, parameters, maskView, blocks);
        ArrayView<float> gradParameters = Zeros(shape.ParametersLength);
        Kernels.CayleyBackward(shape, parameters, blocks, Upload(gradBlocks), maskView, gradParameters);

        var gradOwn = new double[16];
        for (int j = 0; j < 4; j++)
            if (mask[j] == 0)
                for (int t = 0; t < 16; t++)
                    gradOwn[t] += gradBlocks[j * 16 + t];
        var skew = new double[16];
        SkewReference.FromPacked(packed, 4, skew);
        var gradSkew = new double[16];
        CayleyNeumannReference.Backward(skew, Neumann5, gradOwn, 4, gradSkew);
        var expected = new double[packed.Length];
        SkewReference.FromPackedBackward(gradSkew, 4, expected);
        Compare.AllClose(Download(gradParameters), expected, 1e-5, 1e-5, "gradParameters", $"{shape} mask [1,0,0,1] on {Case.Name}");
    }

    [TestCase(4, 5, 0.05)]
    [TestCase(8, 3, 1e-4)]
    [TestCase(3, 4, 10.0)]
    public void CoftProject_MatchesReference(int blockSize, int blockCount, double radius)
    {
        var shape = new CayleyShape(blockCount, blockSize, SkewKind.PackedUpper, null, shared: false);
        double[] packed = Random(shape.ParametersLength, 71 + blockSize, 0.5);
        ArrayView<float> parameters = Upload(packed);
        Kernels.CoftProject(shape, (float)radius, parameters);
        var expected = new double[packed.Length];
        CoftReference.Project(packed, blockSize, (float)radius, expected);
        Compare.AllClose(Download(parameters), expected, 1e-7, 1e-6, "parameters", $"{shape} radius {radius} on {Case.Name}");
    }

    [TestCase(4, 5, null, 0)]
    [TestCase(6, 3, new double[] { 1, 2, 2, 2, 1 }, 0)]
    [TestCase(48, 2, null, 48 * 1024)]
    [TestCase(48, 2, new double[] { 1, 2, 2, 1 }, 48 * 1024)]
    public void Cayley_GlobalWorkspacePathAndLargeBlocks_MatchReference(int blockSize, int blockCount, double[]? coefficients, int sharedBytes)
    {
        // b = 48 exceeds the specialized sizes; its Neumann backward (6 matrices of 48×49) does not fit 48 KiB and runs from the
        // global workspace; sharedBytes = 0 forces that path for small b too.
        var shape = new CayleyShape(blockCount, blockSize, SkewKind.PackedUpper, coefficients, shared: false);
        var kernels = KernelsWith(new Boft.Kernels.Ilgpu.BoftKernelOptions { SharedMemoryBytes = sharedBytes });
        double[] packed = Random(shape.ParametersLength, 81 + blockSize, coefficients is null ? 0.2 : 0.03);
        double[] gradBlocks = Random(shape.BlocksLength, 82 + blockSize);
        ArrayView<float> parameters = Upload(packed);
        ArrayView<float> blocks = Zeros(shape.BlocksLength);
        kernels.CayleyForward(shape, parameters, default, blocks);
        ArrayView<float> gradParameters = Zeros(shape.ParametersLength);
        kernels.CayleyBackward(shape, parameters, blocks, Upload(gradBlocks), default, gradParameters);

        var skew = new double[shape.BlocksLength];
        SkewReference.FromPacked(packed, blockSize, skew);
        var expectedBlocks = new double[skew.Length];
        var gradSkew = new double[skew.Length];
        if (coefficients is null)
        {
            CayleyReference.Forward(skew, blockSize, expectedBlocks);
            CayleyReference.Backward(skew, gradBlocks, blockSize, gradSkew);
        }
        else
        {
            CayleyNeumannReference.Forward(skew, coefficients, blockSize, expectedBlocks);
            CayleyNeumannReference.Backward(skew, coefficients, gradBlocks, blockSize, gradSkew);
        }
        var expectedGrad = new double[packed.Length];
        SkewReference.FromPackedBackward(gradSkew, blockSize, expectedGrad);
        string context = $"{shape} sharedBytes={sharedBytes} workspace={kernels.CayleyWorkspaceLength(shape)} on {Case.Name}";
        Compare.AllClose(Download(blocks), expectedBlocks, 4e-6 * blockSize, 1e-5, "blocks", context, [blockCount, blockSize, blockSize]);
        Compare.AllClose(Download(gradParameters), expectedGrad, 1e-5 * blockSize, 1e-5, "gradParameters", context);
        if (blockSize == 48 && coefficients is not null)
            Assert.That(kernels.CayleyWorkspaceLength(shape), Is.GreaterThan(0), "the b = 48 Neumann backward should need the global workspace");
    }
}
