// Optimizer steps over flat float32 parameter buffers, with PyTorch's semantics (torch.optim.SGD, Adam, AdamW without amsgrad).
// Arithmetic is done in double per element (the buffers stay float32): the kernels are memory-bound, and double keeps them
// within a rounding of the double-precision reference. Bias corrections 1 − β^t are computed once on the host.
// Docs: docs/03_Kernels/optimizers.md

using Boft.Backends;
using System.Diagnostics.CodeAnalysis;
using ILGPU;
using ILGPU.Runtime;

namespace Boft.Kernels.Ilgpu;

/// <summary>Scalars of the SGD kernel.</summary>
internal struct SgdParams
{
    public int Length;
    public double LearningRate;
    public double Momentum;
    public double Dampening;
    public double WeightDecay;
    public int Nesterov;
    public int FirstStep;
}

/// <summary>Scalars of the Adam/AdamW kernel.</summary>
internal struct AdamParams
{
    public int Length;
    public double LearningRate;
    public double Beta1;
    public double Beta2;
    public double Eps;
    public double WeightDecay;
    public int Decoupled;
    public double Correction1;
    public double Correction2;
}

/// <summary>Device code of the optimizer steps.</summary>
internal static class OptimizerKernels
{
    /// <summary>One SGD step in place (momentum buffer ignored when momentum is 0).</summary>
    internal static void SgdKernel(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> momentumBuffer, SgdParams p)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < p.Length; i += stride)
        {
            double parameter = parameters[i];
            double g = gradients[i];
            if (p.WeightDecay != 0)
                g += p.WeightDecay * parameter;
            if (p.Momentum != 0)
            {
                double buffer = p.FirstStep != 0 ? g : p.Momentum * momentumBuffer[i] + (1 - p.Dampening) * g;
                momentumBuffer[i] = (float)buffer;
                g = p.Nesterov != 0 ? g + p.Momentum * buffer : buffer;
            }
            parameters[i] = (float)(parameter - p.LearningRate * g);
        }
    }

    /// <summary>One Adam (L2 weight decay) or AdamW (decoupled) step in place.</summary>
    internal static void AdamKernel(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> firstMoment,
        ArrayView<float> secondMoment, AdamParams p)
    {
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < p.Length; i += stride)
        {
            double parameter = parameters[i];
            double g = gradients[i];
            if (p.WeightDecay != 0)
            {
                if (p.Decoupled != 0)
                    parameter *= 1 - p.LearningRate * p.WeightDecay;
                else
                    g += p.WeightDecay * parameter;
            }
            double m = p.Beta1 * firstMoment[i] + (1 - p.Beta1) * g;
            double v = p.Beta2 * secondMoment[i] + (1 - p.Beta2) * g * g;
            firstMoment[i] = (float)m;
            secondMoment[i] = (float)v;
            parameter -= p.LearningRate * (m / p.Correction1) / (Math.Sqrt(v / p.Correction2) + p.Eps);
            parameters[i] = (float)parameter;
        }
    }
}

/// <summary>Launchers of the optimizer steps.</summary>
public sealed partial class BoftKernels
{
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdParams> sgd;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamParams> adam;

    [MemberNotNull(nameof(sgd), nameof(adam))]
    private void InitializeOptimizers()
    {
        sgd = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdParams>(OptimizerKernels.SgdKernel);
        adam = Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamParams>(OptimizerKernels.AdamKernel);
    }

    /// <summary>
    /// One SGD step in place with PyTorch's semantics: <c>g = grad + λp</c>; with momentum μ ≠ 0, <c>buf = g</c> on the first step else
    /// <c>buf = μ·buf + (1 − dampening)·g</c>, and <c>g = nesterov ? g + μ·buf : buf</c>; then <c>p −= lr·g</c>.
    /// </summary>
    /// <param name="parameters">Updated in place.</param>
    /// <param name="gradients">Same length.</param>
    /// <param name="momentumBuffer">Required when momentum ≠ 0 (same length, updated); else <c>default</c>.</param>
    /// <param name="settings">Hyperparameters (validated).</param>
    /// <param name="firstStep">Initializes the momentum buffer.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match, or the momentum buffer is missing.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range.</exception>
    public void SgdStep(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> momentumBuffer, SgdSettings settings, bool firstStep,
        AcceleratorStream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(parameters, nameof(parameters));
        RequireLength(gradients, nameof(gradients), n, ShapeChecks.LikeShape(n, nameof(parameters)));
        bool hasBuffer = Optional(momentumBuffer, nameof(momentumBuffer));
        ShapeChecks.MomentumBuffer(settings.Momentum, hasBuffer);
        if (settings.Momentum != 0)
        {
            RequireLength(momentumBuffer, nameof(momentumBuffer), n, ShapeChecks.LikeShape(n, nameof(parameters)));
        }
        if (n == 0)
            return;
        var p = new SgdParams
        {
            Length = n,
            LearningRate = settings.LearningRate,
            Momentum = settings.Momentum,
            Dampening = settings.Dampening,
            WeightDecay = settings.WeightDecay,
            Nesterov = settings.Nesterov ? 1 : 0,
            FirstStep = firstStep ? 1 : 0,
        };
        sgd(s, ElementwiseConfig(n), parameters, gradients, settings.Momentum != 0 ? momentumBuffer : None, p);
    }

    /// <summary>
    /// One Adam or AdamW step in place (PyTorch semantics, no amsgrad): <c>m = β1·m + (1 − β1)·g</c>, <c>v = β2·v + (1 − β2)·g²</c>,
    /// <c>p −= lr·(m/(1 − β1^t))/(sqrt(v/(1 − β2^t)) + ε)</c>; weight decay added to g (Adam) or <c>p *= 1 − lr·λ</c> first (AdamW).
    /// </summary>
    /// <param name="parameters">Updated in place.</param>
    /// <param name="gradients">Same length.</param>
    /// <param name="firstMoment">m, same length, updated (zero before step 1).</param>
    /// <param name="secondMoment">v, same length, updated (zero before step 1).</param>
    /// <param name="settings">Hyperparameters (validated).</param>
    /// <param name="step">t ≥ 1.</param>
    /// <param name="learningRate">lr for this step.</param>
    /// <param name="stream">The stream, or null for the default stream.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter or the step is out of range.</exception>
    public void AdamStep(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> firstMoment, ArrayView<float> secondMoment,
        AdamSettings settings, int step, double learningRate, AcceleratorStream? stream = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        ShapeChecks.LearningRate(learningRate);
        AcceleratorStream s = StreamOf(stream);
        int n = Owned(parameters, nameof(parameters));
        RequireLength(gradients, nameof(gradients), n, ShapeChecks.LikeShape(n, nameof(parameters)));
        RequireLength(firstMoment, nameof(firstMoment), n, ShapeChecks.LikeShape(n, nameof(parameters)));
        RequireLength(secondMoment, nameof(secondMoment), n, ShapeChecks.LikeShape(n, nameof(parameters)));
        if (n == 0)
            return;
        var p = new AdamParams
        {
            Length = n,
            LearningRate = learningRate,
            Beta1 = settings.Beta1,
            Beta2 = settings.Beta2,
            Eps = settings.Eps,
            WeightDecay = settings.WeightDecay,
            Decoupled = settings.DecoupledWeightDecay ? 1 : 0,
            Correction1 = 1 - Math.Pow(settings.Beta1, step),
            Correction2 = 1 - Math.Pow(settings.Beta2, step),
        };
        adam(s, ElementwiseConfig(n), parameters, gradients, firstMoment, secondMoment, p);
    }
}
