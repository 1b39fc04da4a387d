// GoldenSuite, Linear cases through the float32 layers of each backend: BoftLinear/OftLinear (Cayley → Rotate → Linear →
// ScaleBias and back), merge/unmerge, interpolation, explicit dropout mask, and both 20-step trajectories through the
// training core's Sgd/Adam.
//
// Float32 tolerances (golden README: observed |y_f32 − y_f64| 2e-7 … 1.1e-6):
//   forward y, R, merged weight, unmerge: atol 2e-5 + rtol 1e-5 (≈ 20x the worst observed float32 deviation);
//   gradients: atol 2e-4·max|g| + rtol 1e-4 (reductions over rows and the Cayley VJP add rounding with the tensor's scale);
//   trajectories: losses rtol 1e-4 for the first 5 steps and 2e-3 later, with an absolute floor of 1e-9 (float32 rounding of a
//   loss that is exactly 0 in float64); final parameters atol 2e-3·max|p| + rtol 2e-3
//   (Adam divides by sqrt(v), which amplifies rounding of tiny gradients step by step).

using Boft.Backends;
using Boft.Layers;
using Boft.Tests.Infrastructure;
using Boft.Training;

namespace Boft.Tests.Golden;

public sealed partial class GoldenSuite
{
    private const double ForwardAtol = 2e-5, ForwardRtol = 1e-5;
    private const double GradRelAtol = 2e-4, GradRtol = 1e-4;
    private const double EarlyLossRtol = 1e-4, LateLossRtol = 2e-3, LossAtol = 1e-9, FinalRelAtol = 2e-3, FinalRtol = 2e-3;

    private void LayerLinear(GoldenCase c)
    {
        string context = $"{c.Name} on {Case.Name}";
        using AdapterLinear layer = CreateLayer(c);
        int rows = c.RowCount, d = c.FeatureCount, n = c.OutFeatureCount;
        using Tensor x = Upload(c.Data("x"), rows, d);
        using Tensor y = Backend.Allocate(rows, n);
        layer.IsTraining = false;
        layer.Forward(x, y);
        CheckBlocks(c, layer, context);
        Compare.AllClose(Download(y), c.Data("y"), ForwardAtol, ForwardRtol, "y", context, [rows, n]);
        Compare.AllClose(DenseRotation(layer), c.Data("R"), ForwardAtol, ForwardRtol, "R", context, [d, d]);

        ZeroGrad(layer);
        using Tensor gradY = Upload(c.Data("upstream_grad"), rows, n);
        using Tensor gradX = Backend.Allocate(rows, d);
        layer.Backward(gradY, gradX);
        CheckGradient(Download(layer.Rotations.RequiredGradient), c, c.IsBoft ? "grad_boft_R" : "grad_weight", context);
        if (layer is BoftLinear boft)
            CheckGradient(Download(boft.BoftS.RequiredGradient), c, "grad_boft_s", context);
        CheckGradient(Download(gradX), c, "grad_x", context);
        if (c.HasBias)
            CheckGradient(Download(layer.Bias!.RequiredGradient), c, "grad_bias", context);

        if (layer is BoftLinear interpolated && c.Has("interp_R"))
        {
            double[] interp = c.Data("interp_R");
            interpolated.FixedIdentityMask = null; // golden interp_R is computed without the dropout mask
            for (int j = 0; j <= interpolated.Shape.FactorCount; j++)
            {
                interpolated.IdentityFactorCount = j;
                interpolated.Forward(x, y);
                Compare.AllClose(DenseRotation(layer), interp.AsSpan(j * d * d, d * d), ForwardAtol, ForwardRtol, $"interp_R[{j}]", context, [d, d]);
            }
            interpolated.IdentityFactorCount = 0;
            if (c.Has("dropout_mask"))
                interpolated.FixedIdentityMask = c.Data("dropout_mask"); // merged_weight does include the dropout mask
        }

        layer.Merge();
        Compare.AllClose(Download(layer.BaseWeight.Value), c.Data("merged_weight"), ForwardAtol, ForwardRtol, "merged_weight", context, [n, d]);
        layer.Forward(x, y);
        Compare.AllClose(Download(y), c.Data("y"), ForwardAtol, ForwardRtol, "y (merged)", context, [n, d]);
        layer.Unmerge();
        Compare.AllClose(Download(layer.BaseWeight.Value), c.Data("W0"), ForwardAtol, ForwardRtol, "unmerge(merge(W0))", context, [n, d]);
    }

