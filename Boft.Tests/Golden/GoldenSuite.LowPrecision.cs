// GoldenSuite, low-precision cases (lowp_*, golden README "Low-precision cases"): a BoftLinear/OftLinear whose activations,
// W0 and frozen bias are bfloat16 or float16 and whose parameters are float32 masters, forward and backward, on every
// backend that has the 16-bit path (Reference, Simd, the ILGPU backends). The acceptance rule is the README's, with the bounds precomputed in
// each file's precision.acceptance:
//   max |y − y_answer| ≤ y_max_abs_err, max |grad_x − grad_x_answer| ≤ grad_x_max_abs_err (each the larger of 2× PyTorch's
//   own 16-bit error and 4× the ideal "fp32 compute, one rounding" error), and each parameter gradient within
//   param_grad_rel_tol · max |g_answer|. The 16-bit outputs are widened exactly before the comparison.
// grad_bias is not checked: a trainable bias is a float32 master, which the 16-bit layers do not train yet (the bias is
// frozen here, as PEFT's default bias="none" does).

using System.Text.Json;
using Boft.Backends;
using Boft.Layers;

namespace Boft.Tests.Golden;

public sealed partial class GoldenSuite
{
    private void LowPrecisionLinear(GoldenCase c)
    {
        ElementType type = c.Dtype == "bfloat16" ? ElementType.BFloat16 : ElementType.Float16;
        if (IsFloat64)
            Assert.Ignore($"{c.Name}: low-precision cases run on the backends (the Float64 target checks the float64 oracle functions).");
        if (!Backend.Supports(type))
            Assert.Ignore($"{c.Name}: the {Backend.Name} backend has no {type} path yet (docs/09_Mixed-precision.md).");
        string context = $"{c.Name} on {Case.Name}";
        JsonElement acceptance = c.Precision!.Value.GetProperty("acceptance");
        double yBound = acceptance.GetProperty("y_max_abs_err").GetDouble();
        double gradXBound = acceptance.GetProperty("grad_x_max_abs_err").GetDouble();
        double relTol = acceptance.GetProperty("param_grad_rel_tol").GetDouble();

        int rows = c.RowCount, d = c.FeatureCount, n = c.OutFeatureCount;
        float[] w0 = c.Tensor("W0").ToSingle();
        float[] bias = c.Has("bias") ? c.Tensor("bias").ToSingle() : [];
        using AdapterLinear layer = c.IsBoft
            ? new BoftLinear(Backend, c.BoftConfig, n, w0, bias, activationType: type)
            : new OftLinear(Backend, c.OftConfig, n, w0, bias, activationType: type);
        if (layer is BoftLinear boft)
        {
            boft.BoftR.CopyFrom(c.Tensor("boft_R").ToSingle());
            boft.BoftS.CopyFrom(c.Tensor("boft_s").ToSingle());
        }
        else
        {
            ((OftLinear)layer).Weight.CopyFrom(c.Tensor("weight").ToSingle());
        }
        Assert.That(layer.BaseWeight.Value.ElementType, Is.EqualTo(type), context);
        AssertExactlyRepresentable(w0, type, "W0", context);

        layer.IsTraining = false;
        using Tensor x = Backend.Upload(c.Tensor("x").ToSingle(), type, rows, d);
        AssertExactlyRepresentable(c.Tensor("x").ToSingle(), type, "x", context);
        using Tensor y = Backend.Allocate(type, rows, n);
        layer.Forward(x, y);
        Assert.That(MaxAbsError(y.ToArray(), c.Data("y")), Is.LessThanOrEqualTo(yBound), $"{context}: max |y − y_answer| (acceptance bound {yBound:G3})");

        ZeroGrad(layer);
        using Tensor gradY = Backend.Upload(c.Tensor("upstream_grad").ToSingle(), type, rows, n);
        using Tensor gradX = Backend.Allocate(type, rows, d);
        layer.Backward(gradY, gradX);
        Assert.That(MaxAbsError(gradX.ToArray(), c.Data("grad_x")), Is.LessThanOrEqualTo(gradXBound), $"{context}: max |grad_x − grad_x_answer| (acceptance bound {gradXBound:G3})");
        CheckRelative(layer.Rotations.RequiredGradient.ToArray(), c.Data(c.IsBoft ? "grad_boft_R" : "grad_weight"), relTol, c.IsBoft ? "grad_boft_R" : "grad_weight", context);
        if (layer is BoftLinear b)
            CheckRelative(b.BoftS.RequiredGradient.ToArray(), c.Data("grad_boft_s"), relTol, "grad_boft_s", context);
        Assert.That(layer.Rotations.RequiredGradient.ElementType, Is.EqualTo(ElementType.Float32), $"{context}: parameter gradients are float32 masters");
    }

    private static double MaxAbsError(float[] actual, double[] expected)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length));
        double max = 0;
        for (int i = 0; i < actual.Length; i++)
            max = Math.Max(max, Math.Abs(actual[i] - expected[i]));
        return max;
    }

    private static void CheckRelative(float[] actual, double[] expected, double relTol, string name, string context)
    {
        double scale = expected.Max(Math.Abs);
        double error = MaxAbsError(actual, expected);
        Assert.That(error, Is.LessThanOrEqualTo(relTol * scale), $"{context}: max |{name} − answer| = {error:G3} against {relTol} · max|answer| = {relTol * scale:G3}");
    }

    private static void AssertExactlyRepresentable(float[] values, ElementType type, string name, string context)
    {
        foreach (float v in values)
            Assert.That(ElementConversions.ToSingle(ElementConversions.FromSingle(v, type), type), Is.EqualTo(v), $"{context}: {name} holds {v}, which is not exact in {type} (the golden contract says it is)");
    }
}
