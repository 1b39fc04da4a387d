// The frozen layer's GEMMs: output = input·Wᵀ, gradInput = gradOutput·W (OVERWRITTEN), gradWeight += gradOutputᵀ·input
// (ACCUMULATED). On CUDA they go to cuBLAS (ILGPU.Algorithms CuBlas; row-major C = A·Bᵀ is column-major Cᵀ = B·Aᵀ, see
// BoftKernels.Linear*); on ILGPU's CPU accelerator to a barrier-free direct kernel; elsewhere to this tiled shared-memory kernel: one TS×TS output tile per group, one output per
// thread, K consumed in TS-wide slices staged in shared memory, accumulated in a fixed order (deterministic).
// Operands are addressed through strides so one kernel serves all three products.
// Operands are float32 or 16-bit (TStore/TCodec, ElementCodecs.cs; the 16-bit path is Linear and LinearBackwardInput with the
// frozen W0 in the activation type): widened as they are staged, accumulated in float32, rounded once at the store. The weight
// gradient of 16-bit rows (LinearBackwardWeight) has a float32 C (the *Float32Output kernels: A and B widened, C accumulated
// in float32 and never rounded). On CUDA the 16-bit products go to cublasGemmEx (16-bit A and B; C 16-bit, or float32 for the
// weight gradient; CUBLAS_COMPUTE_32F) when it loads (CuBlasGemmEx.cs).
// Docs: docs/03_Kernels/linear.md