    private void LayerTrajectory(GoldenCase c, bool adam)
    {
        string name = adam ? "adam" : "sgd";
        string context = $"{c.Name} {name} on {Case.Name}";
        GoldenTrajectory trajectory = adam ? c.Adam : c.Sgd;
        using AdapterLinear layer = CreateLayer(c, trainBias: false);
        layer.IsTraining = false; // the golden trajectories use no random dropout (the dropout case uses its fixed mask)
        int rows = c.RowCount, d = c.FeatureCount, n = c.OutFeatureCount;
        using Tensor x = Upload(c.Data("x"), rows, d);
        using Tensor target = Upload(c.Data("target"), rows, n);
        using Tensor y = Backend.Allocate(rows, n);
        using Tensor gradY = Backend.Allocate(rows, n);
        List<Parameter> trainable = layer.TrainableParameters.ToList();
        using Optimizer optimizer = adam
            ? new Adam(trainable, new AdamSettings(trajectory.LearningRate, trajectory.Beta1, trajectory.Beta2, trajectory.Eps))
            : new Sgd(trainable, new SgdSettings(trajectory.LearningRate));
        var losses = new double[c.Steps];
        for (int step = 0; step < c.Steps; step++)
        {
            optimizer.ZeroGrad();
            layer.Forward(x, y);
            losses[step] = Backend.MseLoss(y, target, gradY);
            layer.Backward(gradY, null);
            optimizer.Step();
        }
        if (layer is OftLinear oft)
            oft.ProjectCoft(); // the golden final parameters are projected once more after the last step
        Compare.AllClose(losses.AsSpan(0, Math.Min(5, c.Steps)), trajectory.Losses.AsSpan(0, Math.Min(5, c.Steps)), LossAtol, EarlyLossRtol, $"{name} losses[0..5)", context);
        Compare.AllClose(losses, trajectory.Losses, LossAtol, LateLossRtol, $"{name} losses", context);
        CheckFinal(Download(layer.Rotations.Value), c, c.IsBoft ? $"{name}_final_boft_R" : $"{name}_final_weight", context);
        if (layer is BoftLinear boft)
            CheckFinal(Download(boft.BoftS.Value), c, $"{name}_final_boft_s", context);
    }

    private AdapterLinear CreateLayer(GoldenCase c, bool trainBias = true)
    {
        float[] w0 = c.Tensor("W0").ToSingle();
        float[] bias = c.Has("bias") ? c.Tensor("bias").ToSingle() : [];
        if (c.IsBoft)
        {
            var layer = new BoftLinear(Backend, c.BoftConfig, c.OutFeatureCount, w0, bias, trainBias: trainBias && bias.Length > 0);
            layer.BoftR.CopyFrom(c.Tensor("boft_R").ToSingle());
            layer.BoftS.CopyFrom(c.Tensor("boft_s").ToSingle());
            if (c.Has("dropout_mask"))
                layer.FixedIdentityMask = c.Data("dropout_mask");
            return layer;
        }
        var oft = new OftLinear(Backend, c.OftConfig, c.OutFeatureCount, w0, bias, trainBias: trainBias && bias.Length > 0);
        oft.Weight.CopyFrom(c.Tensor("weight").ToSingle());
        return oft;
    }

    private void CheckBlocks(GoldenCase c, AdapterLinear layer, string context)
    {
        double[] expected = c.Data("blocks");
        double[] actual = Download(layer.Blocks);
        Compare.AllClose(actual.AsSpan(0, expected.Length), expected, ForwardAtol, ForwardRtol, "blocks", context, c.Tensor("blocks").Shape);
    }

    /// <summary>R through the kernel path: the rows of I rotated by the layer's current blocks.</summary>
    private double[] DenseRotation(AdapterLinear layer)
    {
        int d = layer.InFeatureCount;
        var identity = new float[d * d];
        for (int i = 0; i < d; i++)
            identity[i * d + i] = 1;
        using Tensor eye = Backend.Upload(identity, d, d);
        using Tensor r = Backend.Allocate(d, d);
        Backend.Rotate(layer.Rotation, eye, layer.Blocks, transpose: false, r);
        return Download(r);
    }

    private static void CheckGradient(double[] actual, GoldenCase c, string name, string context)
    {
        double[] expected = c.Data(name);
        Compare.AllClose(actual, expected, GradRelAtol * Math.Max(Compare.MaxAbs(expected), 1e-30), GradRtol, name, context, c.Tensor(name).Shape);
    }

    private static void CheckFinal(double[] actual, GoldenCase c, string name, string context)
    {
        double[] expected = c.Data(name);
        Compare.AllClose(actual, expected, FinalRelAtol * Math.Max(Compare.MaxAbs(expected), 1e-30), FinalRtol, name, context, c.Tensor(name).Shape);
    }

    private static void ZeroGrad(AdapterLinear layer)
    {
        foreach (Parameter p in layer.Parameters)
            p.ZeroGrad();
    }
}
