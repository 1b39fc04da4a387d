// The one Cayley suite: CayleyForward / CayleyBackward / CoftProject on every registered backend against the double-precision
// reference (BackendOracle composes Boft.Core/Reference): exact and Neumann maps, BOFT raw and OFT packed parameters, masks,
// shared blocks, every block size (the specialized b = 1, 2, 4, 8, 16, 32 and others), large blocks and, on ILGPU, the
// global-workspace path. (It merges the former CayleyBackendTests and the ILGPU-only CayleyKernelTests: the ILGPU backend
// calls the same BoftKernels launchers, so one suite covers both.) Bad arguments: BadArgumentTests.
// Tolerances: BackendOracle.Tolerance with reduction length b² — the elimination (exact map) or the power chain (Neumann)
// sums O(b) products per entry over O(b) steps. On the ILGPU CPU simulator fewer block counts run (it is 20-250x slower).

using Boft.Backends;
using Boft.Kernels.Ilgpu;
using Boft.Tests.Infrastructure;
using static Boft.Tests.BackendOps.BackendOracle;

namespace Boft.Tests.BackendOps;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class CayleyTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    private IEnumerable<int> BlockSizes => IsSimulator ? [1, 2, 3, 4, 6, 8, 12, 16, 32] : Enumerable.Range(1, 32);

    private static CayleyShape Boft(int blockCount, int b) => new(blockCount, b, SkewKind.HalfDifference, null, shared: false);

    private static CayleyShape Oft(int blockCount, int b, double[]? coefficients = null, bool shared = false) =>
        new(blockCount, b, SkewKind.PackedUpper, coefficients, shared);

    /// <summary>Runs forward and backward (backward accumulating onto a non-zero gradParameters) and checks both.</summary>
    private void CheckForwardBackward(CayleyShape shape, int seed, double scale = 0.4, bool withMask = false, BoftBackend? on = null)
    {
        BoftBackend backend = on ?? Backend;
        var random = new Random(seed);
        double[] parameters = AsFloat(Random(random, shape.ParametersLength, scale));
        double[]? mask = withMask ? Enumerable.Range(0, shape.BlockCount).Select(j => j % 3 == 1 ? 1.0 : 0.0).ToArray() : null;
        double[] gradBlocks = AsFloat(Random(random, shape.BlocksLength));
        double[] initial = AsFloat(Random(random, shape.ParametersLength));
        string context = $"{backend.Name} {shape} mask={withMask} seed={seed}";

        Tensor Up(double[] values, params int[] dims) => backend.Upload(Array.ConvertAll(values, v => (float)v), dims);
        using Tensor p = Up(parameters, shape.ParameterBlockCount, shape.ParameterBlockLength);
        using Tensor? m = mask is null ? null : Up(mask, shape.BlockCount);
        using Tensor blocks = backend.Allocate(shape.BlockCount, shape.BlockSize, shape.BlockSize);
        backend.Fill(blocks, float.NaN); // the forward must overwrite every element
        backend.CayleyForward(shape, p, m, blocks);
        double[] expectedBlocks = CayleyForward(shape, parameters, mask);
        (double atol, double rtol) = Tolerance(expectedBlocks, shape.BlockSize * shape.BlockSize);
        Compare.AllClose(Download(blocks), expectedBlocks, atol, rtol, "blocks", context, [shape.BlockCount, shape.BlockSize, shape.BlockSize]);

        using Tensor g = Up(gradBlocks, shape.BlockCount, shape.BlockSize, shape.BlockSize);
        using Tensor gp = Up(initial, shape.ParameterBlockCount, shape.ParameterBlockLength);
        backend.CayleyBackward(shape, p, blocks, g, m, gp);
        double[] increment = CayleyBackward(shape, parameters, gradBlocks, mask);
        double[] expected = initial.Zip(increment, (a, b) => a + b).ToArray();
        (atol, rtol) = Tolerance(increment, shape.BlockSize * shape.BlockSize * (shape.Shared ? shape.BlockCount : 1));
        Compare.AllClose(Download(gp), expected, atol, rtol, "gradParameters (initial + increment)", context);
    }

    [Test]
    public void CayleyForwardBackward_Boft_MatchesReference_ForEveryBlockSize()
    {
        foreach (int b in BlockSizes)
            CheckForwardBackward(Boft(IsSimulator ? 3 : 19, b), seed: 100 + b);
    }

    [Test]
    public void CayleyForwardBackward_OftExact_MatchesReference_ForEveryBlockSize()
    {
        foreach (int b in BlockSizes)
            CheckForwardBackward(Oft(IsSimulator ? 2 : 17, b), seed: 200 + b);
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(5)]
    [TestCase(8)]
    public void CayleyForwardBackward_Neumann_MatchesReference(int terms)
    {
        foreach (NeumannVariant variant in new[] { NeumannVariant.Peft018, NeumannVariant.Peft016 })
            foreach (int b in IsSimulator ? (terms == 5 ? [4, 16, 32] : [4]) : new[] { 2, 4, 7, 16, 32 })
                CheckForwardBackward(Oft(IsSimulator ? 2 : 9, b, OftConfig.NeumannCoefficients(terms, variant)), seed: 300 + terms * 50 + b, scale: 0.15);
    }

    [Test]
    public void CayleyForwardBackward_BoftNeumann_MatchesReference()
    {
        // The contract allows the half-difference skew map with Neumann coefficients too.
        CheckForwardBackward(new CayleyShape(5, 4, SkewKind.HalfDifference, OftConfig.NeumannCoefficients(5, NeumannVariant.Peft018), shared: false), seed: 401, scale: 0.2);
    }

    [Test]
    public void CayleyForwardBackward_WithIdentityMask_MatchesReference()
    {
        CheckForwardBackward(Boft(7, 4), seed: 501, withMask: true);
        CheckForwardBackward(Boft(3, 8), seed: 504, withMask: true);
        CheckForwardBackward(Boft(2, 32), seed: 505, withMask: true);
        CheckForwardBackward(Oft(7, 6), seed: 502, withMask: true);
        CheckForwardBackward(Oft(7, 4, OftConfig.NeumannCoefficients(5, NeumannVariant.Peft018)), seed: 503, scale: 0.15, withMask: true);
    }

    [Test]
    public void CayleyForwardBackward_SharedBlock_SumsTheCopies()
    {
        CheckForwardBackward(Oft(6, 4, shared: true), seed: 601);
        CheckForwardBackward(Oft(5, 8, OftConfig.NeumannCoefficients(5, NeumannVariant.Peft018), shared: true), seed: 602, scale: 0.1);
        // Neumann + shared + mask is allowed (only the exact map with a shared block rejects a mask).
        CheckForwardBackward(Oft(6, 4, OftConfig.NeumannCoefficients(4, NeumannVariant.Peft018), shared: true), seed: 603, scale: 0.15, withMask: true);
    }

    /// <summary>Blocks beyond the specialized sizes (b = 40, 48, 64): multi-thread teams and, for Neumann b = 48, the global-
    /// workspace path. Category GpuRace: all of them on CUDA in the GPU check; one Neumann block of b = 48 on the simulator.</summary>
    [Test]
    [Category("GpuRace")]
    public void CayleyForwardBackward_LargeBlocks_MatchReference()
    {
        if (!IsSimulator)
        {
            CheckForwardBackward(Oft(3, 40), seed: 701, scale: 0.05);
            CheckForwardBackward(Boft(2, 64), seed: 702, scale: 0.05);
        }
        CheckForwardBackward(Oft(IsSimulator ? 1 : 2, 48, OftConfig.NeumannCoefficients(5, NeumannVariant.Peft018)), seed: 703, scale: 0.02);
    }

    [Test]
    public void CayleyForward_ZeroParameters_GivesIdentity()
    {
        CayleyShape shape = Boft(3, 5);
        using Tensor p = Backend.Allocate(shape.ParameterBlockCount, shape.ParameterBlockLength);
        using Tensor blocks = Backend.Allocate(shape.BlockCount, 5, 5);
        Backend.CayleyForward(shape, p, null, blocks);
        double[] expected = new double[shape.BlocksLength];
        for (int j = 0; j < 3; j++)
            for (int r = 0; r < 5; r++)
                expected[j * 25 + r * 6] = 1;
        Compare.AllClose(Download(blocks), expected, 0, 0, "blocks", $"{Case.Name} identity");
    }

    [Test]
    public void CayleyBackward_MaskedBlocks_ContributeNothing()
    {
        CayleyShape shape = Oft(4, 3);
        var random = new Random(801);
        using Tensor p = Upload(AsFloat(Random(random, shape.ParametersLength, 0.3)), shape.ParametersLength);
        using Tensor mask = Upload([1, 1, 1, 1], 4);
        using Tensor blocks = Backend.Allocate(shape.BlocksLength);
        Backend.CayleyForward(shape, p, mask, blocks);
        using Tensor g = Upload(Random(random, shape.BlocksLength), shape.BlocksLength);
        using Tensor gp = Backend.Allocate(shape.ParametersLength);
        Backend.CayleyBackward(shape, p, blocks, g, mask, gp);
        Compare.AllClose(Download(gp), new double[shape.ParametersLength], 0, 0, "gradParameters", $"{Case.Name} all blocks masked");
    }

    [Test]
    public void CayleyForwardBackward_IsDeterministic()
    {
        CayleyShape shape = Oft(IsSimulator ? 3 : 64, 8);
        var random = new Random(901);
        using Tensor p = Upload(Random(random, shape.ParametersLength, 0.3), shape.ParametersLength);
        using Tensor g = Upload(Random(random, shape.BlocksLength), shape.BlocksLength);
        float[] Run()
        {
            using Tensor blocks = Backend.Allocate(shape.BlocksLength);
            using Tensor gp = Backend.Allocate(shape.ParametersLength);
            Backend.CayleyForward(shape, p, null, blocks);
            Backend.CayleyBackward(shape, p, blocks, g, null, gp);
            return [.. blocks.ToArray(), .. gp.ToArray()];
        }
        float[] first = Run(), second = Run();
        Assert.That(second, Is.EqualTo(first).AsCollection, $"{Case.Name}: two runs must be bit-identical");
    }

    [TestCase(6, 5, 0.05)]
    [TestCase(4, 5, 0.05)]
    [TestCase(8, 3, 1e-4)]
    [TestCase(3, 4, 10.0)]
    public void CoftProject_MatchesReference(int blockSize, int blockCount, double radius)
    {
        CayleyShape shape = Oft(blockCount, blockSize);
        var random = new Random(1001 + blockSize);
        int length = shape.ParameterBlockLength;
        double[] w = AsFloat(Random(random, shape.ParametersLength, 0.5));
        w.AsSpan(0, length).Clear(); // block 0: norm 0, stays
        for (int t = length; t < 2 * length; t++)
            w[t] = (float)(w[t] * 1e-5); // block 1: inside the ball for every radius here, unchanged
        using Tensor p = Upload(w, blockCount, length);
        Backend.CoftProject(shape, radius, p);
        var expected = new double[w.Length];
        global::Boft.Reference.CoftReference.Project(w, blockSize, radius, expected);
        Compare.AllClose(Download(p), expected, 1e-8, 1e-6, "projected", $"{Case.Name} COFT b={blockSize} radius {radius}");
    }

    /// <summary>
    /// Blocks too large for shared memory: on ILGPU a second backend over the same accelerator with SharedMemoryBytes = 0 forces
    /// the global-workspace path even for small b, and b = 48 (beyond the specialized sizes) runs its Neumann backward (6
    /// matrices of 48×49 floats) from the global workspace within the default 48 KiB; other backends run the same shapes.
    /// </summary>
    [TestCase(4, 5, false, 0)]
    [TestCase(6, 3, true, 0)]
    [TestCase(48, 2, false, 48 * 1024)]
    [TestCase(48, 2, true, 48 * 1024)]
    public void Cayley_GlobalWorkspacePathAndLargeBlocks_MatchReference(int blockSize, int blockCount, bool neumann, int sharedBytes)
    {
        CayleyShape shape = Oft(blockCount, blockSize, neumann ? OftConfig.NeumannCoefficients(neumann && blockSize > 8 ? 4 : 5, NeumannVariant.Peft018) : null);
        double scale = neumann ? 0.03 : 0.2;
        if (Backend is not IlgpuBackend ilgpu)
        {
            CheckForwardBackward(shape, seed: 81 + blockSize, scale);
            return;
        }
        using var global = new IlgpuBackend(ilgpu.Accelerator, "IlgpuSharedBytes" + sharedBytes, new BoftKernelOptions { SharedMemoryBytes = sharedBytes });
        CheckForwardBackward(shape, seed: 81 + blockSize, scale, on: global);
        if (sharedBytes == 0 || (blockSize == 48 && neumann))
            Assert.That(global.Kernels.CayleyWorkspaceLength(shape), Is.GreaterThan(0), $"{shape} with {sharedBytes} shared bytes should run from the global workspace");
    }
    [Test]
    public void Forward_NonFiniteRawDiagonal_MakesItsBlockNaN()
    {
        // S = (A − Aᵀ)/2 has a_rr − a_rr on its diagonal: NaN when a_rr is NaN or infinite (PEFT's arithmetic too), and then
        // every entry of that block is NaN. A kernel that wrote the diagonal as a constant instead returned a finite block
        // (the SIMD lanes did, from 2026-12-08 until this test).
        CayleyShape shape = Boft(3, 8);
        var random = new Random(11);
        float[] parameters = Array.ConvertAll(AsFloat(Random(random, shape.ParametersLength, 0.3)), v => (float)v);
        parameters[0] = float.NaN; // block 0, a_00
        parameters[64 + 9] = float.PositiveInfinity; // block 1, a_11
        using Tensor p = Backend.Upload(parameters, shape.ParameterBlockCount, shape.ParameterBlockLength);
        using Tensor blocks = Backend.Allocate(shape.BlockCount, 8, 8);
        if (Backend is ReferenceBackend)
        {
            // The double-precision oracle refuses instead: its inversion reports the NaN pivot.
            Assert.That(() => Backend.CayleyForward(shape, p, null, blocks), Throws.InstanceOf<ArithmeticException>().With.Message.Contains("NaN"));
            return;
        }
        Backend.CayleyForward(shape, p, null, blocks);
        float[] c = blocks.ToArray();
        Assert.That(c.Take(64).Count(float.IsNaN), Is.EqualTo(64), "block 0 (NaN diagonal)");
        Assert.That(c.Skip(64).Take(64).Count(float.IsNaN), Is.EqualTo(64), "block 1 (infinite diagonal)");
        Assert.That(c.Skip(128).All(float.IsFinite), Is.True, "block 2 (finite parameters)");
    }
}
