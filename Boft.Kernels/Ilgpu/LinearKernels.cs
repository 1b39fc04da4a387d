// The frozen layer's GEMMs: output = input·Wᵀ, gradInput = gradOutput·W (OVERWRITTEN), gradWeight += gradOutputᵀ·input
// (ACCUMULATED). On CUDA they go to cuBLAS (ILGPU.Algorithms CuBlas; row-major C = A·Bᵀ is column-major Cᵀ = B·Aᵀ, see
// BoftKernels.Linear*); elsewhere to this tiled shared-memory kernel: one TS×TS output tile per group, one output per
// thread, K consumed in TS-wide slices staged in shared memory, accumulated in a fixed order (deterministic).
// Operands are addressed through strides so one kernel serves all three products.
// Docs: docs/03_Kernels/linear.md

using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using GemmAction = System.Action<ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Boft.Kernels.Ilgpu.GemmParams>;
using GemmLauncher = System.Action<ILGPU.Runtime.AcceleratorStream, ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<float>, Boft.Kernels.Ilgpu.GemmParams>;

namespace Boft.Kernels.Ilgpu;

/// <summary>C[i, j] = α Σ_k A(i, k)·B(k, j) + β C[i, j] with A(i, k) = a[i·StrideAi + k·StrideAk], B(k, j) = b[k·StrideBk + j·StrideBj].</summary>
internal struct GemmParams
{
    public int M;
    public int N;
    public int K;
    public int StrideAi;
    public int StrideAk;
    public int StrideBk;
    public int StrideBj;
    public int Ldc;
    public float Alpha;
    public float Beta;
    public int Tile;
}

/// <summary>Device code of the tiled GEMM.</summary>
internal static class LinearKernels
{
    /// <summary>Tiled GEMM; TTile is the tile edge TS (group size TS², shared memory 2·TS·(TS + 1) floats).</summary>
    internal static void GemmKernel<TTile>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p)
        where TTile : struct, IKernelSize
    {
        int ts = default(TTile).Of(p.Tile);
        int st = ts + 1;
        ArrayView<float> shared = SharedMemory.GetDynamic<float>();
        ArrayView<float> tileA = shared.SubView(0, ts * st);
        ArrayView<float> tileB = shared.SubView(ts * st, ts * st);
        int tid = Group.IdxX;
        int ty = tid / ts;
        int tx = tid - ty * ts;
        int tilesN = (p.N + ts - 1) / ts;
        int tiles = ((p.M + ts - 1) / ts) * tilesN;
        for (int tile = Grid.IdxX; tile < tiles; tile += Grid.DimX)
        {
            int tm = tile / tilesN;
            int tn = tile - tm * tilesN;
            int i = tm * ts + ty;
            int j = tn * ts + tx;
            float acc = 0f;
            for (int k0 = 0; k0 < p.K; k0 += ts)
            {
                int ka = k0 + tx;
                tileA[ty * st + tx] = i < p.M && ka < p.K ? a[i * p.StrideAi + ka * p.StrideAk] : 0f;
                int kb = k0 + ty;
                tileB[ty * st + tx] = kb < p.K && j < p.N ? b[kb * p.StrideBk + j * p.StrideBj] : 0f;
                Group.Barrier();
                for (int t = 0; t < ts; t++)
                    acc += tileA[ty * st + t] * tileB[t * st + tx];
                Group.Barrier();
            }
            if (i < p.M && j < p.N)
            {
                int index = i * p.Ldc + j;
                c[index] = p.Beta == 0f ? p.Alpha * acc : p.Alpha * acc + p.Beta * c[index];
            }
        }
    }
}

/// <summary>Launchers of the frozen-layer GEMMs.</summary>
public sealed partial class BoftKernels
{
    private SizedKernel<GemmAction, GemmLauncher> gemm;
    private CuBlas? cuBlas;

    [MemberNotNull(nameof(gemm))]
    private void InitializeLinear()
    {
        gemm = new SizedKernel<GemmAction, GemmLauncher>(this, typeof(LinearKernels), nameof(LinearKernels.GemmKernel), a => Accelerator.LoadKernel(a));
    }

