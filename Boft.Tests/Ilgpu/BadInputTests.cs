// The pipeline API's host-side validation: every documented exception is thrown before any launch, with the argument named
// and both shapes in the message; views, streams and workspaces of another accelerator are rejected; nothing works after
// Dispose. Runs on every ILGPU device (nothing is launched, so it is cheap even on the simulators).

using Boft.Backends;
using Boft.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

using Boft.Tests.Infrastructure;

namespace Boft.Tests.Ilgpu;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.Ilgpu))]
public sealed class BadInputTests(BackendCase backendCase) : IlgpuKernelTestBase(backendCase)
{
    private static readonly RotationShape Rotation = new(16, 2, 4, 4, new ButterflyPermutations(16, 2, 4));
    private static readonly CayleyShape Cayley = new(3, 2, SkewKind.HalfDifference, null, shared: false);
    private IlgpuBackend? other;

    /// <summary>A second accelerator (a fresh CPU simulator) to own foreign views and streams.</summary>
    private IlgpuBackend Other => other ??= IlgpuBackend.CreateCpuSimulator(4);

    [OneTimeTearDown]
    public void DisposeOther() => other?.Dispose();

    [Test]
    public void CayleyForward_ThrowsForMismatchedBlocks_NamingArgumentAndShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Kernels.CayleyForward(Cayley, Zeros(12), default, Zeros(13)));
        Assert.That(e!.ParamName, Is.EqualTo("blocks"));
        Assert.That(e.Message, Does.Contain("blocks has shape [13] (13 elements)").And.Contain("[3, 2, 2]").And.Contain("12"));
    }

    [Test]
    public void CayleyForward_ThrowsForMismatchedMask() =>
        Assert.That(() => Kernels.CayleyForward(Cayley, Zeros(12), Zeros(2), Zeros(12)),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("identityMask").And.Message.Contain("[3]"));

    [Test]
    public void CayleyBackward_ThrowsForMaskWithSharedExactBlock()
    {
        var shared = new CayleyShape(3, 4, SkewKind.PackedUpper, null, shared: true);
        Assert.That(() => Kernels.CayleyBackward(shared, Zeros(6), Zeros(48), Zeros(48), Zeros(3), Zeros(6)),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("identityMask"));
    }

    [Test]
    public void Rotate_ThrowsForMismatchedOutput_NamingArgumentAndShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Kernels.Rotate(Rotation, Zeros(64), Zeros(Rotation.BlocksLength), false, Zeros(48)));
        Assert.That(e!.ParamName, Is.EqualTo("output"));
        Assert.That(e.Message, Does.Contain("output has shape [3, 16] but input has shape [4, 16]"));
    }

    [Test]
    public void Rotate_ThrowsForInputThatIsNotWholeRows() =>
        Assert.That(() => Kernels.Rotate(Rotation, Zeros(20), Zeros(Rotation.BlocksLength), false, Zeros(20)),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("input").And.Message.Contain("rows of 16"));

    [Test]
    public void Rotate_ThrowsForMismatchedBlocks_NamingShape()
    {
        var e = Assert.Throws<ArgumentException>(() => Kernels.Rotate(Rotation, Zeros(32), Zeros(31), false, Zeros(32)));
        Assert.That(e!.ParamName, Is.EqualTo("blocks"));
        Assert.That(e.Message, Does.Contain("[2, 4, 4, 4]").And.Contain("31"));
    }

    [Test]
    public void RotateBackward_ThrowsWhenGradInputAliasesInput()
    {
        ArrayView<float> x = Zeros(32);
        Assert.That(() => Kernels.RotateBackward(Rotation, x, Zeros(Rotation.BlocksLength), Zeros(32), x, Zeros(Rotation.BlocksLength)),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("gradInput"));
    }

    [Test]
    public void Linear_ThrowsForMismatchedWeight() =>
        Assert.That(() => Kernels.Linear(Zeros(12), Zeros(11), 4, 3, Zeros(9)),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("weight").And.Message.Contain("[3, 4]"));

    [Test]
    public void ScaleBias_ThrowsForMismatchedBias() =>
        Assert.That(() => Kernels.ScaleBias(Zeros(12), 4, default, Zeros(3), Zeros(12)),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("bias").And.Message.Contain("[4]").And.Message.Contain("[3, 4]"));

    [Test]
    public void MseLoss_ThrowsForMismatchedTarget() =>
        Assert.That(() => Kernels.MseLoss(Zeros(5), Zeros(6), default), Throws.ArgumentException.With.Property("ParamName").EqualTo("target"));

    [Test]
    public void SgdStep_ThrowsForMissingMomentumBuffer() =>
        Assert.That(() => Kernels.SgdStep(Zeros(5), Zeros(5), default, new SgdSettings(0.1, Momentum: 0.9), true),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("momentumBuffer"));

    [Test]
    public void Rotate_ThrowsForDefaultRequiredView() =>
        Assert.That(() => Kernels.Rotate(Rotation, default, Zeros(Rotation.BlocksLength), false, Zeros(16)),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("input"));

    [Test]
    public void Rotate_ThrowsForViewFromAnotherAccelerator()
    {
        using MemoryBuffer1D<float, Stride1D.Dense> foreign = Other.Accelerator.Allocate1D<float>(32);
        var e = Assert.Throws<BackendMismatchException>(() => Kernels.Rotate(Rotation, foreign.View, Zeros(Rotation.BlocksLength), false, Zeros(32)));
        Assert.That(e!.Message, Does.StartWith("input ([32]) belongs to accelerator").And.Contain("instance #"));
        Assert.That(e, Is.InstanceOf<InvalidOperationException>());
    }

    [Test]
    public void Rotate_ThrowsForStreamFromAnotherAccelerator()
    {
        using AcceleratorStream foreign = Other.Accelerator.CreateStream();
        Assert.That(() => Kernels.Rotate(Rotation, Zeros(32), Zeros(Rotation.BlocksLength), false, Zeros(32), foreign),
            Throws.InstanceOf<BackendMismatchException>().With.Message.StartWith("stream belongs"));
    }

    [Test]
    public void RotateBackward_ThrowsForForeignOrTooSmallWorkspace()
    {
        var options = new BoftKernelOptions { SharedMemoryBytes = 0, ReductionChunkCount = 2 };
        BoftKernels kernels = KernelsWith(options);
        long needed = kernels.RotateBackwardWorkspaceLength(Rotation, 4);
        Assert.That(needed, Is.GreaterThan(0));
        using BoftWorkspace foreign = Other.Kernels.CreateWorkspace(needed);
        Assert.That(() => kernels.RotateBackward(Rotation, Zeros(64), Zeros(Rotation.BlocksLength), Zeros(64), Zeros(64), Zeros(Rotation.BlocksLength), null, foreign),
            Throws.InstanceOf<BackendMismatchException>());
        using BoftWorkspace small = kernels.CreateWorkspace(needed - 1);
        Assert.That(() => kernels.RotateBackward(Rotation, Zeros(64), Zeros(Rotation.BlocksLength), Zeros(64), Zeros(64), Zeros(Rotation.BlocksLength), null, small),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("workspace").And.Message.Contain(needed.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Test]
    public void AnyOp_ThrowsAfterDispose()
    {
        var kernels = Accelerator.CreateBoftKernels();
        kernels.Dispose();
        kernels.Dispose(); // idempotent
        Assert.That(kernels.IsDisposed, Is.True);
        Assert.That(() => kernels.Rotate(Rotation, Zeros(16), Zeros(Rotation.BlocksLength), false, Zeros(16)), Throws.InstanceOf<ObjectDisposedException>());
        Assert.That(() => kernels.MseLoss(Zeros(4), Zeros(4), default), Throws.InstanceOf<ObjectDisposedException>());
        Assert.That(() => kernels.CreateWorkspace(4), Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public void Rotate_ThrowsForDisposedBuffer()
    {
        MemoryBuffer1D<float, Stride1D.Dense> buffer = Accelerator.Allocate1D<float>(16);
        ArrayView<float> view = buffer.View;
        buffer.Dispose();
        Assert.That(() => Kernels.Rotate(Rotation, view, Zeros(Rotation.BlocksLength), false, Zeros(16)),
            Throws.InstanceOf<ObjectDisposedException>().With.Message.Contain("input"));
    }

    [Test]
    public void Backend_ThrowsForTensorOfAnotherBackendAndAfterDispose()
    {
        using Tensor foreign = Other.Allocate(2, 16);
        using Tensor blocks = Backend.Allocate(Rotation.BlocksLength);
        using Tensor output = Backend.Allocate(2, 16);
        Assert.That(() => Backend.Rotate(Rotation, foreign, blocks, false, output), Throws.InstanceOf<BackendMismatchException>());
        var tensor = (IlgpuTensor)Backend.Allocate(3);
        tensor.Dispose();
        Assert.That(() => tensor.View, Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public void Wrap_ThrowsForForeignDefaultOrMismatchedViews_AndTheWrapperOwnsNothing()
    {
        using MemoryBuffer1D<float, Stride1D.Dense> foreign = Other.Accelerator.Allocate1D<float>(8);
        var mismatch = Assert.Throws<BackendMismatchException>(() => Backend.Wrap(foreign.View, 2, 4))!;
        Assert.That(mismatch.Message, Does.StartWith("view ([8]) belongs to accelerator"));
        Assert.That(() => Backend.Wrap(default(ArrayView<float>), 0), Throws.ArgumentException.With.Property("ParamName").EqualTo("view"));
        ArrayView<float> mine = Zeros(8);
        var length = Assert.Throws<ArgumentException>(() => Backend.Wrap(mine, 3, 4))!;
        Assert.That(length.Message, Does.Contain("[8] (8 elements)").And.Contain("[3, 4] needs 12"));
        using IlgpuTensor wrapped = Backend.Wrap(mine, 2, 4);
        Assert.That(wrapped.OwnsMemory, Is.False);
        Assert.That(() => wrapped.Buffer, Throws.InvalidOperationException);
        using var owned = (IlgpuTensor)Backend.Allocate(2, 4);
        Assert.That(owned.OwnsMemory, Is.True);
    }

    [Test]
    public void Factories_ThrowClearExceptions()
    {
        Assert.That(() => IlgpuBackend.CreateCpuSimulator(3), Throws.InstanceOf<ArgumentOutOfRangeException>());
        if (IlgpuBackend.IsCudaAvailable)
            Assert.Pass("A CUDA device is present: CreateCuda succeeds here (covered by the Cuda fixtures).");
        var e = Assert.Throws<NotSupportedException>(() => IlgpuBackend.CreateCuda());
        Assert.That(e!.Message, Does.Contain("No CUDA device"));
    }
}
