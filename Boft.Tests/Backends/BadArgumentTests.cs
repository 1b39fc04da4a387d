// Bad arguments of the backend contract, table-driven and run once: the checks live in BoftBackend's non-virtual public
// methods (Boft.Core/Backends/BoftBackend.*.cs, messages in ShapeChecks.cs), so running every case on every backend would
// exercise the same code five times. Each case runs on the SIMD backend (the cheapest real backend); one smoke test per
// backend (TensorBackendTests.Op_ValidatesBeforeAnyWork) checks that the same validation fires there before any work.
// Backend-specific checks stay in the per-backend suites (labels checked by the loss kernels, tensor lifetime).
// Each case names the argument (ParamName) and, for shape errors, both shapes (message fragments).

using Boft.Backends;
using Boft.Kernels.Simd;
using Boft.Layers;

namespace Boft.Tests.BackendOps;

/// <summary>One bad call: the exception type, the argument it must name (or null) and fragments its message must contain.</summary>
/// <param name="Name">The test name.</param>
/// <param name="Exception">The exact exception type (ArgumentOutOfRangeException is not accepted for ArgumentException).</param>
/// <param name="ParamName">The argument the exception must name, or null to not check it.</param>
/// <param name="Fragments">Substrings of the message.</param>
/// <param name="Call">Makes the call; allocate its tensors with the given function (they are disposed after the test).</param>
public sealed record BadCall(string Name, Type Exception, string? ParamName, string[] Fragments, Action<BoftBackend, Func<int[], Tensor>> Call)
{
    public override string ToString() => Name;
}

[TestFixture]
public sealed class BadArgumentTests
{
    private static readonly RotationShape Rotation = new BoftConfig(16, BlockSize: 4, FactorCount: 2).Resolve().Rotation;
    private SimdBackend backend = null!;

    [OneTimeSetUp]
    public void CreateBackend() => backend = new SimdBackend();

    [OneTimeTearDown]
    public void DisposeBackend() => backend.Dispose();

    private static CayleyShape BoftCayley(int blockCount, int b) => new(blockCount, b, SkewKind.HalfDifference, null, shared: false);

    private static CayleyShape OftCayley(int blockCount, int b, bool shared = false) => new(blockCount, b, SkewKind.PackedUpper, null, shared);

    private static BadCall Arg(string name, string? param, string[] fragments, Action<BoftBackend, Func<int[], Tensor>> call) =>
        new(name, typeof(ArgumentException), param, fragments, call);

    private static BadCall Range(string name, string? param, Action<BoftBackend, Func<int[], Tensor>> call) =>
        new(name, typeof(ArgumentOutOfRangeException), param, [], call);

