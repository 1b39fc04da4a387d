// BoftKernels: every Boft kernel loaded on a user's ILGPU accelerator, behind host-validated launchers that take ArrayViews
// and an optional AcceleratorStream. The ops live in one file each (CayleyKernels.cs, RotationKernels.cs, ...), each holding
// the device code and, in a partial of this class, its launchers. This file holds construction, kernel loading, argument
// validation and workspace management.
//   * Kernels are loaded once: the fixed-shape ones in the constructor, the ones generic over the block size b (Cayley,
//     rotation) on first use of each b, then cached (one instantiation per b in 1, 2, 4, 8, 16, 32 plus one for every other b).
//   * No per-call allocation: permutation tables are uploaded once per RotationShape, Neumann coefficients once per
//     CayleyShape, and scratch memory comes from one internal workspace that grows (after a full synchronize) only when a
//     bigger problem arrives — or from a BoftWorkspace passed by the caller.
//   * Validation happens on the host before any launch: lengths (naming the argument and both shapes), the accelerator of
//     every view and stream (BackendMismatchException); messages from Boft.Backends.ShapeChecks, shared with BoftBackend, disposal (ObjectDisposedException).
// Gradient convention (as BoftBackend): parameter gradients accumulate (+=), activation gradients are overwritten (=), and
// every reduction is deterministic (bit-identical on reruns with the same device and options).

using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using Boft.Backends;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Boft.Kernels.Ilgpu;

