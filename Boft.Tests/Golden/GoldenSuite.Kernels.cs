// GoldenSuite on ILGPU backends, second path: every Linear case through the raw BoftKernels ArrayView API (Cayley forward with
// dropout masks, shared blocks, Neumann series and COFT projection; the fused rotation; the frozen GEMM; scale/bias; merge;
// the dense R and the interpolation rotations as rotations of the identity; the whole backward chain to the raw parameters).
// Tolerance: float32 kernels against float64 goldens. Each tensor is compared with atol = 5e-6·max(1, max|expected|) and
// rtol 1e-5: a chain of ≤ 6 rotation factors, a GEMM over ≤ 96 terms and the Cayley solve each add a few ε = 6e-8 relative to
// the tensor's scale. Observed worst on the CPU simulators: 4.3e-7·scale (boft_d64_b4_m4_paper, y), so ~12× margin for GPUs.

using Boft.Reference;
using Boft.Tests.Infrastructure;
using ILGPU;

namespace Boft.Tests.Golden;

public sealed partial class GoldenSuite
{
    private const double KernelRelativeAtol = 5e-6, KernelRtol = 1e-5;

    private Boft.Kernels.Ilgpu.BoftKernels Kernels => Ilgpu!.Kernels;

    private void KernelsLinear(GoldenCase c)
    {
        if (c.IsBoft)
            KernelsBoft(c);
        else
            KernelsOft(c);
    }

    private void KClose(ArrayView<float> actual, GoldenCase c, string name) => KClose(DeviceDownload(actual), c.Data(name), c, name, c.Tensor(name).Shape);

    private void KClose(double[] actual, ReadOnlySpan<double> expected, GoldenCase c, string name, int[]? shape = null)
    {
        double atol = KernelRelativeAtol * Math.Max(1, Compare.MaxAbs(expected));
        Compare.AllClose(actual, expected, atol, KernelRtol, name, $"{c.Name} through BoftKernels on {Case.Name}", shape);
    }

    /// <summary>R (d×d) as the rotation of the identity's rows, i.e. row r of R = e_r·R.</summary>
    private double[] KernelDenseRotation(RotationShape shape, ArrayView<float> blocks)
    {
        int d = shape.FeatureCount;
        var identity = new double[d * d];
        for (int i = 0; i < d; i++)
            identity[i * d + i] = 1;
        ArrayView<float> rows = DeviceUpload(identity);
        Kernels.Rotate(shape, rows, blocks, transpose: false, rows);
        return DeviceDownload(rows);
    }

    private void KernelsBoft(GoldenCase c)
    {
        BoftShape shape = c.BoftConfig.Resolve();
        RotationShape rotation = shape.Rotation;
        CayleyShape cayley = shape.Cayley;
        int d = shape.FeatureCount, n = c.OutFeatureCount, rows = c.RowCount;
        ArrayView<float> x = DeviceUpload(c.Data("x"));
        ArrayView<float> w0 = DeviceUpload(c.Data("W0"));
        ArrayView<float> raw = DeviceUpload(c.Data("boft_R"));
        ArrayView<float> scale = DeviceUpload(c.Data("boft_s"));
        ArrayView<float> bias = c.HasBias ? DeviceUpload(c.Data("bias")) : default;
        ArrayView<float> mask = c.Has("dropout_mask") ? DeviceUpload(c.Data("dropout_mask")) : default;

        ArrayView<float> blocks = DeviceZeros(cayley.BlocksLength);
        Kernels.CayleyForward(cayley, raw, mask, blocks);
        KClose(blocks, c, "blocks");
        KClose(KernelDenseRotation(rotation, blocks), c.Data("R"), c, "R", [d, d]);

        ArrayView<float> u = DeviceZeros(rows * d);
        Kernels.Rotate(rotation, x, blocks, transpose: false, u);
        ArrayView<float> h = DeviceZeros(rows * n);
        Kernels.Linear(u, w0, d, n, h);
        ArrayView<float> y = DeviceZeros(rows * n);
        Kernels.ScaleBias(h, n, scale, bias, y);
        KClose(y, c, "y");

        ArrayView<float> merged = DeviceZeros(n * d);
        Kernels.Merge(rotation, w0, blocks, scale, merged);
        KClose(merged, c, "merged_weight");

        ArrayView<float> gradH = DeviceZeros(rows * n);
        ArrayView<float> gradScale = DeviceZeros(n);
        ArrayView<float> gradBias = c.HasBias ? DeviceZeros(n) : default;
        Kernels.ScaleBiasBackward(h, n, scale, DeviceUpload(c.Data("upstream_grad")), gradH, gradScale, gradBias);
        ArrayView<float> gradU = DeviceZeros(rows * d);
        Kernels.LinearBackwardInput(gradH, w0, d, n, gradU);
        ArrayView<float> gradX = DeviceZeros(rows * d);
        ArrayView<float> gradBlocks = DeviceZeros(rotation.BlocksLength);
        Kernels.RotateBackward(rotation, x, blocks, gradU, gradX, gradBlocks);
        ArrayView<float> gradRaw = DeviceZeros(cayley.ParametersLength);
        Kernels.CayleyBackward(cayley, raw, blocks, gradBlocks, mask, gradRaw);
        KClose(gradRaw, c, "grad_boft_R");
        KClose(gradScale, c, "grad_boft_s");
        KClose(gradX, c, "grad_x");
        if (c.HasBias)
            KClose(gradBias, c, "grad_bias");

        if (c.Has("interp_R"))
        {
            double[] interp = c.Data("interp_R");
            var identityMask = new double[shape.FactorCount * shape.BlockCount];
            for (int j = 0; j <= shape.FactorCount; j++)
            {
                IdentityMaskReference.Interpolation(rotation, j, identityMask);
                ArrayView<float> interpolated = DeviceZeros(cayley.BlocksLength);
                Kernels.CayleyForward(cayley, raw, DeviceUpload(identityMask), interpolated);
                KClose(KernelDenseRotation(rotation, interpolated), interp.AsSpan(j * d * d, d * d), c, $"interp_R[{j}]", [d, d]);
            }
        }
    }