using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

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
    /// <summary>Outputs per thread along each dimension (a 4×4 register tile).</summary>
    public const int Micro = 4;

    /// <summary>Depth KS of the K slice staged in shared memory per pair of barriers: 256/TS (16, 32 or 64), so every tile size uses
    /// ~8 KB of shared memory and small groups (CPU simulator) need few barriers.</summary>
    public static int SliceDepth(int threads) => 256 / threads;

    /// <summary>Shared floats of a TS-thread-wide tile: A (BM × (KS + 1)) and B (KS × (BN + 1)) with BM = BN = 4·TS.</summary>
    public static int SharedFloats(int threads) => Micro * threads * (SliceDepth(threads) + 1) + SliceDepth(threads) * (Micro * threads + 1);

    /// <summary>
    /// Register-blocked tiled GEMM: a group of TS×TS threads computes a (4·TS)×(4·TS) tile of C, each thread a 4×4 micro-tile
    /// (rows ty + i·TS, columns tx + j·TS: neighbouring threads touch neighbouring columns, so shared reads do not conflict);
    /// K is consumed in slices of KS = 256/TS staged in shared memory (A as BM×(KS + 1), B as KS×(BN + 1)). TTile is TS.
    /// </summary>
    internal static void GemmKernel<TTile, TStore, TCodec>(ArrayView<TStore> a, ArrayView<TStore> b, ArrayView<TStore> c, GemmParams p)
        where TTile : struct, IKernelSize
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore> =>
        Gemm<TTile, TStore, TCodec, TStore, TCodec>(a, b, c, p, SharedMemory.GetDynamic<float>());

    /// <summary>The tiled GEMM with 16-bit (or float32) A and B and a float32 C: LinearBackwardWeight's
    /// <c>gradWeight (float32) += gradOutputᵀ · input</c> over 16-bit rows, accumulated in float32 and added to C unrounded.</summary>
    internal static void GemmFloat32OutputKernel<TTile, TStore, TCodec>(ArrayView<TStore> a, ArrayView<TStore> b, ArrayView<float> c, GemmParams p)
        where TTile : struct, IKernelSize
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore> =>
        Gemm<TTile, TStore, TCodec, float, Float32Codec>(a, b, c, p, SharedMemory.GetDynamic<float>());

    /// <summary>The tiled GEMM body: A and B of TStore, C of TOut (see <see cref="GemmKernel{TTile, TStore, TCodec}"/>).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void Gemm<TTile, TStore, TCodec, TOut, TOutCodec>(ArrayView<TStore> a, ArrayView<TStore> b, ArrayView<TOut> c, GemmParams p, ArrayView<float> shared)
        where TTile : struct, IKernelSize
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
        where TOut : unmanaged
        where TOutCodec : struct, IElementCodec<TOut>
    {
        int ts = default(TTile).Of(p.Tile);
        int tileEdge = Micro * ts;
        int depth = 256 / ts;
        int strideA = depth + 1, strideB = tileEdge + 1;
        ArrayView<float> tileA = shared.SubView(0, tileEdge * strideA);
        ArrayView<float> tileB = shared.SubView(tileEdge * strideA, depth * strideB);
        int tid = Group.IdxX;
        int groupSize = ts * ts;
        int ty = tid / ts;
        int tx = tid - ty * ts;
        Debug.Assert(Group.DimX == groupSize, "GEMM: the group is TS×TS threads");
        Debug.Assert(shared.Length >= tileEdge * strideA + depth * strideB, "GEMM: both tiles fit the dynamic shared memory");
        int tilesN = (p.N + tileEdge - 1) / tileEdge;
        int tiles = ((p.M + tileEdge - 1) / tileEdge) * tilesN;
        for (int tile = Grid.IdxX; tile < tiles; tile += Grid.DimX)
        {
            int tm = tile / tilesN;
            int row0 = tm * tileEdge;
            int column0 = (tile - tm * tilesN) * tileEdge;
            Debug.Assert(row0 < p.M && column0 < p.N, "GEMM: every tile starts inside C");
            float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f;
            float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f;
            for (int k0 = 0; k0 < p.K; k0 += depth)
            {
                for (int e = tid; e < tileEdge * depth; e += groupSize)
                {
                    int r = e / depth;
                    int kk = e - r * depth;
                    int i = row0 + r, k = k0 + kk;
                    tileA[r * strideA + kk] = i < p.M && k < p.K ? default(TCodec).Widen(a[i * p.StrideAi + k * p.StrideAk]) : 0f;
                }
                for (int e = tid; e < depth * tileEdge; e += groupSize)
                {
                    int kk = e / tileEdge;
                    int col = e - kk * tileEdge;
                    int k = k0 + kk, j = column0 + col;
                    tileB[kk * strideB + col] = k < p.K && j < p.N ? default(TCodec).Widen(b[k * p.StrideBk + j * p.StrideBj]) : 0f;
                }
                Group.Barrier();
                for (int kk = 0; kk < depth; kk++)
                {
                    float a0 = tileA[ty * strideA + kk], a1 = tileA[(ty + ts) * strideA + kk];
                    float a2 = tileA[(ty + 2 * ts) * strideA + kk], a3 = tileA[(ty + 3 * ts) * strideA + kk];
                    int bRow = kk * strideB + tx;
                    float b0 = tileB[bRow], b1 = tileB[bRow + ts], b2 = tileB[bRow + 2 * ts], b3 = tileB[bRow + 3 * ts];
                    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
                }
                Group.Barrier();
            }
            Store<TOut, TOutCodec>(c, p, row0 + ty, column0 + tx, ts, c00, c01, c02, c03);
            Store<TOut, TOutCodec>(c, p, row0 + ty + ts, column0 + tx, ts, c10, c11, c12, c13);
            Store<TOut, TOutCodec>(c, p, row0 + ty + 2 * ts, column0 + tx, ts, c20, c21, c22, c23);
            Store<TOut, TOutCodec>(c, p, row0 + ty + 3 * ts, column0 + tx, ts, c30, c31, c32, c33);
        }
    }

    /// <summary>One thread per output element (grid-stride), K summed in order from global memory: no shared memory, no barriers.</summary>
    internal static void GemmDirectKernel<TStore, TCodec>(ArrayView<TStore> a, ArrayView<TStore> b, ArrayView<TStore> c, GemmParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore> =>
        GemmDirect<TStore, TCodec, TStore, TCodec>(a, b, c, p);

    /// <summary>The direct GEMM with A and B of TStore and a float32 C (see <see cref="GemmFloat32OutputKernel{TTile, TStore, TCodec}"/>).</summary>
    internal static void GemmDirectFloat32OutputKernel<TStore, TCodec>(ArrayView<TStore> a, ArrayView<TStore> b, ArrayView<float> c, GemmParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore> =>
        GemmDirect<TStore, TCodec, float, Float32Codec>(a, b, c, p);

    /// <summary>The direct GEMM body: A and B of TStore, C of TOut.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void GemmDirect<TStore, TCodec, TOut, TOutCodec>(ArrayView<TStore> a, ArrayView<TStore> b, ArrayView<TOut> c, GemmParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
        where TOut : unmanaged
        where TOutCodec : struct, IElementCodec<TOut>
    {
        int total = p.M * p.N;
        int stride = Grid.DimX * Group.DimX;
        for (int index = Grid.IdxX * Group.DimX + Group.IdxX; index < total; index += stride)
        {
            int i = index / p.N;
            int j = index - i * p.N;
            float acc = 0f;
            for (int k = 0; k < p.K; k++)
                acc += default(TCodec).Widen(a[i * p.StrideAi + k * p.StrideAk]) * default(TCodec).Widen(b[k * p.StrideBk + j * p.StrideBj]);
            StoreOne<TOut, TOutCodec>(c, p, i, j, acc);
        }
    }

    /// <summary>Writes one micro-tile row (columns j, j + ts, j + 2ts, j + 3ts) with α and β, skipping out-of-range entries.</summary>
    private static void Store<TStore, TCodec>(ArrayView<TStore> c, in GemmParams p, int i, int j, int ts, float v0, float v1, float v2, float v3)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        if (i >= p.M)
            return;
        StoreOne<TStore, TCodec>(c, p, i, j, v0);
        StoreOne<TStore, TCodec>(c, p, i, j + ts, v1);
        StoreOne<TStore, TCodec>(c, p, i, j + 2 * ts, v2);
        StoreOne<TStore, TCodec>(c, p, i, j + 3 * ts, v3);
    }

    /// <summary>c = α·value + β·c, in float32, rounded once to the storage type.</summary>
    private static void StoreOne<TStore, TCodec>(ArrayView<TStore> c, in GemmParams p, int i, int j, float value)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        if (j >= p.N)
            return;
        int index = i * p.Ldc + j;
        Debug.Assert(i >= 0 && i < p.M && j >= 0 && j < p.Ldc, "GEMM: stores stay inside C");
        c[index] = default(TCodec).Narrow(p.Beta == 0f ? p.Alpha * value : p.Alpha * value + p.Beta * default(TCodec).Widen(c[index]));
    }
}