/// <summary>
/// The BOFT/OFT kernels (batched Cayley map, fused butterfly rotation, merge, scale/bias, frozen-layer GEMM, losses,
/// optimizers, element-wise utilities) loaded on an ILGPU <see cref="ILGPU.Runtime.Accelerator"/> that the caller owns,
/// so Boft can run inside the caller's own GPU pipeline. Methods take <see cref="ArrayView{T}"/>s of float32 data (the ops with
/// a 16-bit path also have overloads over <c>ArrayView&lt;ushort&gt;</c> bits of bfloat16 or float16 activations, with the
/// <see cref="ElementType"/> beside them; docs/09_Mixed-precision.md) and an optional <see cref="AcceleratorStream"/> (default: the accelerator's default stream) and only enqueue work, except the
/// losses, which return a scalar. An optional view is omitted by passing <c>default</c>.
/// Not thread-safe; use one instance per thread, or pass explicit workspaces when launching on several streams.
/// Disposing frees Boft's own device memory (tables, workspaces, cuBLAS handle); compiled kernels live in the
/// accelerator's kernel cache and are freed with the accelerator.
/// </summary>
public sealed partial class BoftKernels : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> dummyFloat;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> reductionPartials;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> reductionResult;
    private readonly double[] hostResult = new double[2];
    private readonly List<IDisposable> ownedBuffers = [];
    private BoftWorkspace? defaultWorkspace;
    private bool disposed;

    /// <summary>Loads the kernels on <paramref name="accelerator"/>, which the caller keeps owning.</summary>
    /// <param name="accelerator">Any ILGPU accelerator (CUDA, or the CPU accelerator for tests).</param>
    /// <param name="options">Launch settings, or null for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="accelerator"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="NotSupportedException">The accelerator allows fewer than 16 threads per group.</exception>
    public BoftKernels(Accelerator accelerator, BoftKernelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ObjectDisposedException.ThrowIf(accelerator.IsDisposed, accelerator);
        options ??= new BoftKernelOptions();
        options.Validate();
        if (accelerator.MaxNumThreadsPerGroup < 16)
            throw new NotSupportedException($"Accelerator '{accelerator.Name}' allows {accelerator.MaxNumThreadsPerGroup} threads per group; Boft's kernels need at least 16.");
        Accelerator = accelerator;
        Options = options;
        MaxGroupSize = Math.Min(options.GroupSize, accelerator.MaxNumThreadsPerGroup);
        SharedBudgetFloats = (int)Math.Min(Math.Min((long)options.SharedMemoryBytes, accelerator.MaxSharedMemoryPerGroup), int.MaxValue) / sizeof(float);
        ReductionGroupSize = LaunchMath.FloorPowerOfTwo(Math.Min(256, accelerator.MaxNumThreadsPerGroup));
        ResidentGroups = Math.Max(1, accelerator.NumMultiprocessors) * options.GroupsPerMultiprocessor;
        // Grid-stride kernels: plenty of groups on a GPU; on ILGPU's CPU accelerator every group costs a dispatch and every barrier
        // an OS-thread rendezvous, so one group per simulated multiprocessor is fastest.
        GridStrideGroups = accelerator.AcceleratorType == AcceleratorType.CPU ? Math.Max(1, accelerator.NumMultiprocessors) : ResidentGroups * 8;

        dummyFloat = accelerator.Allocate1D<float>(1);
        reductionPartials = accelerator.Allocate1D<double>(MaxReductionPartials);
        reductionResult = accelerator.Allocate1D<double>(2);

        InitializeCayley();
        InitializeRotation();
        InitializeScaleBias();
        InitializeLinear();
        InitializeLosses();
        InitializeOptimizers();
        InitializeElementwise();

        InitializeGemm(options.Gemm);
    }

    /// <summary>The accelerator the kernels are loaded on (owned by the caller).</summary>
    public Accelerator Accelerator { get; }

    /// <summary>The launch settings.</summary>
    public BoftKernelOptions Options { get; }

    /// <summary>Which implementation runs the frozen-layer GEMMs: cuBLAS, or the tiled ILGPU kernel (with the reason when cuBLAS could not be loaded).</summary>
    public string GemmImplementation { get; private set; } = "";

    /// <summary>Whether <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => disposed;

    /// <summary>Current length (floats) of the internal workspace; grows when a bigger problem arrives.</summary>
    public long InternalWorkspaceLength => defaultWorkspace?.Length ?? 0;

    /// <summary>Most stage-1 partials of a scalar reduction.</summary>
    internal const int MaxReductionPartials = 1024;

    internal int MaxGroupSize { get; }

    internal int SharedBudgetFloats { get; }

    internal int CayleySharedFloats => SharedBudgetFloats;

    internal int ReductionGroupSize { get; }

    internal int ResidentGroups { get; }

    internal int GridStrideGroups { get; }

    /// <summary>Creates a workspace of <paramref name="length"/> floats on this accelerator (see the <c>*WorkspaceLength</c> methods).</summary>
    /// <param name="length">Number of floats (≥ 0).</param>
    /// <returns>A workspace the caller disposes.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    public BoftWorkspace CreateWorkspace(long length)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new BoftWorkspace(Accelerator, length);
    }

    /// <summary>Waits for all work queued on <paramref name="stream"/> (default: the accelerator's default stream).</summary>
    /// <param name="stream">The stream, or null.</param>
    public void Synchronize(AcceleratorStream? stream = null) => StreamOf(stream).Synchronize();

    /// <summary>Frees Boft's device memory. Idempotent. Pending work must have finished (synchronize first).</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        cuBlas?.Dispose();
        cuBlas = null;
        defaultWorkspace?.Dispose();
        defaultWorkspace = null;
        foreach (IDisposable buffer in ownedBuffers)
            buffer.Dispose();
        ownedBuffers.Clear();
        rotationTables.Clear();
        coefficientBuffers.Clear();
        reductionResult.Dispose();
        reductionPartials.Dispose();
        dummyFloat.Dispose();
    }

    #region Validation

    /// <summary>Throws <see cref="ObjectDisposedException"/> if these kernels or their accelerator are disposed.</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void ThrowIfDisposed()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (Accelerator.IsDisposed)
            throw new ObjectDisposedException(nameof(Accelerator), $"The accelerator '{Accelerator.Name}' these kernels were loaded on has been disposed.");
    }

    /// <summary>How messages name this accelerator: name, type and ILGPU instance (two CPU simulators differ).</summary>
    internal static string Identity(Accelerator accelerator) =>
        Invariant($"'{accelerator.Name}' ({accelerator.AcceleratorType}, instance #{AcceleratorNumbers.GetValue(accelerator, _ => new StrongBox<long>(Interlocked.Increment(ref acceleratorCounter))).Value})");

    private static readonly ConditionalWeakTable<Accelerator, StrongBox<long>> AcceleratorNumbers = new();
    private static long acceleratorCounter;

    /// <summary>The stream to launch on, checked to belong to this accelerator.</summary>
    private AcceleratorStream StreamOf(AcceleratorStream? stream)
    {
        ThrowIfDisposed();
        if (stream is null)
            return Accelerator.DefaultStream;
        ObjectDisposedException.ThrowIf(stream.IsDisposed, stream);
        if (!ReferenceEquals(stream.Accelerator, Accelerator))
            throw ShapeChecks.Mismatch(nameof(stream), null, "accelerator", Identity(stream.Accelerator), Identity(Accelerator));
        return stream;
    }

    /// <summary>Checks that a required view belongs to this accelerator and is alive; returns its length.</summary>
    private int Owned<T>(ArrayView<T> view, string name)
        where T : unmanaged => OwnedBy(Accelerator, view, name);

    /// <summary>Checks that a required view belongs to <paramref name="accelerator"/> and is alive; returns its length
    /// (also used by <see cref="IlgpuBackend.Wrap(ArrayView{float}, int[])"/>).</summary>
    internal static int OwnedBy<T>(Accelerator accelerator, ArrayView<T> view, string name)
        where T : unmanaged
    {
        MemoryBuffer? buffer = ((IArrayView)view).Buffer;
        if (buffer is null)
            throw ShapeChecks.DefaultView(name);
        if (buffer.IsDisposed)
            throw ShapeChecks.Disposed(name, "a view of a disposed buffer");
        if (!ReferenceEquals(buffer.Accelerator, accelerator))
            throw ShapeChecks.Mismatch(name, Invariant($"[{view.Length}]"), "accelerator", Identity(buffer.Accelerator), Identity(accelerator));
        if (view.Length > int.MaxValue)
            throw new ArgumentOutOfRangeException(name, view.Length, $"{name} has {view.Length} elements; Boft's kernels index with int and accept at most int.MaxValue.");
        return (int)view.Length;
    }

    /// <summary>Whether an optional view was given (not <c>default</c>); checks it like a required one when it was.</summary>
    private bool Optional<T>(ArrayView<T> view, string name)
        where T : unmanaged
    {
        if (((IArrayView)view).Buffer is null)
            return false;
        Owned(view, name);
        return true;
    }

    /// <summary>Requires an exact length, naming the argument and both shapes.</summary>
    private void RequireLength<T>(ArrayView<T> view, string name, long expected, ShapeText expectedShape)
        where T : unmanaged
    {
        int length = Owned(view, name);
        ShapeChecks.Length(name, ShapeChecks.Flat(length), length, expected, expectedShape);
    }

    /// <summary>Requires a whole number of rows of <paramref name="columns"/>; returns the row count.</summary>
    private int RequireRows<T>(ArrayView<T> view, string name, int columns, ShapeText reason)
        where T : unmanaged
    {
        int length = Owned(view, name);
        ShapeChecks.WholeRows(name, length, columns, reason);
        return length / columns;
    }

    /// <summary>Requires the same length as another view, naming both and their row shapes.</summary>
    private void RequireSameRows<T>(ArrayView<T> view, string name, ArrayView<T> other, string otherName, int columns)
        where T : unmanaged
    {
        int length = Owned(view, name);
        ShapeChecks.SameShape(length == other.Length, name, ShapeChecks.DeferredRowsOf(length, columns), otherName, ShapeChecks.DeferredRowsOf(other.Length, columns));
    }

    /// <summary>Whether two non-empty views share any element of the same buffer.</summary>
    private static bool Overlap<T>(ArrayView<T> a, ArrayView<T> b)
        where T : unmanaged
    {
        if (a.Length == 0 || b.Length == 0 || !ReferenceEquals(((IArrayView)a).Buffer, ((IArrayView)b).Buffer))
            return false;
        long startA = ((IContiguousArrayView)a).Index, startB = ((IContiguousArrayView)b).Index;
        return startA < startB + b.Length && startB < startA + a.Length;
    }

    private static string Rows(long length, int columns) => ShapeChecks.RowsOf(length, columns);

    /// <summary>Requires one of the 16-bit element types (the internal 16-bit launchers take the type beside the bits).</summary>
    private static ElementType RequireSixteenBit(ElementType elementType) =>
        elementType.IsSixteenBit() && Enum.IsDefined(elementType)
            ? elementType
            : throw new ArgumentOutOfRangeException(nameof(elementType), elementType, "The 16-bit overloads take BFloat16 or Float16 views; float32 views have their own overloads.");

    private static void RequirePositive(int value, string name) => ShapeChecks.Positive(value, name);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    #endregion

    #region Buffers and workspace

    /// <summary>A 1-element view standing in for an omitted optional view (kernels never read it).</summary>
    private ArrayView<float> None => dummyFloat.View;

    /// <summary>
    /// Scratch space of <paramref name="length"/> floats: the caller's workspace (checked) or the internal one, grown after a
    /// full synchronize of the accelerator when it is too small (so no launch can still be using the old memory).
    /// </summary>
    private ArrayView<float> Scratch(long length, BoftWorkspace? workspace, string operation)
    {
        if (workspace is not null)
        {
            ObjectDisposedException.ThrowIf(workspace.IsDisposed, workspace);
            if (!ReferenceEquals(workspace.Accelerator, Accelerator))
                throw ShapeChecks.Mismatch(nameof(workspace), Invariant($"[{workspace.Length}]"), "accelerator", Identity(workspace.Accelerator), Identity(Accelerator));
            if (workspace.Length < length)
                throw new ArgumentException($"workspace has {workspace.Length} floats but {operation} needs {length}.", nameof(workspace));
            return workspace.View;
        }
        if (length == 0)
            return None;
        if (defaultWorkspace is null || defaultWorkspace.Length < length)
        {
            long grown = Math.Max(length, (defaultWorkspace?.Length ?? 0) * 3 / 2);
            Accelerator.Synchronize();
            defaultWorkspace?.Dispose();
            defaultWorkspace = null;
            defaultWorkspace = new BoftWorkspace(Accelerator, grown);
        }
        return defaultWorkspace.View;
    }

    /// <summary>Allocates a buffer that lives as long as these kernels.</summary>
    private MemoryBuffer1D<T, Stride1D.Dense> AllocateOwned<T>(ReadOnlySpan<T> values)
        where T : unmanaged
    {
        MemoryBuffer1D<T, Stride1D.Dense> buffer = Accelerator.Allocate1D<T>(Math.Max(1, values.Length));
        ownedBuffers.Add(buffer);
        if (!values.IsEmpty)
        {
            buffer.View.SubView(0, values.Length).CopyFromCPU(Accelerator.DefaultStream, values);
            Accelerator.DefaultStream.Synchronize();
        }
        return buffer;
    }

    /// <summary>Threads per group of grid-stride element-wise kernels and their grid for <paramref name="length"/> elements.</summary>
    private KernelConfig ElementwiseConfig(long length)
    {
        int group = MaxGroupSize;
        int grid = (int)Math.Clamp(LaunchMath.CeilDiv(length, group), 1, GridStrideGroups);
        return new KernelConfig(grid, group);
    }

    #endregion

    #region Kernel loading

    /// <summary>A kernel generic over a size struct: each instantiation is compiled on first use and cached.</summary>
    private sealed class SizedKernel<TAction, TLauncher>
        where TAction : Delegate
        where TLauncher : Delegate
    {
        private readonly BoftKernels owner;
        private readonly MethodInfo definition;
        private readonly Func<TAction, TLauncher> load;
        private readonly Type[] extraTypes;
        private readonly Dictionary<int, TLauncher> launchers = [];

        /// <param name="owner">The kernels the launchers belong to.</param>
        /// <param name="type">The class holding the kernel.</param>
        /// <param name="name">The generic kernel method (its first type parameter is the size struct).</param>
        /// <param name="load">Loads a closed instantiation on the accelerator.</param>
        /// <param name="extraTypes">The kernel's further type arguments (storage type and codec), after the size struct.</param>
        public SizedKernel(BoftKernels owner, Type type, string name, Func<TAction, TLauncher> load, params Type[] extraTypes)
        {
            this.extraTypes = extraTypes;
            this.owner = owner;
            definition = type.GetMethod(name, BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
                ?? throw new MissingMethodException(type.FullName, name);
            this.load = load;
        }

        public TLauncher For(int size)
        {
            owner.ThrowIfDisposed();
            int key = KernelSizes.CacheKey(size);
            if (!launchers.TryGetValue(key, out TLauncher? launcher))
            {
                MethodInfo method = definition.MakeGenericMethod([KernelSizes.For(size), .. extraTypes]);
                launcher = load((TAction)method.CreateDelegate(typeof(TAction)));
                launchers[key] = launcher;
            }
            return launcher;
        }
    }

    #endregion
}
