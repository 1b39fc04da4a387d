// Fused butterfly rotation u = x·R (or x·Rᵀ) with all m factors in one kernel, and its handwritten backward.
//   R = F_{m−1} … F_0, F_i = P_i D_i P_iᵀ; a row meets F_{m−1} first (boft-spec §2.5). OFT is m = 1 (identity tables).
//   Permutations never become matrices: consecutive gathers are composed on the host into one scatter table per factor
//   boundary (BoftKernels.FillTables), so each stage reads a contiguous b-block of w, multiplies it by C (or Cᵀ) and writes every
//   output straight to its place in the next stage's w. One barrier per factor.
// Row tiles: R is block-diagonal with dense blocks of g = b·2^(m−1) features, so a group works on a tile of W features
// (W = a multiple of g, ≥ 32 when d allows) of R rows; both ping-pong buffers live in shared memory when 2·R·W floats fit
// (shared path), else in a per-group slice of a global workspace (global path, R = 1; only for W·8 bytes > the budget).
// Backward (activation gradients OVERWRITE): per tile the forward is recomputed into m buffers w_0..w_{m−1} (in shared memory,
// or in the group's workspace slice on the global path; nothing is saved between forward and backward but the blocks), then the gradient flows through the factors in reverse exactly like
// x·Rᵀ, and at factor i the group adds Σ_rows w_iᵀ·g_v (per b×b block) into its own slice of a partial-gradient buffer.
// gradBlocks = Σ over P row chunks of those partials, summed in chunk order by a second kernel: deterministic, no atomics.
// Activations (input, output, gradOutput, gradInput) are float32 or 16-bit (TStore/TCodec, ElementCodecs.cs): each element is
// widened as a tile row is loaded and rounded once as the result is stored; the tile buffers, blocks and gradBlocks are float32.
// Docs: docs/03_Kernels/rotation.md

using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>Scalars of the rotation kernels.</summary>
internal struct RotationParams
{
    /// <summary>d.</summary>
    public int FeatureCount;

    /// <summary>m.</summary>
    public int FactorCount;

    /// <summary>k.</summary>
    public int BlockCount;

    /// <summary>b (runtime value).</summary>
    public int BlockSize;

    /// <summary>W, the features of one tile (a multiple of b·2^(m−1) dividing d).</summary>
    public int TileWidth;

    /// <summary>d / W.</summary>
    public int TileColumns;

    /// <summary>Rows per tile.</summary>
    public int RowsPerTile;

    /// <summary>Number of rows T.</summary>
    public int RowCount;

    /// <summary>Forward: ⌈T / RowsPerTile⌉. Backward: the number of row chunks P.</summary>
    public int RowTiles;

    /// <summary>Backward: rows per chunk.</summary>
    public int ChunkRows;

    /// <summary>1: apply Rᵀ (factors in order 0..m−1, blocks transposed).</summary>
    public int Transpose;

    /// <summary>1: multiply output row r by rowScale[r] (merge).</summary>
    public int HasRowScale;

    /// <summary>Threads that share one row: min(W, group size).</summary>
    public int ThreadsPerRow;

    /// <summary>Rows processed side by side: group size / ThreadsPerRow (1 when W ≥ group size).</summary>
    public int RowsPerPass;
}