    /// <summary>The table.</summary>
    public static IEnumerable<TestCaseData> Cases()
    {
        BadCall[] cases =
        [
            // Cayley
            Arg("CayleyForward_MismatchedParameters", "parameters", ["[2, 15]", "[2, 16]"], (b, t) => b.CayleyForward(BoftCayley(2, 4), t([2, 15]), null, t([2, 4, 4]))),
            Arg("CayleyForward_MismatchedBlocks", "blocks", ["[3, 4, 4]", "[2, 4, 4]"], (b, t) => b.CayleyForward(BoftCayley(2, 4), t([2, 16]), null, t([3, 4, 4]))),
            Arg("CayleyForward_MismatchedMask", "identityMask", ["[3]", "[2]"], (b, t) => b.CayleyForward(BoftCayley(2, 4), t([2, 16]), t([3]), t([2, 4, 4]))),
            Arg("CayleyBackward_MismatchedGradBlocks", "gradBlocks", ["[2, 4, 3]", "[2, 4, 4]"],
                (b, t) => b.CayleyBackward(BoftCayley(2, 4), t([2, 16]), t([2, 4, 4]), t([2, 4, 3]), null, t([2, 16]))),
            Arg("CayleyBackward_MismatchedGradParameters", "gradParameters", ["[2, 16]", "[2, 6]"],
                (b, t) => b.CayleyBackward(OftCayley(2, 4), t([2, 6]), t([2, 4, 4]), t([2, 4, 4]), null, t([2, 16]))),
            Arg("CayleyBackward_MaskWithSharedExactBlock", "identityMask", ["shared block"],
                (b, t) => b.CayleyBackward(OftCayley(3, 4, shared: true), t([1, 6]), t([3, 4, 4]), t([3, 4, 4]), t([3]), t([1, 6]))),
            Arg("CoftProject_BoftShape", "shape", ["packed"], (b, t) => b.CoftProject(BoftCayley(2, 4), 0.1, t([2, 16]))),
            Range("CoftProject_NegativeRadius", "radius", (b, t) => b.CoftProject(OftCayley(2, 4), -1.0, t([2, 6]))),
            Range("CoftProject_NaNRadius", "radius", (b, t) => b.CoftProject(OftCayley(2, 4), double.NaN, t([2, 6]))),
            Range("CoftProject_InfiniteRadius", "radius", (b, t) => b.CoftProject(OftCayley(2, 4), double.PositiveInfinity, t([2, 6]))),
            new("CayleyForward_NullShape", typeof(ArgumentNullException), "shape", [], (b, t) => b.CayleyForward(null!, t([4]), null, t([4]))),
            // Rotation and merge
            Arg("Rotate_MismatchedFeatureCount", "input", ["[3, 8]", "16"], (b, t) => b.Rotate(Rotation, t([3, 8]), t([Rotation.BlocksLength]), false, t([3, 8]))),
            Arg("Rotate_MismatchedOutput", "output", ["[4, 16]", "[3, 16]"], (b, t) => b.Rotate(Rotation, t([3, 16]), t([Rotation.BlocksLength]), false, t([4, 16]))),
            Arg("Rotate_MismatchedBlocks", "blocks", ["[2, 4, 4, 3]", "[2, 4, 4, 4]"], (b, t) => b.Rotate(Rotation, t([3, 16]), t([2, 4, 4, 3]), false, t([3, 16]))),
            Arg("RotateBackward_GradInputAliasingInput", "gradInput", ["alias"], (b, t) =>
            {
                Tensor x = t([3, 16]);
                b.RotateBackward(Rotation, x, t([Rotation.BlocksLength]), t([3, 16]), x, t([Rotation.BlocksLength]));
            }),
            Arg("RotateBackward_MismatchedGradOutput", "gradOutput", ["[2, 16]", "[3, 16]"],
                (b, t) => b.RotateBackward(Rotation, t([3, 16]), t([Rotation.BlocksLength]), t([2, 16]), t([3, 16]), t([Rotation.BlocksLength]))),
            Arg("RotateBackward_MismatchedGradBlocks", "gradBlocks", ["[127]", "[2, 4, 4, 4]"],
                (b, t) => b.RotateBackward(Rotation, t([3, 16]), t([Rotation.BlocksLength]), t([3, 16]), t([3, 16]), t([Rotation.BlocksLength - 1]))),
            Arg("Merge_MismatchedScale", "scale", ["[4]", "[5, 16]"], (b, t) => b.Merge(Rotation, t([5, 16]), t([Rotation.BlocksLength]), t([4]), t([5, 16]))),
            Arg("Merge_MismatchedOutput", "output", ["[5, 8]", "[5, 16]"], (b, t) => b.Merge(Rotation, t([5, 16]), t([Rotation.BlocksLength]), null, t([5, 8]))),
            // Scale and bias, linear
            Arg("ScaleBias_MismatchedBias", "bias", ["[4]", "[3, 5]"], (b, t) => b.ScaleBias(t([3, 5]), null, t([4]), t([3, 5]))),
            Arg("ScaleBiasBackward_MismatchedGradScale", "gradScale", ["[6]", "[3, 5]"], (b, t) => b.ScaleBiasBackward(t([3, 5]), null, t([3, 5]), null, t([6]), null)),
            Arg("Linear_MismatchedInput", "input", ["[3, 7]", "[5, 8]"], (b, t) => b.Linear(t([3, 7]), t([5, 8]), t([3, 5]))),
            Arg("Linear_MismatchedOutput", "output", ["[3, 6]", "[3, 8]"], (b, t) => b.Linear(t([3, 8]), t([5, 8]), t([3, 6]))),
            Arg("Linear_NonMatrixWeight", "weight", ["[40]"], (b, t) => b.Linear(t([3, 8]), t([40]), t([3, 5]))),
            Arg("LinearBackwardInput_MismatchedGradInput", "gradInput", ["[4, 8]", "[3, 5]"], (b, t) => b.LinearBackwardInput(t([3, 5]), t([5, 8]), t([4, 8]))),
            Arg("LinearBackwardWeight_MismatchedInput", "input", ["[2, 8]", "[3, 5]"], (b, t) => b.LinearBackwardWeight(t([3, 5]), t([2, 8]), t([5, 8]))),
            // Activations and losses
            Arg("Relu_MismatchedOutput", "output", ["[4, 3]", "[3, 4]"], (b, t) => b.Relu(t([3, 4]), t([4, 3]))),
            Arg("ReluBackward_MismatchedGradInput", "gradInput", ["[12]", "[3, 4]"], (b, t) => b.ReluBackward(t([3, 4]), t([3, 4]), t([12]))),
            Arg("MseLoss_MismatchedTarget", "target", ["[4, 3]", "[3, 4]"], (b, t) => b.MseLoss(t([3, 4]), t([4, 3]), null)),
            Arg("MseLoss_EmptyPrediction", "prediction", ["empty"], (b, t) => b.MseLoss(t([0, 4]), t([0, 4]), null)),
            Arg("SoftmaxCrossEntropy_MismatchedLabels", "labels", ["[2]", "[3, 4]"], (b, t) => b.SoftmaxCrossEntropy(t([3, 4]), t([2]), null)),
            // Optimizers and utilities
            Range("SgdStep_NegativeLearningRate", "LearningRate", (b, t) => b.SgdStep(t([4]), t([4]), null, new SgdSettings(-0.1), true)),
            Arg("SgdStep_NesterovWithoutMomentum", "Nesterov", [], (b, t) => b.SgdStep(t([4]), t([4]), null, new SgdSettings(0.1, Nesterov: true), true)),
            Arg("SgdStep_MissingMomentumBuffer", "momentumBuffer", ["0.9"], (b, t) => b.SgdStep(t([4]), t([4]), null, new SgdSettings(0.1, Momentum: 0.9), true)),
            Arg("SgdStep_MismatchedGradients", "gradients", ["[5]", "[4]"], (b, t) => b.SgdStep(t([4]), t([5]), null, new SgdSettings(0.1), true)),
            new("SgdStep_NullSettings", typeof(ArgumentNullException), "settings", [], (b, t) => b.SgdStep(t([4]), t([4]), null, null!, true)),
            Range("AdamStep_Beta1One", null, (b, t) => b.AdamStep(t([4]), t([4]), t([4]), t([4]), new AdamSettings(1e-3, 1.0, 0.999), 1, 1e-3)),
            Range("AdamStep_NegativeBeta2", null, (b, t) => b.AdamStep(t([4]), t([4]), t([4]), t([4]), new AdamSettings(1e-3, 0.9, -0.1), 1, 1e-3)),
            Range("AdamStep_StepZero", "step", (b, t) => b.AdamStep(t([4]), t([4]), t([4]), t([4]), new AdamSettings(), 0, 1e-3)),
            Arg("AdamStep_MismatchedSecondMoment", "secondMoment", ["[5]", "[4]"], (b, t) => b.AdamStep(t([4]), t([4]), t([4]), t([5]), new AdamSettings(), 1, 1e-3)),
            Range("AdamStep_NegativeLearningRate", "learningRate", (b, t) => b.AdamStep(t([4]), t([4]), t([4]), t([4]), new AdamSettings(), 1, -1e-3)),
            Range("AdamStep_NaNLearningRate", "learningRate", (b, t) => b.AdamStep(t([4]), t([4]), t([4]), t([4]), new AdamSettings(), 1, double.NaN)),
            Arg("Copy_MismatchedLength", "destination", ["[5]", "[4]"], (b, t) => b.Copy(t([4]), t([5]))),
            new("Copy_NullSource", typeof(ArgumentNullException), "source", [], (b, t) => b.Copy(null!, t([4]))),
        ];
        foreach (BadCall badCall in cases)
            yield return new TestCaseData(badCall).SetName(badCall.Name);
    }

