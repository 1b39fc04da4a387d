// GoldenSuite(Float64): every case through the double-precision reference functions (Boft.Reference), the oracle behind
// the backends. Tolerances: the golden values are float64 results of an independent PyTorch implementation, so the reference
// must agree to rounding: 1e-10 absolute + 1e-9 relative covers the ~1e-13 differences of different summation orders and LU
// pivoting with margin. Trajectories (20 steps) use rtol 1e-8: Adam normalises small gradients, which amplifies rounding
// differences step by step (observed ~1e-11). Losses get an absolute floor of 1e-15 because a case whose target equals its
// output has loss exactly 0 in one implementation and ~1e-33 in another.

using Boft.Backends;
using Boft.Reference;
using Boft.Tests.Infrastructure;

namespace Boft.Tests.Golden;

public sealed partial class GoldenSuite
{
    private const double Atol64 = 1e-10, Rtol64 = 1e-9, TrajectoryRtol = 1e-8, LossAtol64 = 1e-15;

    private static void Float64Linear(GoldenCase c)
    {
        if (c.IsBoft)
            Float64Boft(c, trajectories: false);
        else
            Float64Oft(c, trajectories: false);
    }

    private static void Float64Trajectory(GoldenCase c, bool adam)
    {
        // Both optimizers are replayed by the reference loops below; the test of the other optimizer replays them too, cheaply.
        if (c.IsBoft)
            Float64Boft(c, trajectories: true);
        else
            Float64Oft(c, trajectories: true);
        _ = adam;
    }

    private static void Close64(ReadOnlySpan<double> actual, GoldenCase c, string name, double atol = Atol64, double rtol = Rtol64) =>
        Compare.AllClose(actual, c.Data(name), atol, rtol, name, c.Name, c.Tensor(name).Shape);

    private static void Float64Boft(GoldenCase c, bool trajectories)
    {
        BoftShape shape = c.BoftConfig.Resolve();
        Assert.That(shape.BlockSize, Is.EqualTo(c.Config.GetProperty("block_size").GetInt32()), c.Name);
        double[] x = c.Data("x"), w0 = c.Data("W0"), a = c.Data("boft_R"), s = c.Data("boft_s"), bias = c.BiasOrEmpty, mask = c.MaskOrEmpty;
        int d = shape.FeatureCount, n = c.OutFeatureCount, rows = c.RowCount;

        var perms = c.Data("perms");
        for (int i = 0; i < shape.FactorCount; i++)
            for (int t = 0; t < d; t++)
                Assert.That(shape.Permutations.Forward(i)[t], Is.EqualTo((int)perms[i * d + t]), $"perm {i}[{t}] [{c.Name}]");

        var blocks = new double[shape.RawParameterCount];
        BoftReference.Blocks(shape, a, mask, blocks);
        Close64(blocks, c, "blocks");
        var r = new double[d * d];
        BoftReference.Rotation(shape, a, mask, r);
        Close64(r, c, "R");
        var y = new double[rows * n];
        BoftReference.Forward(shape, x, w0, bias, a, s, mask, y);
        Close64(y, c, "y");
        var merged = new double[n * d];
        BoftReference.Merge(shape, w0, a, s, mask, merged);
        Close64(merged, c, "merged_weight");
        if (mask.Length == 0)
        {
            var back = new double[n * d];
            BoftReference.Unmerge(shape, merged, a, s, [], back);
            Compare.AllClose(back, w0, Atol64, Rtol64, "unmerge(merge(W0))", c.Name);
        }

        var gA = new double[a.Length];
        var gS = new double[n];
        var gX = new double[x.Length];
        var gB = new double[c.HasBias ? n : 0];
        BoftReference.Backward(shape, x, w0, a, s, mask, c.Data("upstream_grad"), gA, gS, gX, gB);
        Close64(gA, c, "grad_boft_R");
        Close64(gS, c, "grad_boft_s");
        Close64(gX, c, "grad_x");
        if (c.HasBias)
            Close64(gB, c, "grad_bias");

        if (c.Has("interp_R"))
        {
            double[] interp = c.Data("interp_R");
            var m = new double[shape.FactorCount * shape.BlockCount];
            for (int j = 0; j <= shape.FactorCount; j++)
            {
                IdentityMaskReference.Interpolation(shape.Rotation, j, m);
                BoftReference.Rotation(shape, a, m, r);
                Compare.AllClose(r, interp.AsSpan(j * d * d, d * d), Atol64, Rtol64, $"interp_R[{j}]", c.Name, [d, d]);
            }
        }

        foreach (bool adam in trajectories ? new[] { false, true } : [])
        {
            GoldenTrajectory traj = adam ? c.Adam : c.Sgd;
            double[] pa = (double[])a.Clone(), ps = (double[])s.Clone();
            var ma = new double[pa.Length]; var va = new double[pa.Length];
            var ms = new double[ps.Length]; var vs = new double[ps.Length];
            var losses = new double[c.Steps];
            var target = c.Data("target");
            var gradY = new double[rows * n];
            for (int step = 1; step <= c.Steps; step++)
            {
                BoftReference.Forward(shape, x, w0, bias, pa, ps, mask, y);
                losses[step - 1] = LossReference.MeanSquaredError(y, target, gradY);
                BoftReference.Backward(shape, x, w0, pa, ps, mask, gradY, gA, gS, [], []);
                if (adam)
                {
                    var settings = new AdamSettings(traj.LearningRate, traj.Beta1, traj.Beta2, traj.Eps);
                    OptimizerReference.AdamStep(gA, settings, step, traj.LearningRate, pa, ma, va);
                    OptimizerReference.AdamStep(gS, settings, step, traj.LearningRate, ps, ms, vs);
                }
                else
                {
                    var settings = new SgdSettings(traj.LearningRate);
                    OptimizerReference.SgdStep(gA, settings, step == 1, pa, []);
                    OptimizerReference.SgdStep(gS, settings, step == 1, ps, []);
                }
            }
            string name = adam ? "adam" : "sgd";
            Compare.AllClose(losses, traj.Losses, LossAtol64, TrajectoryRtol, $"{name} losses", c.Name);
            Compare.AllClose(pa, c.Data($"{name}_final_boft_R"), Atol64, TrajectoryRtol, $"{name}_final_boft_R", c.Name);
            Compare.AllClose(ps, c.Data($"{name}_final_boft_s"), Atol64, TrajectoryRtol, $"{name}_final_boft_s", c.Name);
        }
    }