/// <summary>Launchers of the frozen-layer GEMMs.</summary>
public sealed partial class BoftKernels
{
    /// <summary>The GEMM kernels of one pair of storage types (A and B of TStore, C of TOut): the tiled kernel (generic over the
    /// tile size) and the direct one.</summary>
    private sealed class GemmSet<TStore, TOut>
        where TStore : unmanaged
        where TOut : unmanaged
    {
        public GemmSet(BoftKernels owner, string tiledName, Type codec, Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<TStore>, ArrayView<TOut>, GemmParams> direct)
        {
            Tiled = new(owner, typeof(LinearKernels), tiledName, a => owner.Accelerator.LoadKernel(a), typeof(TStore), codec);
            Direct = direct;
        }

        public SizedKernel<Action<ArrayView<TStore>, ArrayView<TStore>, ArrayView<TOut>, GemmParams>,
            Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<TStore>, ArrayView<TOut>, GemmParams>> Tiled { get; }

        public Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<TStore>, ArrayView<TOut>, GemmParams> Direct { get; }
    }

    private GemmSet<float, float> gemmFloat32;
    private GemmSet<ushort, ushort>? gemmBFloat16;
    private GemmSet<ushort, ushort>? gemmFloat16;
    private GemmSet<ushort, float>? gemmBFloat16ToFloat32;
    private GemmSet<ushort, float>? gemmFloat16ToFloat32;
    private BoftGemm gemmChoice;
    private CuBlas? cuBlas;

