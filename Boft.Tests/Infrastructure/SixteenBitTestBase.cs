// Shared by the 16-bit suites (ops, training ops, layers): the two 16-bit types, a reference backend to compare with, and
// the two ways a backend may lack a 16-bit path. Without the storage it refuses the allocation (NotSupportedException);
// without an op family's path (BoftBackend.HasSixteenBitPath) the op refuses a 16-bit tensor before any work
// (ArgumentException naming the backend and the family). Either refusal is asserted here before the case is ignored, so an
// ignored case still checks that the backend says no rather than computing a wrong answer.

using Boft.Backends;

namespace Boft.Tests.Infrastructure;

/// <summary>A backend fixture for 16-bit tests (see the file header).</summary>
public abstract class SixteenBitTestBase(BackendCase backendCase) : BackendTestBase(backendCase)
{
    /// <summary>bf16 and fp16.</summary>
    protected static readonly ElementType[] SixteenBitTypes = [ElementType.BFloat16, ElementType.Float16];

    private ReferenceBackend? reference;

    /// <summary>The oracle backend (double compute, one rounding at each 16-bit store).</summary>
    protected ReferenceBackend Reference => reference ??= new ReferenceBackend();

    [OneTimeTearDown]
    public void DisposeReference() => reference?.Dispose();

    /// <summary>Ignores the case when the backend has no <paramref name="type"/> storage, after checking that it refuses it.</summary>
    protected void RequireSupport(ElementType type)
    {
        if (Backend.Supports(type))
            return;
        Assert.Throws<NotSupportedException>(() => Backend.Allocate(type, 2, 2), "a backend without the storage refuses the allocation");
        Assert.Ignore($"{Backend.Name} has no {type} storage yet (docs/09_Mixed-precision.md).");
    }

    /// <summary>Ignores the case when the backend lacks <paramref name="type"/> or the 16-bit path of <paramref name="operation"/>,
    /// after checking that the op refuses a 16-bit tensor there.</summary>
    protected void RequirePath(ElementType type, SixteenBitOperation operation)
    {
        RequireSupport(type);
        if (Backend.HasSixteenBitPath(operation))
            return;
        var refused = Assert.Throws<ArgumentException>(() => Probe(operation, type), $"{operation} refuses {type} on {Backend.Name}")!;
        Assert.That(refused.Message, Does.Contain($"no 16-bit {operation} path"));
        Assert.Ignore($"{Backend.Name} has no 16-bit {operation} path yet (docs/09_Mixed-precision.md).");
    }

    /// <summary>The smallest valid call of <paramref name="operation"/> with 16-bit activations.</summary>
    private void Probe(SixteenBitOperation operation, ElementType type)
    {
        var shape = new BoftConfig(8, BlockSize: 2, FactorCount: 1).Resolve().Rotation;
        using Tensor x = Backend.Allocate(type, 2, 8), y = Backend.Allocate(type, 2, 8), w = Backend.Allocate(type, 8, 8);
        using Tensor blocks = Backend.Allocate(shape.FactorCount, shape.BlockCount, 2, 2), bias = Backend.Allocate(8), gradWeight = Backend.Allocate(8, 8);
        using Tensor convWeight = Backend.Allocate(1, 1);
        switch (operation)
        {
            case SixteenBitOperation.Rotation: Backend.Rotate(shape, x, blocks, false, y); break;
            case SixteenBitOperation.Linear: Backend.Linear(x, w, y); break;
            case SixteenBitOperation.LinearBackwardWeight: Backend.LinearBackwardWeight(x, y, gradWeight); break;
            case SixteenBitOperation.ScaleBias: Backend.ScaleBias(x, null, null, y); break;
            case SixteenBitOperation.ScaleBiasWithFloat32Bias: Backend.ScaleBias(x, null, bias, y); break;
            case SixteenBitOperation.Relu: Backend.Relu(x, y); break;
            case SixteenBitOperation.Merge: Backend.Merge(shape, w, blocks, null, w); break;
            case SixteenBitOperation.Conv2d: Backend.Conv2d(new Conv2dShape(1, 1, 1, 1, 2, 4), x, convWeight, null, y); break;
            default: throw new ArgumentOutOfRangeException(nameof(operation), operation, null);
        }
    }
}
