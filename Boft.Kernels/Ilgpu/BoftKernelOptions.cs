// Tuning knobs of BoftKernels. The defaults suit CUDA GPUs; tests lower them to force the multi-pass and
// global-workspace paths at tiny shapes. Every value is validated when a BoftKernels is created.

namespace Boft.Kernels.Ilgpu;

/// <summary>Launch and memory settings of <see cref="BoftKernels"/>. All values have working defaults.</summary>
public sealed record BoftKernelOptions
{
    /// <summary>CUDA's limit on dynamic shared memory per group in ILGPU 1.5.3 (no opt-in to more): 48 KiB.</summary>
    public const int DefaultSharedMemoryBytes = 48 * 1024;

    /// <summary>Preferred threads per group (capped by the accelerator's maximum). Default 256.</summary>
    public int GroupSize { get; init; } = 256;

    /// <summary>
    /// Shared memory a rotation or Cayley group may use, in bytes (capped by the accelerator). Default 48 KiB. When one row of a
    /// rotation tile, or one Cayley block's matrices, do not fit, the kernels keep them in a global workspace instead
    /// (docs/03_Kernels/rotation.md, cayley.md); 0 forces those paths (tests).
    /// </summary>
    public int SharedMemoryBytes { get; init; } = DefaultSharedMemoryBytes;

    /// <summary>Most rows a rotation group processes per tile. Default 64.</summary>
    public int MaxRowsPerTile { get; init; } = 64;

    /// <summary>
    /// Row chunks of the rotation backward's two-stage gradBlocks reduction; 0 = automatic (about 4 groups per multiprocessor).
    /// Either way limited by <see cref="MaxWorkspaceBytes"/>. Results are bit-identical on reruns with the same device and options.
    /// </summary>
    public int ReductionChunkCount { get; init; }

    /// <summary>
    /// Upper bound on the workspace one launch may ask for, in bytes (1 MiB to 8 GiB: kernels index with int). Default 256 MiB.
    /// It limits the rotation backward's reduction chunks (also a fixed <see cref="ReductionChunkCount"/>) and the number of
    /// groups of the global-workspace paths.
    /// </summary>
    public long MaxWorkspaceBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Groups per multiprocessor the grid-stride kernels launch. Default 4.</summary>
    public int GroupsPerMultiprocessor { get; init; } = 4;

    /// <summary>Which implementation runs the frozen-layer GEMMs. Default <see cref="BoftGemm.Auto"/>.</summary>
    public BoftGemm Gemm { get; init; } = BoftGemm.Auto;

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        if (GroupSize < 1 || GroupSize > 1024)
            throw new ArgumentOutOfRangeException(nameof(GroupSize), GroupSize, "GroupSize must be in [1, 1024].");
        if (SharedMemoryBytes < 0)
            throw new ArgumentOutOfRangeException(nameof(SharedMemoryBytes), SharedMemoryBytes, "SharedMemoryBytes must be non-negative.");
        if (MaxRowsPerTile < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxRowsPerTile), MaxRowsPerTile, "MaxRowsPerTile must be positive.");
        if (ReductionChunkCount < 0)
            throw new ArgumentOutOfRangeException(nameof(ReductionChunkCount), ReductionChunkCount, "ReductionChunkCount must be 0 (automatic) or positive.");
        if (MaxWorkspaceBytes < 1024 * 1024 || MaxWorkspaceBytes > 4L * int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(MaxWorkspaceBytes), MaxWorkspaceBytes, "MaxWorkspaceBytes must be between 1 MiB and 8 GiB.");
        if (!Enum.IsDefined(Gemm))
            throw new ArgumentOutOfRangeException(nameof(Gemm), Gemm, "Unknown GEMM implementation.");
        if (GroupsPerMultiprocessor < 1)
            throw new ArgumentOutOfRangeException(nameof(GroupsPerMultiprocessor), GroupsPerMultiprocessor, "GroupsPerMultiprocessor must be positive.");
    }
}

/// <summary>The implementation of the frozen-layer GEMMs (<see cref="BoftKernels.Linear(ILGPU.ArrayView{float}, ILGPU.ArrayView{float}, int, int, ILGPU.ArrayView{float}, ILGPU.Runtime.AcceleratorStream?)"/> and its two gradients).</summary>
public enum BoftGemm
{
    /// <summary>cuBLAS on CUDA when it loads (else the tiled kernel, and <see cref="BoftKernels.GemmImplementation"/> says why); the
    /// barrier-free direct kernel on ILGPU's CPU accelerator (where barriers are OS-thread rendezvous); the tiled kernel elsewhere.</summary>
    Auto,

    /// <summary>cuBLAS; creating the kernels throws <see cref="NotSupportedException"/> when the accelerator is not CUDA or cuBLAS does not load.</summary>
    CuBlas,

    /// <summary>The register-blocked tiled shared-memory ILGPU kernel.</summary>
    Tiled,

    /// <summary>One thread per output element, no shared memory or barriers (for the CPU simulator).</summary>
    Direct,
}
