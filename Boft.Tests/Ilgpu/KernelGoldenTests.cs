// Every golden case (PEFT-derived, float64) through the raw BoftKernels ArrayView API: Cayley forward (with dropout masks,
// shared blocks, Neumann series, COFT projection), the fused rotation, the frozen GEMM, scale/bias, merge, the dense R and the
// interpolation rotations (as rotations of the identity), and the whole backward chain down to the raw parameters.
// The goldens folder is GoldenDir when given (dotnet test -- 'TestRunParameters.Parameter(name="GoldenDir", value="/abs")').
// Tolerance: float32 kernels against float64 goldens. Each tensor is compared with atol = 5e-6·max(1, max|expected|) and
// rtol 1e-5: a chain of ≤ 6 rotation factors, a GEMM over ≤ 96 terms and the Cayley solve each add a few ε = 6e-8 relative to
// the tensor's scale. Observed worst on the CPU simulators: 4.3e-7·scale (boft_d64_b4_m4_paper, y), so ~12× margin for GPUs.

using Boft.Kernels.Ilgpu;
using Boft.Reference;
using Boft.Tests.Golden;
using Boft.Tests.Infrastructure;
using ILGPU;

namespace Boft.Tests.Ilgpu;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.Ilgpu))]
[Category("Golden")]
public sealed class KernelGoldenTests(BackendCase backendCase) : IlgpuKernelTestBase(backendCase)
{
    private const double RelativeAtol = 5e-6, Rtol = 1e-5;

    public static IEnumerable<TestCaseData> Cases() => GoldenCases.CaseData();

    [TestCaseSource(nameof(Cases))]
    public void KernelPath_MatchesGolden(string file)
    {
        GoldenCase c = GoldenCases.Load(file);
        if (c.IsBoft)
            CheckBoft(c);
        else
            CheckOft(c);
    }

    private void Close(ArrayView<float> actual, GoldenCase c, string name) => Close(Download(actual), c.Data(name), c, name, c.Tensor(name).Shape);

    private void Close(double[] actual, ReadOnlySpan<double> expected, GoldenCase c, string name, int[]? shape = null)
    {
        double atol = RelativeAtol * Math.Max(1, Compare.MaxAbs(expected));
        Compare.AllClose(actual, expected, atol, Rtol, name, $"{c.Name} through BoftKernels on {Case.Name}", shape);
    }

    /// <summary>R (d×d) as the rotation of the identity's rows, i.e. row r of R = e_r·R.</summary>
    private double[] DenseRotation(RotationShape shape, ArrayView<float> blocks)
    {
        int d = shape.FeatureCount;
        var identity = new float[d * d];
        for (int i = 0; i < d; i++)
            identity[i * d + i] = 1;
        ArrayView<float> rows = Upload(identity);
        Kernels.Rotate(shape, rows, blocks, transpose: false, rows);
        return Download(rows);
    }

