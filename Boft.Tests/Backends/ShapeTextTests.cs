// The argument checks run on every op call, so the descriptions their messages use are deferred (ShapeText): a passing
// check must not format (or allocate) anything, and a failing one must say exactly what the eager text said.

using Boft.Backends;
using Boft.Kernels.Simd;

namespace Boft.Tests.BackendOps;

[TestFixture]
public sealed class ShapeTextTests
{
    private static readonly CayleyShape Cayley = new BoftConfig(64, BlockSize: 8, FactorCount: 2).Resolve().Cayley;
    private static readonly RotationShape Rotation = new BoftConfig(64, BlockSize: 8, FactorCount: 2).Resolve().Rotation;

    [Test]
    public void PassingChecks_AllocateNothing()
    {
        using var backend = new SimdBackend();
        using Tensor parameters = backend.Allocate(Cayley.ParameterBlockCount, Cayley.ParameterBlockLength);
        using Tensor rows = backend.Allocate(4, 64);
        void Checks()
        {
            ShapeChecks.Length("parameters", ShapeChecks.ShapeOf(parameters), parameters.Length, Cayley.ParametersLength, ShapeChecks.CayleyParametersShape(Cayley));
            ShapeChecks.Length("blocks", ShapeChecks.Flat(4), 4, 4, ShapeChecks.RotationBlocksShape(Rotation));
            ShapeChecks.LastDimension("input", rows.Shape, 64, ShapeChecks.RotationRowsReason(Rotation));
            ShapeChecks.SameShape(true, "output", ShapeChecks.ShapeOf(rows), "input", ShapeChecks.DeferredRowsOf(256, 64));
            ShapeChecks.Length("scale", ShapeChecks.Flat(64), 64, 64, ShapeChecks.PerColumnShape(64, rows));
            ShapeChecks.Length("bias", ShapeChecks.Flat(64), 64, 64, ShapeChecks.PerColumnShape(64, "input", 256));
        }

        Checks(); // JIT and static-lambda caches
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
            Checks();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero, "a passing argument check formatted or allocated a message part");
    }

    [Test]
    public void FailingChecks_FormatTheDescriptionsInTheMessage()
    {
        using var backend = new SimdBackend();
        using Tensor weight = backend.Allocate(3, 64);
        var error = Assert.Throws<ArgumentException>(() =>
            ShapeChecks.Length("parameters", ShapeChecks.ShapeOf(weight), weight.Length, Cayley.ParametersLength, ShapeChecks.CayleyParametersShape(Cayley)))!;
        Assert.That(error.Message, Does.StartWith($"parameters has shape [3, 64] (192 elements) but [{Cayley.ParameterBlockCount}, {Cayley.ParameterBlockLength}] for {Cayley} needs {Cayley.ParametersLength} elements."));

        Assert.Multiple(() =>
        {
            Assert.That(ShapeChecks.CayleyBlocksShape(Cayley).ToString(), Is.EqualTo($"[{Cayley.BlockCount}, 8, 8] for {Cayley}"));
            Assert.That(ShapeChecks.MaskShape(Cayley).ToString(), Is.EqualTo($"[{Cayley.BlockCount}] (one value per block) for {Cayley}"));
            Assert.That(ShapeChecks.RotationBlocksShape(Rotation).ToString(), Is.EqualTo($"[2, {Rotation.BlockCount}, 8, 8] for {Rotation}"));
            Assert.That(ShapeChecks.RotationRowsReason(Rotation).ToString(), Is.EqualTo($"the rotation {Rotation} has d = 64"));
            Assert.That(ShapeChecks.PerColumnShape(64, weight).ToString(), Is.EqualTo("[64] (one per column of [3, 64])"));
            Assert.That(ShapeChecks.PerColumnShape(64, "input", 192).ToString(), Is.EqualTo("[64] (one per column of input [3, 64])"));
            Assert.That(ShapeChecks.PerRowShape(3, weight).ToString(), Is.EqualTo("[3] (one per row of weight [3, 64])"));
            Assert.That(ShapeChecks.PerRowShape(3, 64).ToString(), Is.EqualTo("[3] (one per row of weight [3, 64])"));
            Assert.That(ShapeChecks.LabelsShape(3, weight).ToString(), Is.EqualTo("[3] (one label per row of logits [3, 64])"));
            Assert.That(ShapeChecks.LabelsShape(3, 64).ToString(), Is.EqualTo("[3] (one label per row of logits [3, 64])"));
            Assert.That(ShapeChecks.LikeShape(weight, "parameters").ToString(), Is.EqualTo("[3, 64] like parameters"));
            Assert.That(ShapeChecks.LikeShape(192, "parameters").ToString(), Is.EqualTo("[192] like parameters"));
            Assert.That(ShapeChecks.WeightReason("weight", weight).ToString(), Is.EqualTo("weight has shape [3, 64]"));
            Assert.That(ShapeChecks.WeightReason("weight", 3, 64).ToString(), Is.EqualTo("weight has shape [3, 64]"));
            Assert.That(ShapeChecks.DeferredRowsOf(190, 64).ToString(), Is.EqualTo("[190]"));
            Assert.That(((ShapeText)"written out").ToString(), Is.EqualTo("written out"));
        });
    }
}