    [MemberNotNull(nameof(gemmFloat32))]
    private void InitializeLinear()
    {
        gemmFloat32 = new GemmSet<float, float>(this, nameof(LinearKernels.GemmKernel), typeof(Float32Codec),
            Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(LinearKernels.GemmDirectKernel<float, Float32Codec>));
    }

    /// <summary>The 16-bit GEMM kernels of <paramref name="type"/>, loaded on first use.</summary>
    private GemmSet<ushort, ushort> GemmSixteenBit(ElementType type) => RequireSixteenBit(type) == ElementType.BFloat16
        ? gemmBFloat16 ??= new GemmSet<ushort, ushort>(this, nameof(LinearKernels.GemmKernel), typeof(BFloat16Codec),
            Accelerator.LoadKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, GemmParams>(LinearKernels.GemmDirectKernel<ushort, BFloat16Codec>))
        : gemmFloat16 ??= new GemmSet<ushort, ushort>(this, nameof(LinearKernels.GemmKernel), typeof(Float16Codec),
            Accelerator.LoadKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, GemmParams>(LinearKernels.GemmDirectKernel<ushort, Float16Codec>));

    /// <summary>The GEMM kernels with 16-bit A and B of <paramref name="type"/> and a float32 C, loaded on first use.</summary>
    private GemmSet<ushort, float> GemmSixteenBitToFloat32(ElementType type) => RequireSixteenBit(type) == ElementType.BFloat16
        ? gemmBFloat16ToFloat32 ??= new GemmSet<ushort, float>(this, nameof(LinearKernels.GemmFloat32OutputKernel), typeof(BFloat16Codec),
            Accelerator.LoadKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmParams>(LinearKernels.GemmDirectFloat32OutputKernel<ushort, BFloat16Codec>))
        : gemmFloat16ToFloat32 ??= new GemmSet<ushort, float>(this, nameof(LinearKernels.GemmFloat32OutputKernel), typeof(Float16Codec),
            Accelerator.LoadKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmParams>(LinearKernels.GemmDirectFloat32OutputKernel<ushort, Float16Codec>));

