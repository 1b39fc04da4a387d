// Thread safety (docs/08_Guarantees.md): concurrent training calls on one layer and a second Backward for one Forward are
// detected and refused; inference on a shared layer is safe (calls are serialized), and so are layers of their own on one
// SIMD backend.

using Boft.Kernels.Simd;
using Boft.Backends;
using Boft.Layers;

namespace Boft.Tests.Reliability;

[TestFixture]
public sealed class ConcurrencyTests
{
    private static float[] RandomFloats(int seed, int length)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
    }

    private static BoftLinear Layer(SimdBackend backend) =>
        new(backend, new BoftConfig(64, BlockSize: 4, FactorCount: 3), 32, RandomFloats(1, 32 * 64), RandomFloats(2, 32), new AdapterInitialization(false, 3));

    /// <summary>The case: two threads on one layer gave 265 wrong outputs in 4,000 with no error.</summary>
    [Test]
    public void TrainingForward_FromTwoThreads_IsDetected_AndNoOutputIsWrong()
    {
        using var backend = new SimdBackend(SimdBackend.BestWidth, maxDegreeOfParallelism: 1);
        using BoftLinear layer = Layer(backend);
        float[][] inputs = [RandomFloats(10, 8 * 64), RandomFloats(11, 8 * 64)];
        float[][] expected = new float[2][];
        for (int t = 0; t < 2; t++)
        {
            using Tensor x = backend.Upload(inputs[t], 8, 64);
            using Tensor y = backend.Allocate(8, 32);
            layer.Forward(x, y);
            expected[t] = y.ToArray();
        }
        int collisions = 0, wrong = 0, done = 0;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        using var start = new Barrier(2);
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            using Tensor x = backend.Upload(inputs[t], 8, 64);
            using Tensor y = backend.Allocate(8, 32);
            start.SignalAndWait();
            for (int i = 0; Volatile.Read(ref collisions) < 20 && DateTime.UtcNow < deadline; i++)
            {
                try
                {
                    layer.Forward(x, y);
                    Interlocked.Increment(ref done);
                    if (!y.ToArray().AsSpan().SequenceEqual(expected[t]))
                        Interlocked.Increment(ref wrong);
                }
                catch (ConcurrentLayerUseException)
                {
                    Interlocked.Increment(ref collisions);
                }
            }
        })).ToArray();
        foreach (Thread thread in threads)
            thread.Start();
        foreach (Thread thread in threads)
            thread.Join();
        Assert.That(collisions, Is.GreaterThan(0), "overlapping calls are detected");
        Assert.That(wrong, Is.Zero, $"none of the {done} completed forwards is wrong");
    }

    [Test]
    public void ConcurrentUse_MessageSaysWhatToDo()
    {
        using var backend = new SimdBackend(SimdBackend.BestWidth, maxDegreeOfParallelism: 1);
        using BoftLinear layer = Layer(backend);
        using Tensor x = backend.Upload(RandomFloats(10, 8 * 64), 8, 64);
        using Tensor y = backend.Allocate(8, 32);
        Exception? caught = null;
        using var inside = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        // Hold the layer from a second thread: its Forward runs while this thread's Forward enters.
        var holder = new Thread(() =>
        {
            lock (layer.CallGate)
            {
                inside.Set();
                release.Wait();
            }
        });
        holder.Start();
        inside.Wait();
        try
        {
            layer.Forward(x, y);
        }
        catch (ConcurrentLayerUseException e)
        {
            caught = e;
        }
        release.Set();
        holder.Join();
        Assert.That(caught?.Message, Does.Contain("BoftLinear(in 64, out 32).Forward").And.Contain("one layer (or model) per thread").And.Contain("IsTraining = false"));
    }

    /// <summary>The case: Backward twice after one Forward accumulated the gradients twice.</summary>
    [Test]
    public void SecondBackwardForOneForward_IsRefused_AndTheGradientsAreThoseOfOne()
    {
        using var backend = new SimdBackend();
        using BoftLinear layer = Layer(backend);
        using Tensor x = backend.Upload(RandomFloats(10, 8 * 64), 8, 64);
        using Tensor y = backend.Allocate(8, 32);
        using Tensor g = backend.Upload(RandomFloats(12, 8 * 32), 8, 32);
        layer.Forward(x, y);
        layer.Backward(g, null);
        float[] once = layer.BoftR.RequiredGradient.ToArray();
        Assert.That(() => layer.Backward(g, null), Throws.InvalidOperationException.With.Message.Contains("Backward already ran for the last Forward")
            .And.Message.Contains("twice"));
        Assert.That(layer.BoftR.RequiredGradient.ToArray(), Is.EqualTo(once));
        layer.Forward(x, y);
        layer.Backward(g, null); // a new Forward allows the next Backward
    }

    [Test]
    public void InferenceOnASharedLayer_FromFourThreads_IsExact()
    {
        using var backend = new SimdBackend(SimdBackend.BestWidth, maxDegreeOfParallelism: 1);
        using BoftLinear layer = Layer(backend);
        layer.IsTraining = false;
        float[][] inputs = Enumerable.Range(0, 4).Select(t => RandomFloats(20 + t, 8 * 64)).ToArray();
        float[][] expected = inputs.Select(input =>
        {
            using Tensor x = backend.Upload(input, 8, 64);
            using Tensor y = backend.Allocate(8, 32);
            layer.Forward(x, y);
            return y.ToArray();
        }).ToArray();
        int wrong = 0;
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, t =>
        {
            using Tensor x = backend.Upload(inputs[t], 8, 64);
            using Tensor y = backend.Allocate(8, 32);
            for (int i = 0; i < 300; i++)
            {
                layer.Forward(x, y);
                if (!y.ToArray().AsSpan().SequenceEqual(expected[t]))
                    Interlocked.Increment(ref wrong);
            }
        });
        Assert.That(wrong, Is.Zero);
    }

    [Test]
    public void SeparateLayersOnOneSimdBackend_TrainInParallel_AsTheyWouldAlone()
    {
        using var backend = new SimdBackend();
        float[][] alone = new float[2][];
        for (int t = 0; t < 2; t++)
            alone[t] = TrainFewSteps(backend, t);
        float[][] together = new float[2][];
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, t => together[t] = TrainFewSteps(backend, t));
        Assert.That(together, Is.EqualTo(alone));
    }

    private static float[] TrainFewSteps(SimdBackend backend, int seed)
    {
        using BoftLinear layer = Layer(backend);
        using var sgd = new Boft.Training.Sgd(layer.TrainableParameters, new Boft.Backends.SgdSettings(0.05));
        using Tensor x = backend.Upload(RandomFloats(30 + seed, 8 * 64), 8, 64);
        using Tensor target = backend.Upload(RandomFloats(40 + seed, 8 * 32), 8, 32);
        using Tensor y = backend.Allocate(8, 32);
        using Tensor g = backend.Allocate(8, 32);
        for (int step = 0; step < 20; step++)
        {
            sgd.ZeroGrad();
            layer.Forward(x, y);
            backend.MseLoss(y, target, g);
            layer.Backward(g, null);
            sgd.Step();
        }
        return layer.BoftR.Value.ToArray();
    }
}