    private void KernelsOft(GoldenCase c)
    {
        OftShape shape = c.OftConfig.Resolve();
        RotationShape rotation = shape.Rotation;
        CayleyShape cayley = shape.Cayley;
        int d = shape.FeatureCount, n = c.OutFeatureCount, rows = c.RowCount, bb = shape.BlockSize * shape.BlockSize;
        ArrayView<float> x = DeviceUpload(c.Data("x"));
        ArrayView<float> w0 = DeviceUpload(c.Data("W0"));
        ArrayView<float> weight = DeviceUpload(c.Data("weight"));
        ArrayView<float> bias = c.HasBias ? DeviceUpload(c.Data("bias")) : default;
        if (shape.Coft)
        {
            Kernels.CoftProject(cayley, (float)shape.CoftRadius, weight);
            KClose(weight, c, "weight_projected");
        }

        ArrayView<float> blocks = DeviceZeros(cayley.BlocksLength);
        Kernels.CayleyForward(cayley, weight, default, blocks);
        KClose(blocks.SubView(0, shape.ParameterBlockCount * bb), c, "blocks");
        KClose(KernelDenseRotation(rotation, blocks), c.Data("R"), c, "R", [d, d]);

        ArrayView<float> u = DeviceZeros(rows * d);
        Kernels.Rotate(rotation, x, blocks, transpose: false, u);
        ArrayView<float> y = DeviceZeros(rows * n);
        Kernels.Linear(u, w0, d, n, y);
        Kernels.ScaleBias(y, n, default, bias, y);
        KClose(y, c, "y");

        ArrayView<float> merged = DeviceZeros(n * d);
        Kernels.Merge(rotation, w0, blocks, default, merged);
        KClose(merged, c, "merged_weight");

        ArrayView<float> gradOutput = DeviceUpload(c.Data("upstream_grad"));
        ArrayView<float> gradBias = c.HasBias ? DeviceZeros(n) : default;
        if (c.HasBias)
            Kernels.ScaleBiasBackward(y, n, default, gradOutput, default, default, gradBias);
        ArrayView<float> gradU = DeviceZeros(rows * d);
        Kernels.LinearBackwardInput(gradOutput, w0, d, n, gradU);
        ArrayView<float> gradX = DeviceZeros(rows * d);
        ArrayView<float> gradBlocks = DeviceZeros(rotation.BlocksLength);
        Kernels.RotateBackward(rotation, x, blocks, gradU, gradX, gradBlocks);
        ArrayView<float> gradWeight = DeviceZeros(cayley.ParametersLength);
        Kernels.CayleyBackward(cayley, weight, blocks, gradBlocks, default, gradWeight);
        KClose(gradWeight, c, "grad_weight");
        KClose(gradX, c, "grad_x");
        if (c.HasBias)
            KClose(gradBias, c, "grad_bias");
    }
}
