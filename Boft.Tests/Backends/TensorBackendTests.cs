// Tensor lifetime and ownership rules on every registered backend: zero-filled allocation, upload/download round trips,
// length checks, disposed tensors and backends, and tensors passed to a backend that does not own them.

using Boft.Backends;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.BackendOps;

[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.All))]
public sealed class TensorBackendTests(BackendCase backendCase) : BackendTestBase(backendCase)
{
    [Test]
    public void Allocate_IsZeroFilled_AndKeepsItsShape()
    {
        using Tensor t = Backend.Allocate(3, 1, 5);
        Assert.That(t.ToArray(), Is.All.EqualTo(0f));
        Assert.That(t.Shape.ToArray(), Is.EqualTo(new[] { 3, 1, 5 }));
        Assert.That(t.Length, Is.EqualTo(15));
        Assert.That(t.Backend, Is.SameAs(Backend));
    }

    [Test]
    public void Upload_RoundTrips()
    {
        float[] values = Enumerable.Range(0, 37).Select(i => i * 0.25f - 3).ToArray();
        using Tensor t = Backend.Upload(values, 37);
        Assert.That(t.ToArray(), Is.EqualTo(values).AsCollection);
    }

    [Test]
    public void Upload_ThrowsForMismatchedLength()
    {
        var e = Assert.Throws<ArgumentException>(() => Backend.Upload(new float[5], 2, 3))!;
        Assert.That(e.ParamName, Is.EqualTo("source"));
        Assert.That(e.Message, Does.Contain("[2, 3]"));
    }

    [Test]
    public void Allocate_ThrowsForNegativeDimension() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Backend.Allocate(2, -1));

    [Test]
    public void Op_ThrowsForDisposedTensor()
    {
        Tensor t = Backend.Allocate(4);
        t.Dispose();
        using Tensor other = Backend.Allocate(4);
        Assert.Throws<ObjectDisposedException>(() => Backend.Copy(t, other));
        Assert.Throws<ObjectDisposedException>(() => t.ToArray());
    }

    [Test]
    public void Op_ThrowsForTensorOfAnotherBackend()
    {
        using BoftBackend second = Case.Create();
        using Tensor mine = Backend.Allocate(4);
        using Tensor theirs = second.Allocate(4);
        var e = Assert.Throws<BackendMismatchException>(() => Backend.Copy(theirs, mine))!;
        Assert.That(e.Message, Does.StartWith("source ([4]) belongs to backend"));
        // Both backends have the same Name; the message tells them apart by instance.
        string[] instances = System.Text.RegularExpressions.Regex.Matches(e.Message, @"instance #(\d+)").Select(m => m.Groups[1].Value).ToArray();
        Assert.That(instances, Has.Length.EqualTo(2).And.Unique, e.Message);
        RotationShape shape = new BoftConfig(8, BlockSize: 2, FactorCount: 2).Resolve().Rotation;
        using Tensor x = Backend.Allocate(1, 8);
        using Tensor blocks = second.Allocate(shape.BlocksLength);
        Assert.Throws<BackendMismatchException>(() => Backend.Rotate(shape, x, blocks, false, x));
    }

    [Test]
    public void Op_ValidatesBeforeAnyWork()
    {
        // Smoke test of the contract's validation on this backend; the full table of bad arguments runs once, in
        // BadArgumentTests (the checks are the base class's non-virtual code).
        RotationShape shape = new BoftConfig(16, BlockSize: 4, FactorCount: 2).Resolve().Rotation;
        using Tensor x = Backend.Upload(Enumerable.Repeat(1f, 48).ToArray(), 3, 16);
        using Tensor blocks = Backend.Allocate(shape.BlocksLength);
        using Tensor y = Backend.Allocate(4, 16);
        Backend.Fill(y, float.NaN);
        var e = Assert.Throws<ArgumentException>(() => Backend.Rotate(shape, x, blocks, false, y))!;
        Assert.That(e.ParamName, Is.EqualTo("output"));
        Assert.That(e.Message, Does.Contain("[4, 16]").And.Contain("[3, 16]"));
        Assert.That(y.ToArray(), Is.All.NaN, "nothing may run before the exception");
    }

    [Test]
    public void Op_ThrowsForDisposedBackend()
    {
        BoftBackend backend = Case.Create();
        Tensor t = backend.Allocate(4);
        backend.Dispose();
        Assert.Throws<ObjectDisposedException>(() => backend.Fill(t, 1f));
        Assert.Throws<ObjectDisposedException>(() => backend.Allocate(2));
        Assert.Throws<ObjectDisposedException>(() => t.ToArray());
    }
}