/// <summary>Device code of the rotation op.</summary>
internal static class RotationKernels
{
    /// <summary>Forward, both row buffers in dynamic shared memory.</summary>
    internal static void ForwardSharedKernel<TSize, TStore, TCodec>(ArrayView<TStore> input, ArrayView<float> blocks, ArrayView<int> tables,
        ArrayView<float> rowScale, ArrayView<TStore> output, RotationParams p)
        where TSize : struct, IKernelSize
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        ArrayView<float> shared = SharedMemory.GetDynamic<float>();
        int tileLength = p.RowsPerTile * p.TileWidth;
        ApplyTiles<TSize, TStore, TCodec>(input, blocks, tables, rowScale, output, shared.SubView(0, tileLength), shared.SubView(tileLength, tileLength), p);
    }

    /// <summary>Forward, row buffers in this group's slice of a global workspace (tiles too wide for shared memory).</summary>
    internal static void ForwardGlobalKernel<TSize, TStore, TCodec>(ArrayView<TStore> input, ArrayView<float> blocks, ArrayView<int> tables,
        ArrayView<float> rowScale, ArrayView<TStore> output, ArrayView<float> workspace, RotationParams p)
        where TSize : struct, IKernelSize
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        int tileLength = p.RowsPerTile * p.TileWidth;
        ArrayView<float> mine = workspace.SubView(Grid.IdxX * 2 * tileLength, 2 * tileLength);
        ApplyTiles<TSize, TStore, TCodec>(input, blocks, tables, rowScale, output, mine.SubView(0, tileLength), mine.SubView(tileLength, tileLength), p);
    }

    /// <summary>Backward, saved w_i and gradient buffers in dynamic shared memory: (m + 2)·R·W floats.</summary>
    internal static void BackwardSharedKernel<TSize, TStore, TCodec>(ArrayView<TStore> input, ArrayView<float> blocks, ArrayView<TStore> gradOutput,
        ArrayView<int> forwardTables, ArrayView<int> transposeTables, ArrayView<TStore> gradInput, ArrayView<float> partial, RotationParams p)
        where TSize : struct, IKernelSize
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        ArrayView<float> shared = SharedMemory.GetDynamic<float>();
        BackwardTiles<TSize, TStore, TCodec>(input, blocks, gradOutput, forwardTables, transposeTables, gradInput, partial, shared, p);
    }

    /// <summary>Backward, buffers in this group's slice of a global workspace.</summary>
    internal static void BackwardGlobalKernel<TSize, TStore, TCodec>(ArrayView<TStore> input, ArrayView<float> blocks, ArrayView<TStore> gradOutput,
        ArrayView<int> forwardTables, ArrayView<int> transposeTables, ArrayView<TStore> gradInput, ArrayView<float> partial,
        ArrayView<float> workspace, RotationParams p)
        where TSize : struct, IKernelSize
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        int length = (p.FactorCount + 2) * p.RowsPerTile * p.TileWidth;
        BackwardTiles<TSize, TStore, TCodec>(input, blocks, gradOutput, forwardTables, transposeTables, gradInput, partial,
            workspace.SubView(Grid.IdxX * length, length), p);
    }

    /// <summary>Second stage of the gradBlocks reduction: gradBlocks[e] = Σ_{c &lt; chunks} partial[c·length + e], in chunk order.</summary>
    internal static void ReducePartialsKernel(ArrayView<float> partial, ArrayView<float> gradBlocks, int length, int chunks)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int e = Grid.IdxX * Group.DimX + Group.IdxX; e < length; e += stride)
        {
            Debug.Assert(chunks >= 1 && (chunks - 1) * length + e < partial.Length, "rotation: partial index in range");
            float sum = 0f;
            for (int c = 0; c < chunks; c++)
                sum += partial[c * length + e];
            gradBlocks[e] = sum;
        }
    }

    /// <summary>Applies all m factors to every (row tile, column tile) work item of this group (grid-stride).</summary>
    internal static void ApplyTiles<TSize, TStore, TCodec>(ArrayView<TStore> input, ArrayView<float> blocks, ArrayView<int> tables,
        ArrayView<float> rowScale, ArrayView<TStore> output, ArrayView<float> bufferA, ArrayView<float> bufferB, RotationParams p)
        where TSize : struct, IKernelSize
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        int d = p.FeatureCount, m = p.FactorCount, width = p.TileWidth;
        int tid = Group.IdxX;
        int laneRow = p.RowsPerPass == 1 ? 0 : tid / p.ThreadsPerRow;
        int laneColumn = tid - laneRow * p.ThreadsPerRow;
        int workItems = p.RowTiles * p.TileColumns;
        for (int item = Grid.IdxX; item < workItems; item += Grid.DimX)
        {
            int tile = item / p.TileColumns;
            int column0 = (item - tile * p.TileColumns) * width;
            int row0 = tile * p.RowsPerTile;
            int rows = Math.Min(p.RowsPerTile, p.RowCount - row0);
            Debug.Assert(rows > 0 && rows <= p.RowsPerTile, "rotation: a row tile holds 1..RowsPerTile rows");
            Debug.Assert(column0 >= 0 && column0 + width <= d, "rotation: the column tile lies inside [0, d)");
            Debug.Assert(bufferA.Length >= rows * width && bufferB.Length >= rows * width, "rotation: the tile fits its buffers");
            LoadRows<TStore, TCodec>(input, tables, 0, bufferA, row0, rows, column0, laneRow, laneColumn, p);
            Group.Barrier();
            for (int s = 0; s < m; s++)
            {
                int factor = p.Transpose != 0 ? s : m - 1 - s;
                bool even = (s & 1) == 0;
                MultiplyStage<TSize>(even ? bufferA : bufferB, even ? bufferB : bufferA, blocks, tables, s + 1, s == m - 1,
                    factor, p.Transpose != 0, rows, column0, laneRow, laneColumn, p);
                Group.Barrier();
            }
            ArrayView<float> last = (m & 1) == 0 ? bufferA : bufferB;
            for (int r = laneRow; r < rows; r += p.RowsPerPass)
            {
                float scale = p.HasRowScale != 0 ? rowScale[row0 + r] : 1f;
                for (int a = laneColumn; a < width; a += p.ThreadsPerRow)
                {
                    int global = column0 + a;
                    Debug.Assert((uint)(tables[m * d + global] - column0) < (uint)width, "rotation: the last gather stays inside the tile");
                    float value = last[r * width + tables[m * d + global] - column0];
                    output[(row0 + r) * d + global] = default(TCodec).Narrow(p.HasRowScale != 0 ? value * scale : value);
                }
            }
            Group.Barrier();
        }
    }

    /// <summary>Recomputes the forward per tile, then runs the gradient through the factors in reverse (see the file header).</summary>
    private static void BackwardTiles<TSize, TStore, TCodec>(ArrayView<TStore> input, ArrayView<float> blocks, ArrayView<TStore> gradOutput,
        ArrayView<int> forwardTables, ArrayView<int> transposeTables, ArrayView<TStore> gradInput, ArrayView<float> partial,
        ArrayView<float> buffers, RotationParams p)
        where TSize : struct, IKernelSize
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        int b = default(TSize).Of(p.BlockSize);
        int d = p.FeatureCount, m = p.FactorCount, width = p.TileWidth;
        int bb = b * b;
        int factorLength = p.BlockCount * bb;
        int tileLength = p.RowsPerTile * width;
        int tid = Group.IdxX, groupSize = Group.DimX;
        int laneRow = p.RowsPerPass == 1 ? 0 : tid / p.ThreadsPerRow;
        int laneColumn = tid - laneRow * p.ThreadsPerRow;
        ArrayView<float> gradA = buffers.SubView(m * tileLength, tileLength);
        ArrayView<float> gradB = buffers.SubView((m + 1) * tileLength, tileLength);
        int entries = width * b; // gradBlocks entries of one factor that fall in this tile's columns
        int workItems = p.RowTiles * p.TileColumns;
        for (int item = Grid.IdxX; item < workItems; item += Grid.DimX)
        {
            int chunk = item / p.TileColumns;
            int column0 = (item - chunk * p.TileColumns) * width;
            int slotBase = chunk * m * factorLength + column0 * b;
            Debug.Assert(column0 >= 0 && column0 + width <= d, "rotation backward: the column tile lies inside [0, d)");
            Debug.Assert(slotBase + (m - 1) * factorLength + entries <= partial.Length, "rotation backward: the chunk's partial slots are in range");
            for (int i = 0; i < m; i++)
                for (int e = tid; e < entries; e += groupSize)
                    partial[slotBase + i * factorLength + e] = 0f;
            int chunkEnd = Math.Min(p.RowCount, (chunk + 1) * p.ChunkRows);
            for (int row0 = chunk * p.ChunkRows; row0 < chunkEnd; row0 += p.RowsPerTile)
            {
                int rows = Math.Min(p.RowsPerTile, chunkEnd - row0);
                Debug.Assert(rows > 0 && rows <= p.RowsPerTile && (m + 2) * tileLength <= buffers.Length, "rotation backward: the tile fits its m + 2 buffers");
                // Forward recompute: saved slot s holds w of forward stage s (factor m−1−s).
                LoadRows<TStore, TCodec>(input, forwardTables, 0, buffers.SubView(0, tileLength), row0, rows, column0, laneRow, laneColumn, p);
                Group.Barrier();
                for (int s = 0; s < m - 1; s++)
                {
                    MultiplyStage<TSize>(buffers.SubView(s * tileLength, tileLength), buffers.SubView((s + 1) * tileLength, tileLength),
                        blocks, forwardTables, s + 1, false, m - 1 - s, false, rows, column0, laneRow, laneColumn, p);
                    Group.Barrier();
                }
                LoadRows<TStore, TCodec>(gradOutput, transposeTables, 0, gradA, row0, rows, column0, laneRow, laneColumn, p);
                Group.Barrier();
                for (int s = 0; s < m; s++)
                {
                    // Gradient stage s is factor i = s; its saved input w_i is forward stage m − 1 − s.
                    bool even = (s & 1) == 0;
                    ArrayView<float> gradV = even ? gradA : gradB;
                    ArrayView<float> w = buffers.SubView((m - 1 - s) * tileLength, tileLength);
                    for (int e = tid; e < entries; e += groupSize)
                    {
                        int localBlock = e / bb;
                        int rest = e - localBlock * bb;
                        int t = rest / b;
                        int c = rest - t * b;
                        int blockStart = localBlock * b;
                        float sum = 0f;
                        for (int r = 0; r < rows; r++)
                            sum += w[r * width + blockStart + t] * gradV[r * width + blockStart + c];
                        partial[slotBase + s * factorLength + e] += sum;
                    }
                    MultiplyStage<TSize>(gradV, even ? gradB : gradA, blocks, transposeTables, s + 1, s == m - 1, s, true,
                        rows, column0, laneRow, laneColumn, p);
                    Group.Barrier();
                }
                ArrayView<float> last = (m & 1) == 0 ? gradA : gradB;
                for (int r = laneRow; r < rows; r += p.RowsPerPass)
                {
                    for (int a = laneColumn; a < width; a += p.ThreadsPerRow)
                    {
                        int global = column0 + a;
                        Debug.Assert((uint)(transposeTables[m * d + global] - column0) < (uint)width, "rotation backward: the last gather stays inside the tile");
                        gradInput[(row0 + r) * d + global] = default(TCodec).Narrow(last[r * width + transposeTables[m * d + global] - column0]);
                    }
                }
                Group.Barrier();
            }
        }
    }

    /// <summary>Reads rows of a tile from global memory (coalesced), widens them and scatters them through table 0 into <paramref name="target"/>.</summary>
    private static void LoadRows<TStore, TCodec>(ArrayView<TStore> source, ArrayView<int> tables, int table, ArrayView<float> target, int row0, int rows,
        int column0, int laneRow, int laneColumn, in RotationParams p)
        where TStore : unmanaged
        where TCodec : struct, IElementCodec<TStore>
    {
        int d = p.FeatureCount, width = p.TileWidth;
        for (int r = laneRow; r < rows; r += p.RowsPerPass)
        {
            for (int a = laneColumn; a < width; a += p.ThreadsPerRow)
            {
                int global = column0 + a;
                Debug.Assert((uint)(tables[table * d + global] - column0) < (uint)width, "rotation: a gather leaves the tile");
                target[r * width + tables[table * d + global] - column0] = default(TCodec).Widen(source[(row0 + r) * d + global]);
            }
        }
    }

    /// <summary>
    /// One factor: v[r, j·b + c] = Σ_t w[r, j·b + t]·C(t, c) for every row and tile column, written to position
    /// scatter(a) of the next buffer (or a itself after the last factor). Four rows share each load of C.
    /// </summary>
    private static void MultiplyStage<TSize>(ArrayView<float> source, ArrayView<float> target, ArrayView<float> blocks,
        ArrayView<int> tables, int table, bool last, int factor, bool transpose, int rows, int column0, int laneRow, int laneColumn,
        in RotationParams p)
        where TSize : struct, IKernelSize
    {
        int b = default(TSize).Of(p.BlockSize);
        int d = p.FeatureCount, width = p.TileWidth;
        int quads = (rows + 3) >> 2;
        int cStride = transpose ? 1 : b;
        for (int q = laneRow; q < quads; q += p.RowsPerPass)
        {
            int r0 = q << 2;
            int rowsHere = Math.Min(4, rows - r0);
            for (int a = laneColumn; a < width; a += p.ThreadsPerRow)
            {
                int global = column0 + a;
                int block = global / b;
                int c = global - block * b;
                int blockStart = a - c;
                int cBase = (factor * p.BlockCount + block) * b * b + (transpose ? c * b : c);
                int position = last ? a : tables[table * d + global] - column0;
                Debug.Assert(blockStart >= 0 && blockStart + b <= width && (uint)position < (uint)width, "rotation: a block or its scatter target leaves the tile");
                Debug.Assert((uint)block < (uint)p.BlockCount, "rotation: block index in range");
                if (rowsHere == 4)
                {
                    int i0 = r0 * width + blockStart;
                    float acc0 = 0f, acc1 = 0f, acc2 = 0f, acc3 = 0f;
                    for (int t = 0; t < b; t++)
                    {
                        float cv = blocks[cBase + t * cStride];
                        acc0 += source[i0 + t] * cv;
                        acc1 += source[i0 + width + t] * cv;
                        acc2 += source[i0 + 2 * width + t] * cv;
                        acc3 += source[i0 + 3 * width + t] * cv;
                    }
                    int o0 = r0 * width + position;
                    target[o0] = acc0;
                    target[o0 + width] = acc1;
                    target[o0 + 2 * width] = acc2;
                    target[o0 + 3 * width] = acc3;
                }
                else
                {
                    for (int r = r0; r < r0 + rowsHere; r++)
                    {
                        int i0 = r * width + blockStart;
                        float acc = 0f;
                        for (int t = 0; t < b; t++)
                            acc += source[i0 + t] * blocks[cBase + t * cStride];
                        target[r * width + position] = acc;
                    }
                }
            }
        }
    }
}

