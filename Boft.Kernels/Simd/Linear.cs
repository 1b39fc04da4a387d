// The frozen linear map on the CPU: Linear (y = u·Wᵀ), LinearBackwardInput (g_u = g_y·W) and LinearBackwardWeight
// (g_W += g_yᵀ·u), all through one blocked, register-tiled GEMM. docs/02_Ops/simd-backend.md.
//
// Shapes: input [rows, d], weight [n, d], output [rows, n]. Gradient semantics: gradInput OVERWRITTEN (=), gradWeight
// ACCUMULATED (+=).
//
// GEMM C[M×N] (= or +=) A[M×K]·B[K×N] with arbitrary strides for A and B (so the three ops differ only in strides):
//  * K is cut into blocks of KC; for each block, B is packed once into panels of NR = 2 vectors (K-major, zero padded) and
//    shared by all tasks; tasks own disjoint MC×NC tiles of C, so each element of C is summed by one thread in K order
//    (deterministic, no atomics).
//  * Micro-kernel: 6 rows × 2 vectors (12 accumulators); A is read by broadcasts straight from its own layout, so it is
//    never packed.
//  * Very few rows (token-by-token inference) use dot products or row AXPYs instead (no packing of the whole weight).

using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Boft.Backends;

namespace Boft.Kernels.Simd;

/// <summary>Strided view of a matrix operand: element (i, k) is at <c>Array[Offset + i·RowStride + k·ColumnStride]</c>.
/// A 16-bit operand (only B, the frozen weight) has <see cref="Bits"/> instead (same indexing) and an empty
/// <see cref="Array"/>: the GEMM widens it as it packs or streams it, never as a whole.</summary>
internal readonly record struct MatrixView(float[] Array, int Offset, int RowStride, int ColumnStride)
{
    /// <summary>The 16-bit elements, or null for a float32 operand.</summary>
    public ushort[]? Bits { get; init; }

    /// <summary>The type of <see cref="Bits"/>.</summary>
    public ElementType BitsType { get; init; }

    /// <summary>A view of a tensor of either type.</summary>
    public static MatrixView Of(SimdTensor tensor, int rowStride, int columnStride) => tensor.ElementType.IsSixteenBit()
        ? new MatrixView([], tensor.BitsOffset, rowStride, columnStride) { Bits = tensor.BitsArray, BitsType = tensor.ElementType }
        : new MatrixView(tensor.Array, tensor.Offset, rowStride, columnStride);

    /// <summary>Widens <paramref name="count"/> contiguous 16-bit elements from <paramref name="start"/> (exact).</summary>
    public void Widen(int start, int count, Span<float> destination) =>
        ElementConversions.Widen(Bits.AsSpan(start, count), BitsType, destination);
}

/// <summary>The GEMM behind the three linear ops (see the file header).</summary>
internal static class Linear
{
    private const int MR = 6;
    private const int KC = 512;
    private const int MC = 96;
    private const int PanelsPerTask = 8;
    /// <summary>Up to this many rows, the dot-product (or row AXPY) paths: no packing of the whole weight per call, which for
    /// 5-8 tokens (token-by-token inference, d = 4096) tripled the weight traffic of a memory-bound GEMV.</summary>
    private const int FewRows = 8;