    [TestCaseSource(nameof(Cases))]
    public void Throws_BeforeAnyWork_NamingTheArgument(BadCall badCall)
    {
        var tensors = new List<Tensor>();
        try
        {
            Tensor Allocate(int[] shape)
            {
                Tensor tensor = backend.Allocate(shape);
                backend.Fill(tensor, float.NaN); // a call that did any work before throwing would overwrite some of these
                tensors.Add(tensor);
                return tensor;
            }
            Exception e = Assert.Catch(() => badCall.Call(backend, Allocate))!;
            Assert.That(e, Is.Not.Null, "no exception");
            Assert.That(e.GetType(), Is.EqualTo(badCall.Exception), e.ToString());
            if (badCall.ParamName is not null)
                Assert.That(((ArgumentException)e).ParamName, Is.EqualTo(badCall.ParamName));
            foreach (string fragment in badCall.Fragments)
                Assert.That(e.Message, Does.Contain(fragment));
            foreach (Tensor tensor in tensors)
                Assert.That(tensor.ToArray(), Is.All.NaN, $"{badCall.Name}: a tensor was written before the exception");
        }
        finally
        {
            foreach (Tensor tensor in tensors)
                tensor.Dispose();
        }
    }

    [Test]
    public void Mismatch_NamesBothBackendInstances_EvenWithTheSameName()
    {
        // Two SIMD backends used to give "input belongs to backend 'Simd' but was passed to backend 'Simd'".
        using var other = new SimdBackend();
        using Tensor foreign = other.Allocate(1, 16);
        using Tensor blocks = backend.Allocate(Rotation.BlocksLength);
        using Tensor output = backend.Allocate(1, 16);
        var e = Assert.Throws<BackendMismatchException>(() => backend.Rotate(Rotation, foreign, blocks, false, output))!;
        Assert.That(e.Message, Does.StartWith("input ([1, 16]) belongs to backend 'Simd' (instance #"));
        string[] instances = System.Text.RegularExpressions.Regex.Matches(e.Message, @"instance #(\d+)").Select(m => m.Groups[1].Value).ToArray();
        Assert.That(instances, Has.Length.EqualTo(2));
        Assert.That(instances[0], Is.Not.EqualTo(instances[1]), e.Message);
        Assert.That(e, Is.InstanceOf<InvalidOperationException>());
    }

    [Test]
    public void LayerBackward_WithDisposedSavedInput_NamesTheInputNotGradOutput()
    {
        const int d = 16, n = 4, rows = 2;
        using var layer = new BoftLinear(backend, new BoftConfig(d, BlockSize: 4, FactorCount: 2), n, new float[n * d]);
        Tensor x = backend.Allocate(rows, d);
        using Tensor y = backend.Allocate(rows, n);
        using Tensor gradY = backend.Allocate(rows, n);
        layer.Forward(x, y);
        x.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => layer.Backward(gradY, null))!;
        Assert.That(e.ObjectName, Is.EqualTo("input"));
        Assert.That(e.Message, Does.Contain("last Forward").And.Contain("[2, 16]").And.Not.Contain("gradOutput"));
    }
}