/// <summary>How a rotation launch is laid out (derived on the host from the shape, the row count and the accelerator).</summary>
internal readonly record struct RotationPlan(RotationParams Params, KernelConfig Config, bool UsesSharedMemory, long WorkspaceFloats, int ChunkCount);

/// <summary>Launchers of the rotation op.</summary>
public sealed partial class BoftKernels
{
    /// <summary>The rotation kernels of one storage type (each generic over the block size, compiled on first use of each b).</summary>
    private sealed class RotationSet<TStore>
        where TStore : unmanaged
    {
        public RotationSet(BoftKernels owner, Type codec)
        {
            Type[] types = [typeof(TStore), codec];
            Shared = new(owner, typeof(RotationKernels), nameof(RotationKernels.ForwardSharedKernel), a => owner.Accelerator.LoadKernel(a), types);
            Global = new(owner, typeof(RotationKernels), nameof(RotationKernels.ForwardGlobalKernel), a => owner.Accelerator.LoadKernel(a), types);
            BackwardShared = new(owner, typeof(RotationKernels), nameof(RotationKernels.BackwardSharedKernel), a => owner.Accelerator.LoadKernel(a), types);
            BackwardGlobal = new(owner, typeof(RotationKernels), nameof(RotationKernels.BackwardGlobalKernel), a => owner.Accelerator.LoadKernel(a), types);
        }

        public SizedKernel<Action<ArrayView<TStore>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<TStore>, RotationParams>,
            Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<TStore>, RotationParams>> Shared { get; }

        public SizedKernel<Action<ArrayView<TStore>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<TStore>, ArrayView<float>, RotationParams>,
            Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<TStore>, ArrayView<float>, RotationParams>> Global { get; }

        public SizedKernel<Action<ArrayView<TStore>, ArrayView<float>, ArrayView<TStore>, ArrayView<int>, ArrayView<int>, ArrayView<TStore>, ArrayView<float>, RotationParams>,
            Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<float>, ArrayView<TStore>, ArrayView<int>, ArrayView<int>, ArrayView<TStore>, ArrayView<float>, RotationParams>> BackwardShared { get; }

        public SizedKernel<Action<ArrayView<TStore>, ArrayView<float>, ArrayView<TStore>, ArrayView<int>, ArrayView<int>, ArrayView<TStore>, ArrayView<float>, ArrayView<float>, RotationParams>,
            Action<AcceleratorStream, KernelConfig, ArrayView<TStore>, ArrayView<float>, ArrayView<TStore>, ArrayView<int>, ArrayView<int>, ArrayView<TStore>, ArrayView<float>, ArrayView<float>, RotationParams>> BackwardGlobal { get; }
    }