    /// <summary><c>output = input · weightᵀ</c> (a linear layer without bias).</summary>
    /// <param name="input">Shape: [rowCount, inFeatureCount].</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="output">Overwritten. Shape: [rowCount, outFeatureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="AcceleratorMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Linear(ArrayView<float> input, ArrayView<float> weight, int inFeatureCount, int outFeatureCount, ArrayView<float> output, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        (int d, int n) = CheckWeight(weight, nameof(weight), inFeatureCount, outFeatureCount);
        int rows = RequireRows(input, nameof(input), d, $"weight is [{n}, {d}]");
        RequireLength(output, nameof(output), (long)rows * n, Matrix(rows, n, $"rows of input {Rows(input.Length, d)} times outFeatureCount"));
        if (rows == 0)
            return;
        if (cuBlas is not null)
        {
            // Column-major view: outputᵀ (n×rows) = W (op T of W's d×n column-major storage) · inputᵀ (d×rows).
            Blas(s).Gemm(CuBlasOperation.Transpose, CuBlasOperation.NonTranspose, n, rows, d, 1f, weight, d, input, d, 0f, output, n);
            return;
        }
        LaunchGemm(s, input, weight, output, new GemmParams { M = rows, N = n, K = d, StrideAi = d, StrideAk = 1, StrideBk = 1, StrideBj = d, Ldc = n, Alpha = 1f, Beta = 0f });
    }

    /// <summary><c>gradInput = gradOutput · weight</c> (overwritten): the input gradient of <see cref="Linear"/>.</summary>
    /// <param name="gradOutput">Shape: [rowCount, outFeatureCount].</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="gradInput">Overwritten. Shape: [rowCount, inFeatureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="AcceleratorMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void LinearBackwardInput(ArrayView<float> gradOutput, ArrayView<float> weight, int inFeatureCount, int outFeatureCount, ArrayView<float> gradInput,
        AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        (int d, int n) = CheckWeight(weight, nameof(weight), inFeatureCount, outFeatureCount);
        int rows = RequireRows(gradOutput, nameof(gradOutput), n, $"weight is [{n}, {d}]");
        RequireLength(gradInput, nameof(gradInput), (long)rows * d, Matrix(rows, d, $"rows of gradOutput {Rows(gradOutput.Length, n)} times inFeatureCount"));
        if (rows == 0)
            return;
        if (cuBlas is not null)
        {
            // gradInputᵀ (d×rows) = Wᵀ (W's storage read as d×n column-major) · gradOutputᵀ (n×rows).
            Blas(s).Gemm(CuBlasOperation.NonTranspose, CuBlasOperation.NonTranspose, d, rows, n, 1f, weight, d, gradOutput, n, 0f, gradInput, d);
            return;
        }
        LaunchGemm(s, gradOutput, weight, gradInput, new GemmParams { M = rows, N = d, K = n, StrideAi = n, StrideAk = 1, StrideBk = d, StrideBj = 1, Ldc = d, Alpha = 1f, Beta = 0f });
    }

    /// <summary><c>gradWeight += gradOutputᵀ · input</c>: the weight gradient of <see cref="Linear"/>, accumulated, reduced in a fixed order.</summary>
    /// <param name="gradOutput">Shape: [rowCount, outFeatureCount].</param>
    /// <param name="input">Shape: [rowCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="gradWeight">Accumulated. Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="AcceleratorMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void LinearBackwardWeight(ArrayView<float> gradOutput, ArrayView<float> input, int inFeatureCount, int outFeatureCount, ArrayView<float> gradWeight,
        AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        (int d, int n) = CheckWeight(gradWeight, nameof(gradWeight), inFeatureCount, outFeatureCount);
        int rows = RequireRows(gradOutput, nameof(gradOutput), n, $"gradWeight is [{n}, {d}]");
        RequireLength(input, nameof(input), (long)rows * d, Matrix(rows, d, $"rows of gradOutput {Rows(gradOutput.Length, n)} times inFeatureCount"));
        if (rows == 0)
            return;
        if (cuBlas is not null)
        {
            // gradWeightᵀ (d×n) += inputᵀ (d×rows) · gradOutput (op T of gradOutput's n×rows column-major storage).
            Blas(s).Gemm(CuBlasOperation.NonTranspose, CuBlasOperation.Transpose, d, n, rows, 1f, input, d, gradOutput, n, 1f, gradWeight, d);
            return;
        }
        LaunchGemm(s, gradOutput, input, gradWeight, new GemmParams { M = n, N = d, K = rows, StrideAi = 1, StrideAk = n, StrideBk = d, StrideBj = 1, Ldc = d, Alpha = 1f, Beta = 1f });
    }

    private (int D, int N) CheckWeight(ArrayView<float> weight, string name, int inFeatureCount, int outFeatureCount)
    {
        RequirePositive(inFeatureCount, nameof(inFeatureCount));
        RequirePositive(outFeatureCount, nameof(outFeatureCount));
        RequireLength(weight, name, (long)inFeatureCount * outFeatureCount, Matrix(outFeatureCount, inFeatureCount, "[outFeatureCount, inFeatureCount]"));
        return (inFeatureCount, outFeatureCount);
    }

    private static string Matrix(long rows, long columns, string what) =>
        string.Create(CultureInfo.InvariantCulture, $"[{rows}, {columns}] ({what})");

    /// <summary>The tiled kernel: TS = 16 (256 threads) when the accelerator allows, else 8 or 4.</summary>
    private void LaunchGemm(AcceleratorStream stream, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p)
    {
        int tile = MaxGroupSize >= 256 ? 16 : MaxGroupSize >= 64 ? 8 : 4;
        p.Tile = tile;
        long tiles = LaunchMath.CeilDiv((long)p.M, tile) * LaunchMath.CeilDiv((long)p.N, tile);
        int grid = (int)Math.Clamp(tiles, 1, 1 << 24);
        var config = new KernelConfig(grid, tile * tile, SharedMemoryConfig.RequestDynamic<float>(2 * tile * (tile + 1)));
        gemm.For(tile)(stream, config, a, b, c, p);
    }

    /// <summary>The cuBLAS handle bound to <paramref name="stream"/>.</summary>
    private CuBlas Blas(AcceleratorStream stream)
    {
        CuBlas blas = cuBlas!;
        var cudaStream = (CudaStream)stream;
        if (!ReferenceEquals(blas.Stream, cudaStream))
            blas.Stream = cudaStream;
        return blas;
    }

    /// <summary>Creates the cuBLAS handle; when the library cannot be loaded, the tiled kernel is used and <see cref="GemmImplementation"/> says why.</summary>
    private void InitializeCuBlas(CudaAccelerator accelerator)
    {
        try
        {
            cuBlas = new CuBlas(accelerator);
            GemmImplementation = string.Create(CultureInfo.InvariantCulture, $"cuBLAS {cuBlas.Version} (FP32, default math mode)");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or CuBlasException or TypeInitializationException or BadImageFormatException)
        {
            cuBlas = null;
            GemmImplementation = $"ILGPU tiled shared-memory GEMM (cuBLAS unavailable: {e.GetType().Name}: {e.Message})";
        }
    }
}
