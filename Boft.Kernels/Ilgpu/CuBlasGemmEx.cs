// cublasGemmEx for the 16-bit GEMMs of Linear and LinearBackwardInput on CUDA: A, B and C in bfloat16 (CUDA_R_16BF) or float16
// (CUDA_R_16F), CUBLAS_COMPUTE_32F (float32 accumulation, one rounding of each output as cuBLAS stores it), host-side α = 1,
// β = 0; and for LinearBackwardWeight of 16-bit rows: 16-bit A and B, a float32 C (CUDA_R_32F, a combination cuBLAS lists for
// CUBLAS_COMPUTE_32F) accumulated with β = 1. ILGPU.Algorithms 1.5.3 wraps only the typed GEMMs (its Half GEMM computes in float16), so the export is looked up
// in the cuBLAS library ILGPU loads (libcublas.so.12, then .11; cublas64_12.dll, then _11) and called on ILGPU's handle, which
// is already bound to the launch stream. When the library, the export or the type is unavailable (cuBLAS < 11, or
// CUBLAS_STATUS_NOT_SUPPORTED / ARCH_MISMATCH, e.g. bf16 before sm_80), TryGemm returns false and the caller runs its own
// tiled kernel instead. Not yet run on a GPU (no device was lent to this work): scripts/gpu-check.sh exercises it through the
// Cuda fixtures of SixteenBitBackendTests and the low-precision goldens.

using System.Runtime.InteropServices;
using Boft.Backends;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Boft.Kernels.Ilgpu;

/// <summary>The 16-bit cuBLAS GEMM (column-major, as cuBLAS sees it): C = op(A)·op(B).</summary>
internal static class CuBlasGemmEx
{
    private const int CudaR32F = 0;
    private const int CudaR16F = 2;
    private const int CudaR16BF = 14;
    private const int CublasCompute32F = 68;
    private const int CublasGemmDefault = -1;
    private const int StatusSuccess = 0;
    private const int StatusArchMismatch = 8;
    private const int StatusNotSupported = 15;

    private static readonly object Gate = new();
    private static bool probed;
    private static IntPtr cachedExport;
    private static string? cachedReason;
    private static readonly HashSet<(IntPtr Export, ElementType Type, int OutputType)> Unsupported = [];

    /// <summary>Why cublasGemmEx cannot be used, or null when it can.</summary>
    public static string? UnavailableReason(CuBlas blas) => Export(blas, out string? reason) == IntPtr.Zero ? reason : null;

    /// <summary>
    /// C (m×n, column-major, ldc) = op(A)·op(B) with op = transpose when asked; all three 16-bit of <paramref name="type"/>.
    /// Returns false (nothing launched) when cuBLAS cannot do it, so the caller falls back to its kernel.
    /// </summary>
    public static bool TryGemm(CuBlas blas, ElementType type, bool transposeA, bool transposeB, int m, int n, int k,
        ArrayView<ushort> a, int lda, ArrayView<ushort> b, int ldb, ArrayView<ushort> c, int ldc) =>
        TryGemm(blas, type, transposeA, transposeB, m, n, k, a, lda, b, ldb, Address(c), type == ElementType.BFloat16 ? CudaR16BF : CudaR16F, ldc, beta: 0f);

    /// <summary>
    /// C (m×n, column-major, ldc, float32) += op(A)·op(B) with A and B 16-bit of <paramref name="type"/> (the weight gradient of
    /// 16-bit rows: β = 1, C never rounded to 16 bits). Returns false (nothing launched) when cuBLAS cannot do it.
    /// </summary>
    public static bool TryGemmAccumulate(CuBlas blas, ElementType type, bool transposeA, bool transposeB, int m, int n, int k,
        ArrayView<ushort> a, int lda, ArrayView<ushort> b, int ldb, ArrayView<float> c, int ldc) =>
        TryGemm(blas, type, transposeA, transposeB, m, n, k, a, lda, b, ldb, Address(c), CudaR32F, ldc, beta: 1f);

    private static unsafe bool TryGemm(CuBlas blas, ElementType type, bool transposeA, bool transposeB, int m, int n, int k,
        ArrayView<ushort> a, int lda, ArrayView<ushort> b, int ldb, IntPtr c, int cType, int ldc, float beta)
    {
        IntPtr export = Export(blas, out _);
        if (export == IntPtr.Zero)
            return false;
        lock (Gate)
        {
            if (Unsupported.Contains((export, type, cType)))
                return false;
        }
        int dataType = type == ElementType.BFloat16 ? CudaR16BF : CudaR16F;
        float alpha = 1f;
        blas.PointerMode = CuBlasPointerMode.Host;
        var gemmEx = (delegate* unmanaged<IntPtr, int, int, int, int, int, float*, IntPtr, int, int, IntPtr, int, int, float*, IntPtr, int, int, int, int, int>)export;
        int status = gemmEx(blas.Handle, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, &alpha,
            Address(a), dataType, lda, Address(b), dataType, ldb, &beta,
            c, cType, ldc, CublasCompute32F, CublasGemmDefault);
        if (status == StatusSuccess)
            return true;
        if (status is StatusNotSupported or StatusArchMismatch)
        {
            lock (Gate)
                Unsupported.Add((export, type, cType));
            return false;
        }
        throw new CuBlasException((CuBlasStatus)status);
    }

    private static IntPtr Export(CuBlas blas, out string? reason)
    {
        _ = blas;
        lock (Gate)
        {
            if (probed)
            {
                reason = cachedReason;
                return cachedExport;
            }
            probed = true;
            cachedReason = "no cuBLAS 11 or 12 library with cublasGemmEx was found";
            // The newest first, as ILGPU's CuBlasAPI.CreateLatest picks it: the process then holds that library already, and
            // the lookup returns the same one ILGPU's handle came from.
            foreach (string library in LibraryNames())
            {
                if (NativeLibrary.TryLoad(library, out IntPtr handle) && NativeLibrary.TryGetExport(handle, "cublasGemmEx", out IntPtr export))
                {
                    cachedExport = export;
                    cachedReason = null;
                    break;
                }
            }
            reason = cachedReason;
            return cachedExport;
        }
    }

    private static IEnumerable<string> LibraryNames()
    {
        foreach (int major in new[] { 12, 11 })
        {
            if (OperatingSystem.IsWindows())
                yield return $"cublas64_{major}.dll";
            else if (OperatingSystem.IsMacOS())
                yield return $"libcublas.{major}.dylib";
            else
                yield return $"libcublas.so.{major}";
        }
    }

    /// <summary>The device address of a view's first element (buffer base + index · 2 bytes).</summary>
    private static IntPtr Address(ArrayView<ushort> view) =>
        ((IArrayView)view).Buffer!.NativePtr + (nint)(((IContiguousArrayView)view).Index * sizeof(ushort));

    /// <summary>The device address of a float32 view's first element (buffer base + index · 4 bytes).</summary>
    private static IntPtr Address(ArrayView<float> view) =>
        ((IArrayView)view).Buffer!.NativePtr + (nint)(((IContiguousArrayView)view).Index * sizeof(float));
}