    private RotationSet<float> rotationFloat32;
    private RotationSet<ushort>? rotationBFloat16;
    private RotationSet<ushort>? rotationFloat16;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int> reducePartials;
    private readonly Dictionary<RotationShape, (ArrayView<int> Forward, ArrayView<int> Transpose)> rotationTables = [];

    [MemberNotNull(nameof(rotationFloat32), nameof(reducePartials))]
    private void InitializeRotation()
    {
        rotationFloat32 = new RotationSet<float>(this, typeof(Float32Codec));
        reducePartials = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int, int>(RotationKernels.ReducePartialsKernel);
    }

    /// <summary>The 16-bit rotation kernels of <paramref name="type"/> (created on first use; each b compiles on first launch).</summary>
    private RotationSet<ushort> RotationSixteenBit(ElementType type) => RequireSixteenBit(type) == ElementType.BFloat16
        ? rotationBFloat16 ??= new RotationSet<ushort>(this, typeof(BFloat16Codec))
        : rotationFloat16 ??= new RotationSet<ushort>(this, typeof(Float16Codec));

    /// <summary>
    /// <c>output = input · R</c> (or <c>input · Rᵀ</c>) without forming R: all m factors fused in one kernel, permutations applied as
    /// composed index tables. <paramref name="output"/> may be the same view as <paramref name="input"/>.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="input">Rows. Shape: [rowCount, featureCount].</param>
    /// <param name="blocks">Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="transpose">Apply Rᵀ instead of R.</param>
    /// <param name="output">Shape: [rowCount, featureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch for tiles too wide for shared memory (<see cref="RotateWorkspaceLength"/>), or null for the internal one.</param>
    /// <exception cref="ArgumentException">A length does not match the shape, or the workspace is too small.</exception>
    /// <exception cref="BackendMismatchException">A view, the stream or the workspace belongs to another accelerator.</exception>
    /// <exception cref="ObjectDisposedException">These kernels, the accelerator or a buffer are disposed.</exception>
    public void Rotate(RotationShape shape, ArrayView<float> input, ArrayView<float> blocks, bool transpose, ArrayView<float> output,
        AcceleratorStream? stream = null, BoftWorkspace? workspace = null) =>
        Rotate(rotationFloat32, shape, input, blocks, transpose, output, stream, workspace);