    /// <summary><c>output = input · weightᵀ</c> (a linear layer without bias).</summary>
    /// <param name="input">Shape: [rowCount, inFeatureCount].</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="output">Overwritten. Shape: [rowCount, outFeatureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Linear(ArrayView<float> input, ArrayView<float> weight, int inFeatureCount, int outFeatureCount, ArrayView<float> output, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        (int d, int n) = CheckWeight(weight, nameof(weight), inFeatureCount, outFeatureCount);
        int rows = RequireRows(input, nameof(input), d, ShapeChecks.WeightReason(nameof(weight), n, d));
        RequireLength(output, nameof(output), (long)rows * n, Matrix(rows, n, $"rows of input {Rows(input.Length, d)} times outFeatureCount"));
        if (rows == 0)
            return;
        if (cuBlas is not null)
        {
            // Column-major view: outputᵀ (n×rows) = W (op T of W's d×n column-major storage) · inputᵀ (d×rows).
            Blas(s).Gemm(CuBlasOperation.Transpose, CuBlasOperation.NonTranspose, n, rows, d, 1f, weight, d, input, d, 0f, output, n);
            return;
        }
        LaunchGemm(gemmFloat32, s, input, weight, output, LinearParams(rows, d, n));
    }

    /// <summary>
    /// <c>output = input · weightᵀ</c> on 16-bit operands (input, the frozen weight and output all of <paramref name="elementType"/>):
    /// widened as loaded, accumulated in float32, rounded once per output (on CUDA: cublasGemmEx with CUBLAS_COMPUTE_32F when it loads).
    /// </summary>
    /// <param name="input">Shape: [rowCount, inFeatureCount].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="output">Overwritten. Shape: [rowCount, outFeatureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Linear(ArrayView<ushort> input, ElementType elementType, ArrayView<ushort> weight, int inFeatureCount, int outFeatureCount, ArrayView<ushort> output, AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        GemmSet<ushort, ushort> kernels = GemmSixteenBit(elementType);
        (int d, int n) = CheckWeight(weight, nameof(weight), inFeatureCount, outFeatureCount);
        int rows = RequireRows(input, nameof(input), d, ShapeChecks.WeightReason(nameof(weight), n, d));
        RequireLength(output, nameof(output), (long)rows * n, Matrix(rows, n, $"rows of input {Rows(input.Length, d)} times outFeatureCount"));
        if (rows == 0)
            return;
        if (cuBlas is not null && CuBlasGemmEx.TryGemm(Blas(s), elementType, transposeA: true, transposeB: false, n, rows, d, weight, d, input, d, output, n))
            return;
        LaunchGemm(kernels, s, input, weight, output, LinearParams(rows, d, n));
    }

    private static GemmParams LinearParams(int rows, int d, int n) =>
        new() { M = rows, N = n, K = d, StrideAi = d, StrideAk = 1, StrideBk = 1, StrideBj = d, Ldc = n, Alpha = 1f, Beta = 0f };

    private static GemmParams BackwardInputParams(int rows, int d, int n) =>
        new() { M = rows, N = d, K = n, StrideAi = n, StrideAk = 1, StrideBk = d, StrideBj = 1, Ldc = d, Alpha = 1f, Beta = 0f };

    /// <summary><c>gradInput = gradOutput · weight</c> (overwritten): the input gradient of <see cref="Linear(ArrayView{float}, ArrayView{float}, int, int, ArrayView{float}, AcceleratorStream?)"/>.</summary>
    /// <param name="gradOutput">Shape: [rowCount, outFeatureCount].</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="gradInput">Overwritten. Shape: [rowCount, inFeatureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void LinearBackwardInput(ArrayView<float> gradOutput, ArrayView<float> weight, int inFeatureCount, int outFeatureCount, ArrayView<float> gradInput,
        AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        (int d, int n) = CheckWeight(weight, nameof(weight), inFeatureCount, outFeatureCount);
        int rows = RequireRows(gradOutput, nameof(gradOutput), n, ShapeChecks.WeightReason(nameof(weight), n, d));
        RequireLength(gradInput, nameof(gradInput), (long)rows * d, Matrix(rows, d, $"rows of gradOutput {Rows(gradOutput.Length, n)} times inFeatureCount"));
        if (rows == 0)
            return;
        if (cuBlas is not null)
        {
            // gradInputᵀ (d×rows) = Wᵀ (W's storage read as d×n column-major) · gradOutputᵀ (n×rows).
            Blas(s).Gemm(CuBlasOperation.NonTranspose, CuBlasOperation.NonTranspose, d, rows, n, 1f, weight, d, gradOutput, n, 0f, gradInput, d);
            return;
        }
        LaunchGemm(gemmFloat32, s, gradOutput, weight, gradInput, BackwardInputParams(rows, d, n));
    }

    /// <summary><c>gradInput = gradOutput · weight</c> (overwritten) on 16-bit operands of <paramref name="elementType"/>, accumulated in float32.</summary>
    /// <param name="gradOutput">Shape: [rowCount, outFeatureCount].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="weight">Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="gradInput">Overwritten. Shape: [rowCount, inFeatureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void LinearBackwardInput(ArrayView<ushort> gradOutput, ElementType elementType, ArrayView<ushort> weight, int inFeatureCount, int outFeatureCount, ArrayView<ushort> gradInput,
        AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        GemmSet<ushort, ushort> kernels = GemmSixteenBit(elementType);
        (int d, int n) = CheckWeight(weight, nameof(weight), inFeatureCount, outFeatureCount);
        int rows = RequireRows(gradOutput, nameof(gradOutput), n, ShapeChecks.WeightReason(nameof(weight), n, d));
        RequireLength(gradInput, nameof(gradInput), (long)rows * d, Matrix(rows, d, $"rows of gradOutput {Rows(gradOutput.Length, n)} times inFeatureCount"));
        if (rows == 0)
            return;
        if (cuBlas is not null && CuBlasGemmEx.TryGemm(Blas(s), elementType, transposeA: false, transposeB: false, d, rows, n, weight, d, gradOutput, n, gradInput, d))
            return;
        LaunchGemm(kernels, s, gradOutput, weight, gradInput, BackwardInputParams(rows, d, n));
    }

    /// <summary><c>gradWeight += gradOutputᵀ · input</c>: the weight gradient of <see cref="Linear(ArrayView{float}, ArrayView{float}, int, int, ArrayView{float}, AcceleratorStream?)"/>, accumulated, reduced in a fixed order.</summary>
    /// <param name="gradOutput">Shape: [rowCount, outFeatureCount].</param>
    /// <param name="input">Shape: [rowCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="gradWeight">Accumulated. Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void LinearBackwardWeight(ArrayView<float> gradOutput, ArrayView<float> input, int inFeatureCount, int outFeatureCount, ArrayView<float> gradWeight,
        AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        (int d, int n) = CheckWeight(gradWeight, nameof(gradWeight), inFeatureCount, outFeatureCount);
        int rows = RequireRows(gradOutput, nameof(gradOutput), n, ShapeChecks.WeightReason(nameof(gradWeight), n, d));
        RequireLength(input, nameof(input), (long)rows * d, Matrix(rows, d, $"rows of gradOutput {Rows(gradOutput.Length, n)} times inFeatureCount"));
        if (rows == 0)
            return;
        if (cuBlas is not null)
        {
            // gradWeightᵀ (d×n) += inputᵀ (d×rows) · gradOutput (op T of gradOutput's n×rows column-major storage).
            Blas(s).Gemm(CuBlasOperation.NonTranspose, CuBlasOperation.Transpose, d, n, rows, 1f, input, d, gradOutput, n, 1f, gradWeight, d);
            return;
        }
        LaunchGemm(gemmFloat32, s, gradOutput, input, gradWeight, BackwardWeightParams(rows, d, n));
    }

    /// <summary>
    /// <c>gradWeight += gradOutputᵀ · input</c> with 16-bit rows of <paramref name="elementType"/> (gradOutput, input) and a float32
    /// gradient (a trainable weight is a float32 master): widened as loaded, summed in float32 over the rows in a fixed order and added
    /// to gradWeight unrounded (on CUDA: cublasGemmEx with 16-bit A and B, float32 C and CUBLAS_COMPUTE_32F when it loads).
    /// </summary>
    /// <param name="gradOutput">16-bit. Shape: [rowCount, outFeatureCount].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="input">16-bit. Shape: [rowCount, inFeatureCount].</param>
    /// <param name="inFeatureCount">d.</param>
    /// <param name="outFeatureCount">n.</param>
    /// <param name="gradWeight">Float32, accumulated. Shape: [outFeatureCount, inFeatureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void LinearBackwardWeight(ArrayView<ushort> gradOutput, ElementType elementType, ArrayView<ushort> input, int inFeatureCount, int outFeatureCount, ArrayView<float> gradWeight,
        AcceleratorStream? stream = null)
    {
        AcceleratorStream s = StreamOf(stream);
        GemmSet<ushort, float> kernels = GemmSixteenBitToFloat32(elementType);
        (int d, int n) = CheckWeight(gradWeight, nameof(gradWeight), inFeatureCount, outFeatureCount);
        int rows = RequireRows(gradOutput, nameof(gradOutput), n, ShapeChecks.WeightReason(nameof(gradWeight), n, d));
        RequireLength(input, nameof(input), (long)rows * d, Matrix(rows, d, $"rows of gradOutput {Rows(gradOutput.Length, n)} times inFeatureCount"));
        if (rows == 0)
            return;
        if (cuBlas is not null && CuBlasGemmEx.TryGemmAccumulate(Blas(s), elementType, transposeA: false, transposeB: true, d, n, rows, input, d, gradOutput, n, gradWeight, d))
            return;
        LaunchGemm(kernels, s, gradOutput, input, gradWeight, BackwardWeightParams(rows, d, n));
    }

    /// <summary>gradWeight (n×d) += gradOutputᵀ · input: A(i, k) = gradOutput[k, i], B(k, j) = input[k, j], β = 1.</summary>
    private static GemmParams BackwardWeightParams(int rows, int d, int n) =>
        new() { M = n, N = d, K = rows, StrideAi = 1, StrideAk = n, StrideBk = d, StrideBj = 1, Ldc = d, Alpha = 1f, Beta = 1f };

    private (int D, int N) CheckWeight<T>(ArrayView<T> weight, string name, int inFeatureCount, int outFeatureCount)
        where T : unmanaged
    {
        RequirePositive(inFeatureCount, nameof(inFeatureCount));
        RequirePositive(outFeatureCount, nameof(outFeatureCount));
        RequireLength(weight, name, (long)inFeatureCount * outFeatureCount, Matrix(outFeatureCount, inFeatureCount, "[outFeatureCount, inFeatureCount]"));
        return (inFeatureCount, outFeatureCount);
    }

    private static string Matrix(long rows, long columns, string what) =>
        string.Create(CultureInfo.InvariantCulture, $"[{rows}, {columns}] ({what})");

    /// <summary>The ILGPU GEMM: the direct kernel, or the tiled one with TS = 16 (256 threads, 64×64 tiles) when the accelerator allows, else 8 or 4.</summary>
    private void LaunchGemm<TStore, TOut>(GemmSet<TStore, TOut> kernels, AcceleratorStream stream, ArrayView<TStore> a, ArrayView<TStore> b, ArrayView<TOut> c, GemmParams p)
        where TStore : unmanaged
        where TOut : unmanaged
    {
        if (gemmChoice == BoftGemm.Direct)
        {
            kernels.Direct(stream, ElementwiseConfig((long)p.M * p.N), a, b, c, p);
            return;
        }
        int threads = MaxGroupSize >= 256 ? 16 : MaxGroupSize >= 64 ? 8 : 4;
        int edge = LinearKernels.Micro * threads;
        p.Tile = threads;
        long tiles = LaunchMath.CeilDiv((long)p.M, edge) * LaunchMath.CeilDiv((long)p.N, edge);
        int grid = (int)Math.Clamp(tiles, 1, 1 << 24);
        var config = new KernelConfig(grid, threads * threads, SharedMemoryConfig.RequestDynamic<float>(LinearKernels.SharedFloats(threads)));
        kernels.Tiled.For(threads)(stream, config, a, b, c, p);
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

    /// <summary>Chooses the GEMM implementation (see <see cref="BoftGemm"/>) and creates the cuBLAS handle when it is used.</summary>
    private void InitializeGemm(BoftGemm requested)
    {
        bool isCpu = Accelerator.AcceleratorType == AcceleratorType.CPU;
        gemmChoice = requested == BoftGemm.Auto ? (isCpu ? BoftGemm.Direct : BoftGemm.Tiled) : requested;
        GemmImplementation = gemmChoice == BoftGemm.Direct ? "ILGPU direct GEMM (one thread per output)" : "ILGPU tiled shared-memory GEMM";
        if (requested is not (BoftGemm.Auto or BoftGemm.CuBlas))
            return;
        if (Accelerator is not CudaAccelerator cuda)
        {
            if (requested == BoftGemm.CuBlas)
                throw new NotSupportedException($"cuBLAS needs a CUDA accelerator, but '{Accelerator.Name}' is {Accelerator.AcceleratorType}.");
            return;
        }
        try
        {
            cuBlas = new CuBlas(cuda);
            gemmChoice = BoftGemm.CuBlas;
            string sixteenBit = CuBlasGemmEx.UnavailableReason(cuBlas) is { } reason ? $"the tiled kernel ({reason})" : "cublasGemmEx, CUBLAS_COMPUTE_32F";
            GemmImplementation = string.Create(CultureInfo.InvariantCulture, $"cuBLAS {cuBlas.Version} (FP32, default math mode; 16-bit: {sixteenBit})");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or CuBlasException or TypeInitializationException or BadImageFormatException)
        {
            cuBlas = null;
            if (requested == BoftGemm.CuBlas)
                throw new NotSupportedException($"cuBLAS could not be loaded: {e.Message}", e);
            GemmImplementation = $"ILGPU tiled shared-memory GEMM (cuBLAS unavailable: {e.GetType().Name}: {e.Message})";
        }
    }
}
