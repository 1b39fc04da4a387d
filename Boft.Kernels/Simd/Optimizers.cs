// Optimizer steps on the CPU with PyTorch's semantics (torch.optim.SGD, torch.optim.Adam / AdamW without amsgrad).
// Shapes: flat; parameters, gradients and state have equal lengths. Everything is updated in place; element-wise, so the
// result does not depend on threading. Arithmetic in float32; the bias corrections 1 − β^t are computed once in double.
//   SGD:  g = grad + λp; with μ ≠ 0: buf = g (first step) or μ·buf + (1 − dampening)·g; g = nesterov ? g + μ·buf : buf; p −= lr·g
//   Adam: Adam adds λp to g, AdamW scales p by (1 − lr·λ) first; m = β1 m + (1 − β1) g; v = β2 v + (1 − β2) g²;
//         p −= lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)

using System.Runtime.CompilerServices;
using Boft.Backends;

namespace Boft.Kernels.Simd;

/// <summary>SGD and Adam/AdamW steps.</summary>
internal static class Optimizers
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sgd<TS, TV>(SimdTensor parameters, SimdTensor gradients, SimdTensor? momentumBuffer, SgdSettings settings, bool firstStep, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        float lr = (float)settings.LearningRate, decay = (float)settings.WeightDecay, momentum = (float)settings.Momentum;
        float keep = (float)(1 - settings.Dampening);
        bool nesterov = settings.Nesterov;
        Elementwise.ForSlices(parameters.Length, maxDegreeOfParallelism, (start, count) =>
        {
            ref float p = ref Unsafe.Add(ref parameters.Data, start);
            ref float g = ref Unsafe.Add(ref gradients.Data, start);
            ref float buf = ref momentumBuffer is null ? ref Unsafe.NullRef<float>() : ref Unsafe.Add(ref momentumBuffer.Data, start);
            int v = TS.Count, i = 0;
            TV lrV = TS.Create(lr), decayV = TS.Create(decay), momentumV = TS.Create(momentum), keepV = TS.Create(keep);
            for (; i + v <= count; i += v)
            {
                TV pv = TS.Load(ref Unsafe.Add(ref p, i));
                TV gv = TS.Fma(decayV, pv, TS.Load(ref Unsafe.Add(ref g, i)));
                if (momentumBuffer is not null)
                {
                    TV bv = firstStep ? gv : TS.Fma(momentumV, TS.Load(ref Unsafe.Add(ref buf, i)), TS.Multiply(keepV, gv));
                    TS.Store(bv, ref Unsafe.Add(ref buf, i));
                    gv = nesterov ? TS.Fma(momentumV, bv, gv) : bv;
                }
                TS.Store(TS.Subtract(pv, TS.Multiply(lrV, gv)), ref Unsafe.Add(ref p, i));
            }
            for (; i < count; i++)
            {
                float pv = Unsafe.Add(ref p, i);
                float gv = MathF.FusedMultiplyAdd(decay, pv, Unsafe.Add(ref g, i));
                if (momentumBuffer is not null)
                {
                    float bv = firstStep ? gv : MathF.FusedMultiplyAdd(momentum, Unsafe.Add(ref buf, i), keep * gv);
                    Unsafe.Add(ref buf, i) = bv;
                    gv = nesterov ? MathF.FusedMultiplyAdd(momentum, bv, gv) : bv;
                }
                Unsafe.Add(ref p, i) = pv - lr * gv;
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Adam<TS, TV>(SimdTensor parameters, SimdTensor gradients, SimdTensor firstMoment, SimdTensor secondMoment, AdamSettings settings, int step,
        double learningRate, int maxDegreeOfParallelism)
        where TS : struct, ISimd<TV>
        where TV : struct
    {
        float lr = (float)learningRate, beta1 = (float)settings.Beta1, beta2 = (float)settings.Beta2, eps = (float)settings.Eps;
        float oneMinusBeta1 = (float)(1 - settings.Beta1), oneMinusBeta2 = (float)(1 - settings.Beta2);
        float inverseCorrection1 = (float)(1 / (1 - Math.Pow(settings.Beta1, step)));
        float inverseCorrection2 = (float)(1 / (1 - Math.Pow(settings.Beta2, step)));
        bool decoupled = settings.DecoupledWeightDecay;
        float l2 = decoupled ? 0f : (float)settings.WeightDecay;
        float shrink = decoupled ? (float)(1 - learningRate * settings.WeightDecay) : 1f;
        Elementwise.ForSlices(parameters.Length, maxDegreeOfParallelism, (start, count) =>
        {
            ref float p = ref Unsafe.Add(ref parameters.Data, start);
            ref float g = ref Unsafe.Add(ref gradients.Data, start);
            ref float m = ref Unsafe.Add(ref firstMoment.Data, start);
            ref float s = ref Unsafe.Add(ref secondMoment.Data, start);
            int v = TS.Count, i = 0;
            TV lrV = TS.Create(lr), b1 = TS.Create(beta1), b2 = TS.Create(beta2), c1 = TS.Create(oneMinusBeta1), c2 = TS.Create(oneMinusBeta2);
            TV ic1 = TS.Create(inverseCorrection1), ic2 = TS.Create(inverseCorrection2), epsV = TS.Create(eps), l2V = TS.Create(l2), shrinkV = TS.Create(shrink);
            for (; i + v <= count; i += v)
            {
                TV pv = TS.Multiply(TS.Load(ref Unsafe.Add(ref p, i)), shrinkV);
                TV gv = TS.Fma(l2V, pv, TS.Load(ref Unsafe.Add(ref g, i)));
                TV mv = TS.Fma(b1, TS.Load(ref Unsafe.Add(ref m, i)), TS.Multiply(c1, gv));
                TV sv = TS.Fma(b2, TS.Load(ref Unsafe.Add(ref s, i)), TS.Multiply(c2, TS.Multiply(gv, gv)));
                TS.Store(mv, ref Unsafe.Add(ref m, i));
                TS.Store(sv, ref Unsafe.Add(ref s, i));
                TV update = TS.Divide(TS.Multiply(mv, ic1), TS.Add(TS.Sqrt(TS.Multiply(sv, ic2)), epsV));
                TS.Store(TS.Subtract(pv, TS.Multiply(lrV, update)), ref Unsafe.Add(ref p, i));
            }
            for (; i < count; i++)
            {
                float pv = Unsafe.Add(ref p, i) * shrink;
                float gv = MathF.FusedMultiplyAdd(l2, pv, Unsafe.Add(ref g, i));
                float mv = MathF.FusedMultiplyAdd(beta1, Unsafe.Add(ref m, i), oneMinusBeta1 * gv);
                float sv = MathF.FusedMultiplyAdd(beta2, Unsafe.Add(ref s, i), oneMinusBeta2 * (gv * gv));
                Unsafe.Add(ref m, i) = mv;
                Unsafe.Add(ref s, i) = sv;
                Unsafe.Add(ref p, i) = pv - lr * (mv * inverseCorrection1 / (MathF.Sqrt(sv * inverseCorrection2) + eps));
            }
        });
    }
}