    /// <summary>Up to this many rows, the row-AXPY path (it streams B once per row, so it stays at 4).</summary>
    private const int FewAxpyRows = 4;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward<TS, TV>(SimdTensor input, SimdTensor weight, SimdTensor output, int rows, int d, int n, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct =>
        Gemm<TS, TV>(new MatrixView(input.Array, input.Offset, d, 1), MatrixView.Of(weight, 1, d),
            new MatrixView(output.Array, output.Offset, n, 1), rows, n, d, accumulate: false, maxDegreeOfParallelism);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BackwardInput<TS, TV>(SimdTensor gradOutput, SimdTensor weight, SimdTensor gradInput, int rows, int d, int n, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct =>
        Gemm<TS, TV>(new MatrixView(gradOutput.Array, gradOutput.Offset, n, 1), MatrixView.Of(weight, d, 1),
            new MatrixView(gradInput.Array, gradInput.Offset, d, 1), rows, d, n, accumulate: false, maxDegreeOfParallelism);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BackwardWeight<TS, TV>(SimdTensor gradOutput, SimdTensor input, SimdTensor gradWeight, int rows, int d, int n, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct =>
        Gemm<TS, TV>(new MatrixView(gradOutput.Array, gradOutput.Offset, 1, n), new MatrixView(input.Array, input.Offset, d, 1),
            new MatrixView(gradWeight.Array, gradWeight.Offset, d, 1), n, d, rows, accumulate: true, maxDegreeOfParallelism);

    /// <summary><c>C (=|+=) A·B</c>; C must be row-major (column stride 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemm<TS, TV>(MatrixView a, MatrixView b, MatrixView c, int m, int n, int k, bool accumulate, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        if (m == 0 || n == 0)
            return;
        if (k == 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++)
                    c.Array.AsSpan(c.Offset + i * c.RowStride, n).Clear();
            return;
        }
        if (m <= FewRows && a.ColumnStride == 1 && b.RowStride == 1)
        {
            DotRows<TS, TV>(a, b, c, m, n, k, accumulate, maxDegreeOfParallelism);
            return;
        }
        if (m <= FewAxpyRows && b.ColumnStride == 1)
        {
            AxpyRows<TS, TV>(a, b, c, m, n, k, accumulate, maxDegreeOfParallelism);
            return;
        }
        if (b.Bits is not null && b.RowStride != 1 && b.ColumnStride != 1)
            throw new NotSupportedException("A 16-bit B operand needs one contiguous dimension.");

        int nr = 2 * TS.Count;
        int panels = (n + nr - 1) / nr;
        // A with k strided (LinearBackwardWeight: A = g_yᵀ, each k step a whole row of g_y further) is packed once per K
        // block into MR-row panels, k-major, shared by all tasks: the micro-kernel's broadcasts then walk one contiguous
        // buffer instead of a new cache line and page per k step. A with k contiguous (the other two ops) is read in place.
        bool packA = a.ColumnStride != 1;
        int columnTasks = (panels + PanelsPerTask - 1) / PanelsPerTask;
        int rowTasks = (m + MC - 1) / MC;
        float[] packed = ArrayPool<float>.Shared.Rent(Math.Min(KC, k) * panels * nr);
        bool prefetchC = (long)m * n * sizeof(float) >= PrefetchCBytes;
        int rowPanels = (m + MR - 1) / MR;
        float[]? packedA = packA ? ArrayPool<float>.Shared.Rent(Math.Min(KC, k) * rowPanels * MR) : null;
        try
        {
            for (int k0 = 0; k0 < k; k0 += KC)
            {
                int kc = Math.Min(KC, k - k0);
                bool store = k0 == 0 && !accumulate;
                int kBlock = k0;
                SimdParallel.For(panels, (long)kc * panels * nr, maxDegreeOfParallelism, panel => PackPanel<TS, TV>(b, kBlock, kc, panel, n, packed));
                if (packedA is not null)
                    SimdParallel.For(rowPanels, (long)kc * rowPanels * MR, maxDegreeOfParallelism, panel => PackRowPanel(a, kBlock, kc, panel, m, packedA));
                SimdParallel.For(rowTasks * columnTasks, (long)m * n * kc, maxDegreeOfParallelism, task =>
                {
                    int rowTask = task / columnTasks, columnTask = task % columnTasks;
                    int i0 = rowTask * MC, i1 = Math.Min(m, i0 + MC);
                    int p0 = columnTask * PanelsPerTask, p1 = Math.Min(panels, p0 + PanelsPerTask);
                    for (int panel = p0; panel < p1; panel++)
                    {
                        int j0 = panel * nr, columns = Math.Min(nr, n - j0);
                        ref float panelData = ref packed[panel * kc * nr];
                        for (int i = i0; i < i1; i += MR)
                        {
                            if (prefetchC && i + MR <= i1 && columns == nr)
                                PrefetchTile(ref c.Array[c.Offset + i * c.RowStride + j0], c.RowStride, nr);
                            if (packedA is null)
                                Micro<TS, TV>(a, i, Math.Min(MR, i1 - i), kBlock, kc, ref panelData, c, j0, columns, store);
                            else
                                Micro<TS, TV>(new MatrixView(packedA, i * kc, 1, MR), 0, Math.Min(MR, i1 - i), 0, kc, ref panelData, c, j0, columns, store, i);
                        }
                    }
                });
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packed);
            if (packedA is not null)
                ArrayPool<float>.Shared.Return(packedA);
        }
    }

    /// <summary>Packs rows k0 … k0+kc−1 of B's columns [panel·NR, panel·NR + NR) as [kc][NR], zero padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackPanel<TS, TV>(MatrixView b, int k0, int kc, int panel, int n, float[] packed)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int nr = 2 * TS.Count;
        int j0 = panel * nr, columns = Math.Min(nr, n - j0);
        Span<float> destination = packed.AsSpan(panel * kc * nr, kc * nr);
        if (columns < nr)
            destination.Clear();
        if (b.Bits is not null)
        {
            PackSixteenBitPanel<TS, TV>(b, k0, kc, j0, columns, destination);
            return;
        }
        if (b.ColumnStride == 1)
        {
            for (int kk = 0; kk < kc; kk++)
                b.Array.AsSpan(b.Offset + (k0 + kk) * b.RowStride + j0, columns).CopyTo(destination.Slice(kk * nr, columns));
        }
        else if (b.RowStride == 1)
        {
            // B(k, j) = array[j·ColumnStride + k]: a transpose of the NR×kc source block.
            Transposer.Transpose<TS, TV>(ref b.Array[b.Offset + j0 * b.ColumnStride + k0], b.ColumnStride, ref destination[0], nr, columns, kc);
        }
        else
        {
            for (int kk = 0; kk < kc; kk++)
                for (int jj = 0; jj < columns; jj++)
                    destination[kk * nr + jj] = b.Array[b.Offset + (k0 + kk) * b.RowStride + (j0 + jj) * b.ColumnStride];
        }
    }