    private void CheckBoft(GoldenCase c)
    {
        BoftShape shape = c.BoftConfig.Resolve();
        RotationShape rotation = shape.Rotation;
        CayleyShape cayley = shape.Cayley;
        int d = shape.FeatureCount, n = c.OutFeatureCount, rows = c.RowCount;
        ArrayView<float> x = Upload(c.Data("x"));
        ArrayView<float> w0 = Upload(c.Data("W0"));
        ArrayView<float> raw = Upload(c.Data("boft_R"));
        ArrayView<float> scale = Upload(c.Data("boft_s"));
        ArrayView<float> bias = c.HasBias ? Upload(c.Data("bias")) : default;
        ArrayView<float> mask = c.Has("dropout_mask") ? Upload(c.Data("dropout_mask")) : default;

        ArrayView<float> blocks = Zeros(cayley.BlocksLength);
        Kernels.CayleyForward(cayley, raw, mask, blocks);
        Close(blocks, c, "blocks");
        Close(DenseRotation(rotation, blocks), c.Data("R"), c, "R", [d, d]);

        ArrayView<float> u = Zeros(rows * d);
        Kernels.Rotate(rotation, x, blocks, transpose: false, u);
        ArrayView<float> h = Zeros(rows * n);
        Kernels.Linear(u, w0, d, n, h);
        ArrayView<float> y = Zeros(rows * n);
        Kernels.ScaleBias(h, n, scale, bias, y);
        Close(y, c, "y");

        ArrayView<float> merged = Zeros(n * d);
        Kernels.Merge(rotation, w0, blocks, scale, merged);
        Close(merged, c, "merged_weight");

        ArrayView<float> gradH = Zeros(rows * n);
        ArrayView<float> gradScale = Zeros(n);
        ArrayView<float> gradBias = c.HasBias ? Zeros(n) : default;
        Kernels.ScaleBiasBackward(h, n, scale, Upload(c.Data("upstream_grad")), gradH, gradScale, gradBias);
        ArrayView<float> gradU = Zeros(rows * d);
        Kernels.LinearBackwardInput(gradH, w0, d, n, gradU);
        ArrayView<float> gradX = Zeros(rows * d);
        ArrayView<float> gradBlocks = Zeros(rotation.BlocksLength);
        Kernels.RotateBackward(rotation, x, blocks, gradU, gradX, gradBlocks);
        ArrayView<float> gradRaw = Zeros(cayley.ParametersLength);
        Kernels.CayleyBackward(cayley, raw, blocks, gradBlocks, mask, gradRaw);
        Close(gradRaw, c, "grad_boft_R");
        Close(gradScale, c, "grad_boft_s");
        Close(gradX, c, "grad_x");
        if (c.HasBias)
            Close(gradBias, c, "grad_bias");

        if (c.Has("interp_R"))
        {
            double[] interp = c.Data("interp_R");
            var identityMask = new double[shape.FactorCount * shape.BlockCount];
            for (int j = 0; j <= shape.FactorCount; j++)
            {
                IdentityMaskReference.Interpolation(rotation, j, identityMask);
                ArrayView<float> interpolated = Zeros(cayley.BlocksLength);
                Kernels.CayleyForward(cayley, raw, Upload(identityMask), interpolated);
                Close(DenseRotation(rotation, interpolated), interp.AsSpan(j * d * d, d * d), c, $"interp_R[{j}]", [d, d]);
            }
        }
    }

    private void CheckOft(GoldenCase c)
    {
        OftShape shape = c.OftConfig.Resolve();
        RotationShape rotation = shape.Rotation;
        CayleyShape cayley = shape.Cayley;
        int d = shape.FeatureCount, n = c.OutFeatureCount, rows = c.RowCount, bb = shape.BlockSize * shape.BlockSize;
        ArrayView<float> x = Upload(c.Data("x"));
        ArrayView<float> w0 = Upload(c.Data("W0"));
        ArrayView<float> weight = Upload(c.Data("weight"));
        ArrayView<float> bias = c.HasBias ? Upload(c.Data("bias")) : default;
        if (shape.Coft)
        {
            Kernels.CoftProject(cayley, (float)shape.CoftRadius, weight);
            Close(weight, c, "weight_projected");
        }

        ArrayView<float> blocks = Zeros(cayley.BlocksLength);
        Kernels.CayleyForward(cayley, weight, default, blocks);
        Close(blocks.SubView(0, shape.ParameterBlockCount * bb), c, "blocks");
        Close(DenseRotation(rotation, blocks), c.Data("R"), c, "R", [d, d]);

        ArrayView<float> u = Zeros(rows * d);
        Kernels.Rotate(rotation, x, blocks, transpose: false, u);
        ArrayView<float> y = Zeros(rows * n);
        Kernels.Linear(u, w0, d, n, y);
        Kernels.ScaleBias(y, n, default, bias, y);
        Close(y, c, "y");

        ArrayView<float> merged = Zeros(n * d);
        Kernels.Merge(rotation, w0, blocks, default, merged);
        Close(merged, c, "merged_weight");

        ArrayView<float> gradOutput = Upload(c.Data("upstream_grad"));
        ArrayView<float> gradBias = c.HasBias ? Zeros(n) : default;
        if (c.HasBias)
            Kernels.ScaleBiasBackward(y, n, default, gradOutput, default, default, gradBias);
        ArrayView<float> gradU = Zeros(rows * d);
        Kernels.LinearBackwardInput(gradOutput, w0, d, n, gradU);
        ArrayView<float> gradX = Zeros(rows * d);
        ArrayView<float> gradBlocks = Zeros(rotation.BlocksLength);
        Kernels.RotateBackward(rotation, x, blocks, gradU, gradX, gradBlocks);
        ArrayView<float> gradWeight = Zeros(cayley.ParametersLength);
        Kernels.CayleyBackward(cayley, weight, blocks, gradBlocks, default, gradWeight);
        Close(gradWeight, c, "grad_weight");
        Close(gradX, c, "grad_x");
        if (c.HasBias)
            Close(gradBias, c, "grad_bias");
    }
}