    private static void Float64Oft(GoldenCase c, bool trajectories)
    {
        OftShape shape = c.OftConfig.Resolve();
        Assert.That(shape.BlockSize, Is.EqualTo(c.Config.GetProperty("block_size").GetInt32()), c.Name);
        double[] x = c.Data("x"), w0 = c.Data("W0"), bias = c.BiasOrEmpty;
        double[] weight = c.Data("weight");
        if (shape.Coft)
        {
            var projected = new double[weight.Length];
            CoftReference.Project(weight, shape.BlockSize, shape.CoftRadius, projected);
            Close64(projected, c, "weight_projected");
            weight = projected;
        }
        int d = shape.FeatureCount, n = c.OutFeatureCount, rows = c.RowCount;
        var blocks = new double[shape.ParameterBlockCount * shape.BlockSize * shape.BlockSize];
        var all = new double[shape.BlockCount * shape.BlockSize * shape.BlockSize];
        OftReference.Blocks(shape, weight, all);
        all.AsSpan(0, blocks.Length).CopyTo(blocks);
        Close64(blocks, c, "blocks");
        var r = new double[d * d];
        OftReference.Rotation(shape, weight, r);
        Close64(r, c, "R");
        var y = new double[rows * n];
        OftReference.Forward(shape, x, w0, bias, weight, y);
        Close64(y, c, "y");
        var merged = new double[n * d];
        OftReference.Merge(shape, w0, weight, merged);
        Close64(merged, c, "merged_weight");
        var back = new double[n * d];
        OftReference.Unmerge(shape, merged, weight, back);
        Compare.AllClose(back, w0, Atol64, Rtol64, "unmerge(merge(W0))", c.Name);

        var gW = new double[weight.Length];
        var gX = new double[x.Length];
        var gB = new double[c.HasBias ? n : 0];
        OftReference.Backward(shape, x, w0, weight, c.Data("upstream_grad"), gW, gX, gB);
        Close64(gW, c, "grad_weight");
        Close64(gX, c, "grad_x");
        if (c.HasBias)
            Close64(gB, c, "grad_bias");

        foreach (bool adam in trajectories ? new[] { false, true } : [])
        {
            GoldenTrajectory traj = adam ? c.Adam : c.Sgd;
            double[] p = (double[])c.Data("weight").Clone();
            var m = new double[p.Length]; var v = new double[p.Length];
            var losses = new double[c.Steps];
            var target = c.Data("target");
            var gradY = new double[rows * n];
            for (int step = 1; step <= c.Steps; step++)
            {
                if (shape.Coft)
                    CoftReference.Project(p, shape.BlockSize, shape.CoftRadius, p);
                OftReference.Forward(shape, x, w0, bias, p, y);
                losses[step - 1] = LossReference.MeanSquaredError(y, target, gradY);
                OftReference.Backward(shape, x, w0, p, gradY, gW, [], []);
                if (adam)
                    OptimizerReference.AdamStep(gW, new AdamSettings(traj.LearningRate, traj.Beta1, traj.Beta2, traj.Eps), step, traj.LearningRate, p, m, v);
                else
                    OptimizerReference.SgdStep(gW, new SgdSettings(traj.LearningRate), step == 1, p, []);
            }
            if (shape.Coft)
                CoftReference.Project(p, shape.BlockSize, shape.CoftRadius, p);
            string name = adam ? "adam" : "sgd";
            Compare.AllClose(losses, traj.Losses, LossAtol64, TrajectoryRtol, $"{name} losses", c.Name);
            Compare.AllClose(p, c.Data($"{name}_final_weight"), Atol64, TrajectoryRtol, $"{name}_final_weight", c.Name);
        }
    }
}