    /// <summary>
    /// <see cref="PackPanel{TS, TV}"/> of a 16-bit B: the source block is widened (exact) into a per-thread float block first
    /// (kc × NR with j contiguous, or NR × kc with k contiguous, 32 KiB at most), then copied or transposed into the panel as
    /// for float32. The weight is never widened as a whole: only the panel being packed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackSixteenBitPanel<TS, TV>(MatrixView b, int k0, int kc, int j0, int columns, Span<float> destination)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int nr = 2 * TS.Count;
        if (b.ColumnStride == 1)
        {
            // Rows of B hold the panel's NR columns contiguously: widen each straight into its packed row.
            for (int kk = 0; kk < kc; kk++)
                b.Widen(b.Offset + (k0 + kk) * b.RowStride + j0, columns, destination.Slice(kk * nr, columns));
            return;
        }
        // B(k, j) = bits[j·ColumnStride + k]: widen the NR source rows (kc contiguous each), then transpose.
        Span<float> block = Scratch.Get(nr * kc);
        for (int jj = 0; jj < columns; jj++)
            b.Widen(b.Offset + (j0 + jj) * b.ColumnStride + k0, kc, block.Slice(jj * kc, kc));
        Transposer.Transpose<TS, TV>(ref block[0], kc, ref destination[0], nr, columns, kc);
    }

    /// <summary>Packs rows [panel·MR, panel·MR + MR) of A[·, k0 … k0+kc) at panel·MR·kc, element (r, kk) at kk·MR + r
    /// (rows past m are left as they are: the micro-kernel never reads them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackRowPanel(MatrixView a, int k0, int kc, int panel, int m, float[] packed)
    {
        int rows = Math.Min(MR, m - panel * MR);
        ref float destination = ref packed[panel * MR * kc];
        ref float source = ref a.Array[a.Offset + panel * MR * a.RowStride + k0 * a.ColumnStride];
        nint rowStride = a.RowStride, columnStride = a.ColumnStride;
        for (int kk = 0; kk < kc; kk++)
        {
            ref float column = ref Unsafe.Add(ref source, kk * columnStride);
            ref float target = ref Unsafe.Add(ref destination, kk * MR);
            for (int r = 0; r < rows; r++)
                Unsafe.Add(ref target, r) = Unsafe.Add(ref column, r * rowStride);
        }
    }

    /// <summary>C of at least this many bytes has its tiles prefetched (<see cref="PrefetchTile"/>).</summary>
    private const long PrefetchCBytes = 4L << 20;

    /// <summary>
    /// Asks for the MR rows × <paramref name="columns"/> floats of a C tile before the micro-kernel runs, so its lines arrive
    /// while the FMAs run instead of stalling the write-back. Measured side by side on the Zen 5 VM (T = 512): 1.08–1.14× at
    /// d = n = 4096 (C 8 MiB) on 1 and 2 threads, 1.10× at 2048 (4 MiB), but 0.89–0.95× at 1024 (2 MiB) on 2 threads, hence
    /// <see cref="PrefetchCBytes"/>. Called by the GEMM's task loop, not inside Micro: there, inlined or not, it made the JIT
    /// store each of the 12 accumulators to its stack slot on every step of the K loop (DOTNET_JitDisasm).
    /// </summary>
    private static void PrefetchTile(ref float tile, nint rowStride, int columns)
    {
        for (int r = 0; r < MR; r++)
            for (int line = 0; line < columns; line += 16)
                StreamingStores.Prefetch(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref tile, r * rowStride + line)));
    }

    /// <summary>C[i0 … i0+rows, j0 … j0+columns] (=|+=) A[i0…, k0 … k0+kc]·panel; rows ≤ 6, columns ≤ 2 vectors. With
    /// <paramref name="cRow"/> ≥ 0, A is a packed panel (rows at i0 = 0) and C's first row is <paramref name="cRow"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro<TS, TV>(MatrixView a, int i0, int rows, int k0, int kc, ref float panel, MatrixView c, int j0, int columns, bool store, int cRow = -1)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        int v = TS.Count, nr = 2 * v;
        nint acs = a.ColumnStride;
        // Rows past the end re-read the last valid row; their results are discarded.
        ref float a0 = ref a.Array[a.Offset + i0 * a.RowStride + k0 * a.ColumnStride];
        ref float a1 = ref Unsafe.Add(ref a0, (nint)Math.Min(1, rows - 1) * a.RowStride);
        ref float a2 = ref Unsafe.Add(ref a0, (nint)Math.Min(2, rows - 1) * a.RowStride);
        ref float a3 = ref Unsafe.Add(ref a0, (nint)Math.Min(3, rows - 1) * a.RowStride);
        ref float a4 = ref Unsafe.Add(ref a0, (nint)Math.Min(4, rows - 1) * a.RowStride);
        ref float a5 = ref Unsafe.Add(ref a0, (nint)Math.Min(5, rows - 1) * a.RowStride);
        TV c00 = TS.Zero, c01 = TS.Zero, c10 = TS.Zero, c11 = TS.Zero, c20 = TS.Zero, c21 = TS.Zero;
        TV c30 = TS.Zero, c31 = TS.Zero, c40 = TS.Zero, c41 = TS.Zero, c50 = TS.Zero, c51 = TS.Zero;
        ref float bp = ref panel;
        nint offset = 0;
        for (int kk = 0; kk < kc; kk++)
        {
            TV b0 = TS.Load(ref bp), b1 = TS.Load(ref Unsafe.Add(ref bp, v));
            TV x = TS.Create(Unsafe.Add(ref a0, offset));
            c00 = TS.Fma(x, b0, c00); c01 = TS.Fma(x, b1, c01);
            x = TS.Create(Unsafe.Add(ref a1, offset));
            c10 = TS.Fma(x, b0, c10); c11 = TS.Fma(x, b1, c11);
            x = TS.Create(Unsafe.Add(ref a2, offset));
            c20 = TS.Fma(x, b0, c20); c21 = TS.Fma(x, b1, c21);
            x = TS.Create(Unsafe.Add(ref a3, offset));
            c30 = TS.Fma(x, b0, c30); c31 = TS.Fma(x, b1, c31);
            x = TS.Create(Unsafe.Add(ref a4, offset));
            c40 = TS.Fma(x, b0, c40); c41 = TS.Fma(x, b1, c41);
            x = TS.Create(Unsafe.Add(ref a5, offset));
            c50 = TS.Fma(x, b0, c50); c51 = TS.Fma(x, b1, c51);
            bp = ref Unsafe.Add(ref bp, nr);
            offset += acs;
        }
        int ci = cRow >= 0 ? cRow : i0;
        if (rows == MR && columns == nr)
        {
            ref float o = ref c.Array[c.Offset + ci * c.RowStride + j0];
            nint ldc = c.RowStride;
            WritePair<TS, TV>(ref o, c00, c01, store, v);
            WritePair<TS, TV>(ref Unsafe.Add(ref o, ldc), c10, c11, store, v);
            WritePair<TS, TV>(ref Unsafe.Add(ref o, 2 * ldc), c20, c21, store, v);
            WritePair<TS, TV>(ref Unsafe.Add(ref o, 3 * ldc), c30, c31, store, v);
            WritePair<TS, TV>(ref Unsafe.Add(ref o, 4 * ldc), c40, c41, store, v);
            WritePair<TS, TV>(ref Unsafe.Add(ref o, 5 * ldc), c50, c51, store, v);
            return;
        }
        Span<float> tile = stackalloc float[MR * 2 * 16];
        ref float t = ref tile[0];
        TS.Store(c00, ref t); TS.Store(c01, ref Unsafe.Add(ref t, v));
        TS.Store(c10, ref Unsafe.Add(ref t, nr)); TS.Store(c11, ref Unsafe.Add(ref t, nr + v));
        TS.Store(c20, ref Unsafe.Add(ref t, 2 * nr)); TS.Store(c21, ref Unsafe.Add(ref t, 2 * nr + v));
        TS.Store(c30, ref Unsafe.Add(ref t, 3 * nr)); TS.Store(c31, ref Unsafe.Add(ref t, 3 * nr + v));
        TS.Store(c40, ref Unsafe.Add(ref t, 4 * nr)); TS.Store(c41, ref Unsafe.Add(ref t, 4 * nr + v));
        TS.Store(c50, ref Unsafe.Add(ref t, 5 * nr)); TS.Store(c51, ref Unsafe.Add(ref t, 5 * nr + v));
        for (int r = 0; r < rows; r++)
        {
            Span<float> target = c.Array.AsSpan(c.Offset + (ci + r) * c.RowStride + j0, columns);
            ReadOnlySpan<float> source = tile.Slice(r * nr, columns);
            if (store)
                source.CopyTo(target);
            else
                for (int j = 0; j < columns; j++)
                    target[j] += source[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WritePair<TS, TV>(ref float destination, TV first, TV second, bool store, int v)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        ref float next = ref Unsafe.Add(ref destination, v);
        if (!store)
        {
            first = TS.Add(first, TS.Load(ref destination));
            second = TS.Add(second, TS.Load(ref next));
        }
        TS.Store(first, ref destination);
        TS.Store(second, ref next);
    }

    /// <summary>Few rows, B(k, j) contiguous in k: C[i, j] = dot(A[i, :], B[:, j]), parallel over column slices. Rows go
    /// four at a time so each vector of B's column, read once from memory, feeds four dot products (the GEMV of
    /// token-by-token inference is bound by streaming the weight). Each dot product keeps its own fixed order (two
    /// partial sums over alternate vectors, then the scalar tail), the same for every grouping of rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotRows<TS, TV>(MatrixView a, MatrixView b, MatrixView c, int m, int n, int k, bool accumulate, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        (int slice, int slices) = SimdParallel.Chunks(n, 16, 256, 1);
        SimdParallel.For(slices, (long)m * n * k, maxDegreeOfParallelism, s =>
        {
            int v = TS.Count;
            Span<float> wide = b.Bits is null ? default : Scratch.Get(k);
            for (int j = s * slice, end = Math.Min(n, j + slice); j < end; j++)
            {
                // A 16-bit B column (k contiguous) is widened into L1 first, then read like a float32 one.
                if (b.Bits is not null)
                    b.Widen(b.Offset + j * b.ColumnStride, k, wide);
                ref float column = ref b.Bits is null ? ref b.Array[b.Offset + j * b.ColumnStride] : ref MemoryMarshal.GetReference(wide);
                int i = 0;
                for (; i + 4 <= m; i += 4)
                {
                    ref float row0 = ref a.Array[a.Offset + i * a.RowStride];
                    ref float row1 = ref Unsafe.Add(ref row0, a.RowStride);
                    ref float row2 = ref Unsafe.Add(ref row0, 2 * (nint)a.RowStride);
                    ref float row3 = ref Unsafe.Add(ref row0, 3 * (nint)a.RowStride);
                    TV s00 = TS.Zero, s01 = TS.Zero, s10 = TS.Zero, s11 = TS.Zero, s20 = TS.Zero, s21 = TS.Zero, s30 = TS.Zero, s31 = TS.Zero;
                    int kk = 0;
                    for (; kk + 2 * v <= k; kk += 2 * v)
                    {
                        TV b0 = TS.Load(ref Unsafe.Add(ref column, kk)), b1 = TS.Load(ref Unsafe.Add(ref column, kk + v));
                        s00 = TS.Fma(TS.Load(ref Unsafe.Add(ref row0, kk)), b0, s00);
                        s01 = TS.Fma(TS.Load(ref Unsafe.Add(ref row0, kk + v)), b1, s01);
                        s10 = TS.Fma(TS.Load(ref Unsafe.Add(ref row1, kk)), b0, s10);
                        s11 = TS.Fma(TS.Load(ref Unsafe.Add(ref row1, kk + v)), b1, s11);
                        s20 = TS.Fma(TS.Load(ref Unsafe.Add(ref row2, kk)), b0, s20);
                        s21 = TS.Fma(TS.Load(ref Unsafe.Add(ref row2, kk + v)), b1, s21);
                        s30 = TS.Fma(TS.Load(ref Unsafe.Add(ref row3, kk)), b0, s30);
                        s31 = TS.Fma(TS.Load(ref Unsafe.Add(ref row3, kk + v)), b1, s31);
                    }
                    Finish(ref row0, ref column, kk, k, TS.Sum(TS.Add(s00, s01)), ref c.Array[c.Offset + i * c.RowStride + j], accumulate);
                    Finish(ref row1, ref column, kk, k, TS.Sum(TS.Add(s10, s11)), ref c.Array[c.Offset + (i + 1) * c.RowStride + j], accumulate);
                    Finish(ref row2, ref column, kk, k, TS.Sum(TS.Add(s20, s21)), ref c.Array[c.Offset + (i + 2) * c.RowStride + j], accumulate);
                    Finish(ref row3, ref column, kk, k, TS.Sum(TS.Add(s30, s31)), ref c.Array[c.Offset + (i + 3) * c.RowStride + j], accumulate);
                }
                for (; i < m; i++)
                {
                    ref float row = ref a.Array[a.Offset + i * a.RowStride];
                    TV s0 = TS.Zero, s1 = TS.Zero;
                    int kk = 0;
                    for (; kk + 2 * v <= k; kk += 2 * v)
                    {
                        s0 = TS.Fma(TS.Load(ref Unsafe.Add(ref row, kk)), TS.Load(ref Unsafe.Add(ref column, kk)), s0);
                        s1 = TS.Fma(TS.Load(ref Unsafe.Add(ref row, kk + v)), TS.Load(ref Unsafe.Add(ref column, kk + v)), s1);
                    }
                    Finish(ref row, ref column, kk, k, TS.Sum(TS.Add(s0, s1)), ref c.Array[c.Offset + i * c.RowStride + j], accumulate);
                }
            }
        });
    }

    /// <summary>Adds the scalar tail kk … k−1 to <paramref name="sum"/> and writes (or adds) it to <paramref name="output"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(ref float row, ref float column, int kk, int k, float sum, ref float output, bool accumulate)
    {
        for (; kk < k; kk++)
            sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref row, kk), Unsafe.Add(ref column, kk), sum);
        output = accumulate ? output + sum : sum;
    }

    /// <summary>Few rows, B rows contiguous: C[i, :] = Σ_k A[i, k]·B[k, :], parallel over column slices (k order fixed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyRows<TS, TV>(MatrixView a, MatrixView b, MatrixView c, int m, int n, int k, bool accumulate, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        (int slice, int slices) = SimdParallel.Chunks(n, 256, 64, TS.Count);
        SimdParallel.For(slices, (long)m * n * k, maxDegreeOfParallelism, s =>
        {
            int j0 = s * slice, columns = Math.Min(slice, n - j0);
            // A 16-bit B is widened one row slice at a time into the second half of the scratch.
            Span<float> buffers = Scratch.Get(2 * columns);
            for (int i = 0; i < m; i++)
            {
                Span<float> target = c.Array.AsSpan(c.Offset + i * c.RowStride + j0, columns);
                Span<float> sum = buffers[..columns];
                sum.Clear();
                for (int kk = 0; kk < k; kk++)
                {
                    float x = a.Array[a.Offset + i * a.RowStride + kk * a.ColumnStride];
                    ReadOnlySpan<float> row;
                    if (b.Bits is null)
                    {
                        row = b.Array.AsSpan(b.Offset + kk * b.RowStride + j0, columns);
                    }
                    else
                    {
                        b.Widen(b.Offset + kk * b.RowStride + j0, columns, buffers[columns..]);
                        row = buffers.Slice(columns, columns);
                    }
                    int v = TS.Count, j = 0;
                    TV xv = TS.Create(x);
                    ref float rs = ref MemoryMarshal.GetReference(row);
                    ref float ss = ref MemoryMarshal.GetReference(sum);
                    for (; j + v <= columns; j += v)
                        TS.Store(TS.Fma(xv, TS.Load(ref Unsafe.Add(ref rs, j)), TS.Load(ref Unsafe.Add(ref ss, j))), ref Unsafe.Add(ref ss, j));
                    for (; j < columns; j++)
                        Unsafe.Add(ref ss, j) = MathF.FusedMultiplyAdd(x, Unsafe.Add(ref rs, j), Unsafe.Add(ref ss, j));
                }
                if (accumulate)
                    Elementwise.AddInPlace<TS, TV>(ref MemoryMarshal.GetReference(sum), ref MemoryMarshal.GetReference(target), columns);
                else
                    sum.CopyTo(target);
            }
        });
    }
}