    /// <summary>
    /// The rotation on 16-bit activations (input and output of <paramref name="elementType"/>; blocks stay float32): each element is
    /// widened as its tile is loaded and rounded once as it is stored. <paramref name="output"/> may be the same view as <paramref name="input"/>.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="input">Rows. Shape: [rowCount, featureCount].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="blocks">float32. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="transpose">Apply Rᵀ instead of R.</param>
    /// <param name="output">Shape: [rowCount, featureCount].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch (<see cref="RotateWorkspaceLength"/>), or null for the internal one.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void Rotate(RotationShape shape, ArrayView<ushort> input, ElementType elementType, ArrayView<float> blocks, bool transpose, ArrayView<ushort> output,
        AcceleratorStream? stream = null, BoftWorkspace? workspace = null) =>
        Rotate(RotationSixteenBit(elementType), shape, input, blocks, transpose, output, stream, workspace);

    private void Rotate<TStore>(RotationSet<TStore> kernels, RotationShape shape, ArrayView<TStore> input, ArrayView<float> blocks, bool transpose, ArrayView<TStore> output,
        AcceleratorStream? stream, BoftWorkspace? workspace)
        where TStore : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        int rows = RequireRows(input, nameof(input), shape.FeatureCount, ShapeChecks.RotationRowsReason(shape));
        RequireLength(blocks, nameof(blocks), shape.BlocksLength, ShapeChecks.RotationBlocksShape(shape));
        RequireSameRows(output, nameof(output), input, nameof(input), shape.FeatureCount);
        LaunchRotation(kernels, shape, input, blocks, transpose, None, false, output, rows, s, workspace);
    }

    /// <summary>
    /// Backward of <c>output = input · R</c>: <c>gradInput = gradOutput · Rᵀ</c> and <c>gradBlocks[i, j] = Σ_rows w_i[:, blk j]ᵀ g_v[:, blk j]</c>
    /// (both OVERWRITTEN; boft-spec §5), the row sum reduced in two deterministic stages.
    /// </summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="input">The forward's input. Shape: [rowCount, featureCount].</param>
    /// <param name="blocks">The forward's blocks. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="gradOutput">∂L/∂output. Shape: [rowCount, featureCount].</param>
    /// <param name="gradInput">Overwritten. Shape: [rowCount, featureCount]. May alias <paramref name="gradOutput"/>, not <paramref name="input"/>.</param>
    /// <param name="gradBlocks">Overwritten. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch (<see cref="RotateBackwardWorkspaceLength"/>), or null for the internal one.</param>
    /// <exception cref="ArgumentException">A length does not match, or gradInput aliases input.</exception>
    /// <exception cref="BackendMismatchException">A view, the stream or the workspace belongs to another accelerator.</exception>
    /// <exception cref="ObjectDisposedException">These kernels, the accelerator or a buffer are disposed.</exception>
    public void RotateBackward(RotationShape shape, ArrayView<float> input, ArrayView<float> blocks, ArrayView<float> gradOutput,
        ArrayView<float> gradInput, ArrayView<float> gradBlocks, AcceleratorStream? stream = null, BoftWorkspace? workspace = null) =>
        RotateBackward(rotationFloat32, shape, input, blocks, gradOutput, gradInput, gradBlocks, stream, workspace);

    /// <summary>The rotation backward on 16-bit activations of <paramref name="elementType"/> (input, gradOutput, gradInput, the gradient
    /// rounded once); blocks and gradBlocks (overwritten, summed in float32) stay float32.</summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="input">The forward's input. Shape: [rowCount, featureCount].</param>
    /// <param name="elementType"><see cref="ElementType.BFloat16"/> or <see cref="ElementType.Float16"/>: the type of every 16-bit view.</param>
    /// <param name="blocks">float32. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="gradOutput">∂L/∂output. Shape: [rowCount, featureCount].</param>
    /// <param name="gradInput">Overwritten. Shape: [rowCount, featureCount]. May alias <paramref name="gradOutput"/>, not <paramref name="input"/>.</param>
    /// <param name="gradBlocks">float32, overwritten. Shape: [factorCount, blockCount, blockSize, blockSize].</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <param name="workspace">Scratch (<see cref="RotateBackwardWorkspaceLength"/>), or null for the internal one.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementType"/> is not a 16-bit type.</exception>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="BackendMismatchException">A view or the stream belongs to another accelerator.</exception>
    public void RotateBackward(RotationShape shape, ArrayView<ushort> input, ElementType elementType, ArrayView<float> blocks, ArrayView<ushort> gradOutput,
        ArrayView<ushort> gradInput, ArrayView<float> gradBlocks, AcceleratorStream? stream = null, BoftWorkspace? workspace = null) =>
        RotateBackward(RotationSixteenBit(elementType), shape, input, blocks, gradOutput, gradInput, gradBlocks, stream, workspace);

    private void RotateBackward<TStore>(RotationSet<TStore> kernels, RotationShape shape, ArrayView<TStore> input, ArrayView<float> blocks, ArrayView<TStore> gradOutput,
        ArrayView<TStore> gradInput, ArrayView<float> gradBlocks, AcceleratorStream? stream, BoftWorkspace? workspace)
        where TStore : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shape);
        AcceleratorStream s = StreamOf(stream);
        int d = shape.FeatureCount;
        int rows = RequireRows(input, nameof(input), d, ShapeChecks.RotationRowsReason(shape));
        RequireLength(blocks, nameof(blocks), shape.BlocksLength, ShapeChecks.RotationBlocksShape(shape));
        RequireSameRows(gradOutput, nameof(gradOutput), input, nameof(input), d);
        RequireSameRows(gradInput, nameof(gradInput), input, nameof(input), d);
        RequireLength(gradBlocks, nameof(gradBlocks), shape.BlocksLength, ShapeChecks.RotationBlocksShape(shape));
        ShapeChecks.GradInputNotAliasingInput(Overlap(gradInput, input));
        if (rows == 0)
        {
            FillCore(gradBlocks, 0f, s);
            return;
        }
        RotationPlan plan = PlanRotation(shape, rows, backward: true);
        (ArrayView<int> forwardTables, ArrayView<int> transposeTables) = TablesOf(shape);
        int length = shape.BlocksLength;
        long partialFloats = plan.ChunkCount > 1 ? (long)plan.ChunkCount * length : 0;
        ArrayView<float> scratch = Scratch(plan.WorkspaceFloats, workspace, "RotateBackward");
        ArrayView<float> partial = plan.ChunkCount > 1 ? scratch.SubView(0, partialFloats) : gradBlocks;
        if (plan.UsesSharedMemory)
        {
            kernels.BackwardShared.For(shape.BlockSize)(s, plan.Config, input, blocks, gradOutput, forwardTables, transposeTables, gradInput, partial, plan.Params);
        }
        else
        {
            ArrayView<float> rowsWorkspace = scratch.SubView(partialFloats, plan.WorkspaceFloats - partialFloats);
            kernels.BackwardGlobal.For(shape.BlockSize)(s, plan.Config, input, blocks, gradOutput, forwardTables, transposeTables, gradInput, partial, rowsWorkspace, plan.Params);
        }
        if (plan.ChunkCount > 1)
            reducePartials(s, ElementwiseConfig(length), partial, gradBlocks, length, plan.ChunkCount);
    }

    /// <summary>Floats of workspace <see cref="Rotate(RotationShape, ArrayView{float}, ArrayView{float}, bool, ArrayView{float}, AcceleratorStream?, BoftWorkspace?)"/> needs for <paramref name="rowCount"/> rows (0 when tiles fit in shared memory).</summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="rowCount">Rows.</param>
    /// <returns>The length to pass to <see cref="CreateWorkspace"/>.</returns>
    public long RotateWorkspaceLength(RotationShape shape, int rowCount)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        return rowCount == 0 ? 0 : PlanRotation(shape, rowCount, backward: false).WorkspaceFloats;
    }

    /// <summary>Floats of workspace <see cref="RotateBackward(RotationShape, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, AcceleratorStream?, BoftWorkspace?)"/> needs for <paramref name="rowCount"/> rows.</summary>
    /// <param name="shape">The rotation shape.</param>
    /// <param name="rowCount">Rows.</param>
    /// <returns>The length to pass to <see cref="CreateWorkspace"/>.</returns>
    public long RotateBackwardWorkspaceLength(RotationShape shape, int rowCount)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        return rowCount == 0 ? 0 : PlanRotation(shape, rowCount, backward: true).WorkspaceFloats;
    }

    /// <summary>Forward rotation (also merge): validated arguments, any row count.</summary>
    private void LaunchRotation<TStore>(RotationSet<TStore> kernels, RotationShape shape, ArrayView<TStore> input, ArrayView<float> blocks, bool transpose, ArrayView<float> rowScale,
        bool hasRowScale, ArrayView<TStore> output, int rows, AcceleratorStream stream, BoftWorkspace? workspace)
        where TStore : unmanaged
    {
        if (rows == 0)
            return;
        RotationPlan plan = PlanRotation(shape, rows, backward: false);
        RotationParams p = plan.Params;
        p.Transpose = transpose ? 1 : 0;
        p.HasRowScale = hasRowScale ? 1 : 0;
        (ArrayView<int> forwardTables, ArrayView<int> transposeTables) = TablesOf(shape);
        ArrayView<int> tables = transpose ? transposeTables : forwardTables;
        if (plan.UsesSharedMemory)
        {
            kernels.Shared.For(shape.BlockSize)(stream, plan.Config, input, blocks, tables, rowScale, output, p);
        }
        else
        {
            ArrayView<float> scratch = Scratch(plan.WorkspaceFloats, workspace, transpose ? "Rotate (transposed)" : "Rotate");
            kernels.Global.For(shape.BlockSize)(stream, plan.Config, input, blocks, tables, rowScale, output, scratch, p);
        }
    }

    /// <summary>The composed permutation tables of <paramref name="shape"/> on the device, uploaded on first use.</summary>
    private (ArrayView<int> Forward, ArrayView<int> Transpose) TablesOf(RotationShape shape)
    {
        if (!rotationTables.TryGetValue(shape, out (ArrayView<int> Forward, ArrayView<int> Transpose) tables))
        {
            int length = (shape.FactorCount + 1) * shape.FeatureCount;
            var host = new int[2 * length];
            FillTables(shape, transpose: false, host.AsSpan(0, length));
            FillTables(shape, transpose: true, host.AsSpan(length, length));
            ArrayView<int> all = AllocateOwned<int>(host).View;
            tables = (all.SubView(0, length), all.SubView(length, length));
            rotationTables[shape] = tables;
        }
        return tables;
    }

    /// <summary>
    /// The m + 1 tables of one direction (stage order f_s = m−1−s for R, s for Rᵀ), each of length d:
    /// table 0 scatters the input (w[p_{f_0}[a]] = x[a]); table s (1..m−1) scatters stage s−1's output into stage s's input
    /// (w_s[p_{f_s}[q_{f_{s−1}}[a]]] = v_{s−1}[a]); table m gathers the output (out[a] = v_{m−1}[p_{f_{m−1}}[a]]).
    /// </summary>
    internal static void FillTables(RotationShape shape, bool transpose, Span<int> tables)
    {
        int d = shape.FeatureCount, m = shape.FactorCount;
        ButterflyPermutations permutations = shape.Permutations;
        int Factor(int stage) => transpose ? stage : m - 1 - stage;
        permutations.Forward(Factor(0)).CopyTo(tables[..d]);
        for (int s = 1; s < m; s++)
        {
            ReadOnlySpan<int> p = permutations.Forward(Factor(s));
            ReadOnlySpan<int> q = permutations.Inverse(Factor(s - 1));
            Span<int> table = tables.Slice(s * d, d);
            for (int a = 0; a < d; a++)
                table[a] = p[q[a]];
        }
        permutations.Forward(Factor(m - 1)).CopyTo(tables.Slice(m * d, d));
    }

    /// <summary>Tile width, rows per tile, group shape, shared/global path, reduction chunks and workspace of a launch.</summary>
    internal RotationPlan PlanRotation(RotationShape shape, int rows, bool backward)
    {
        int d = shape.FeatureCount, m = shape.FactorCount, b = shape.BlockSize;
        int dense = b << (m - 1);
        int groups = d / dense;
        int multiple = groups;
        for (int c = 1; c <= groups; c++)
        {
            if (groups % c == 0 && (long)dense * c >= 32)
            {
                multiple = c;
                break;
            }
        }
        int width = dense * multiple;
        int columns = d / width;
        int threadsPerRow, rowsPerPass, groupSize;
        if (width < MaxGroupSize)
        {
            threadsPerRow = width;
            rowsPerPass = MaxGroupSize / width;
            groupSize = width * rowsPerPass;
        }
        else
        {
            threadsPerRow = groupSize = MaxGroupSize;
            rowsPerPass = 1;
        }
        int buffers = backward ? m + 2 : 2;
        long rowFloats = (long)buffers * width;
        long fit = SharedBudgetFloats / rowFloats;
        bool useShared = fit >= 1;
        int rowsPerTile = useShared ? (int)Math.Min(Math.Min(fit, Options.MaxRowsPerTile), rows) : 1;
        long maxWorkspaceFloats = Options.MaxWorkspaceBytes / sizeof(float);
        long groupWorkspace = rowFloats * rowsPerTile;
        var p = new RotationParams
        {
            FeatureCount = d,
            FactorCount = m,
            BlockCount = shape.BlockCount,
            BlockSize = b,
            TileWidth = width,
            TileColumns = columns,
            RowsPerTile = rowsPerTile,
            RowCount = rows,
            ThreadsPerRow = threadsPerRow,
            RowsPerPass = rowsPerPass,
        };
        int tiles = LaunchMath.CeilDiv(rows, rowsPerTile);
        int chunks = 1;
        long workItems;
        if (backward)
        {
            long length = shape.BlocksLength;
            chunks = Options.ReductionChunkCount > 0
                ? Math.Min(Options.ReductionChunkCount, rows)
                : Math.Clamp(LaunchMath.CeilDiv(ResidentGroups, columns), 1, tiles);
            long perChunk = length + (useShared ? 0 : columns * groupWorkspace);
            chunks = (int)Math.Max(1, Math.Min(chunks, maxWorkspaceFloats / perChunk));
            p.ChunkRows = LaunchMath.CeilDiv(rows, chunks);
            chunks = LaunchMath.CeilDiv(rows, p.ChunkRows);
            p.RowTiles = chunks;
            workItems = (long)chunks * columns;
        }
        else
        {
            p.RowTiles = tiles;
            workItems = (long)tiles * columns;
        }
        int grid = useShared
            ? (int)Math.Min(workItems, 1 << 24)
            : (int)Math.Max(1, Math.Min(Math.Min(workItems, ResidentGroups), maxWorkspaceFloats / groupWorkspace));
        long workspaceFloats = (useShared ? 0 : grid * groupWorkspace) + (chunks > 1 ? (long)chunks * shape.BlocksLength : 0);
        KernelConfig config = useShared
            ? new KernelConfig(grid, groupSize, SharedMemoryConfig.RequestDynamic<float>((int)groupWorkspace))
            : new KernelConfig(grid, groupSize);
        return new RotationPlan(p, config, useShared, workspaceFloats, chunks);
    }
}
