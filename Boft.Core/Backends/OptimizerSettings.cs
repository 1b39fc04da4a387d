namespace Boft.Backends;

/// <summary>Hyperparameters of <c>torch.optim.SGD</c>.</summary>
/// <param name="LearningRate">lr ≥ 0.</param>
/// <param name="Momentum">μ ≥ 0.</param>
/// <param name="Dampening">Dampening for momentum.</param>
/// <param name="WeightDecay">L2 penalty λ ≥ 0, added to the gradient.</param>
/// <param name="Nesterov">Nesterov momentum (needs μ &gt; 0 and dampening 0).</param>
public sealed record SgdSettings(double LearningRate, double Momentum = 0, double Dampening = 0, double WeightDecay = 0, bool Nesterov = false)
{
    /// <summary>Validates the values with messages that quote them.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    /// <exception cref="ArgumentException">Nesterov momentum without momentum or with dampening.</exception>
    public void Validate()
    {
        ShapeChecks.LearningRate(LearningRate, nameof(LearningRate));
        if (!double.IsFinite(Momentum) || Momentum < 0)
            throw new ArgumentOutOfRangeException(nameof(Momentum), Momentum, $"Invalid momentum value: {Momentum}");
        if (!double.IsFinite(WeightDecay) || WeightDecay < 0)
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, $"Invalid weight_decay value: {WeightDecay}");
        if (!double.IsFinite(Dampening))
            throw new ArgumentOutOfRangeException(nameof(Dampening), Dampening, $"Invalid dampening value: {Dampening}");
        if (Nesterov && (Momentum <= 0 || Dampening != 0))
            throw new ArgumentException($"Nesterov momentum requires a momentum and zero dampening (momentum {Momentum}, dampening {Dampening}).", nameof(Nesterov));
    }
}

/// <summary>Hyperparameters of <c>torch.optim.Adam</c> / <c>torch.optim.AdamW</c> (no amsgrad).</summary>
/// <param name="LearningRate">Base lr ≥ 0 (a schedule may pass a different per-step value).</param>
/// <param name="Beta1">β1 in [0, 1).</param>
/// <param name="Beta2">β2 in [0, 1).</param>
/// <param name="Eps">ε ≥ 0.</param>
/// <param name="WeightDecay">λ ≥ 0.</param>
/// <param name="DecoupledWeightDecay">AdamW (p *= 1 − lr·λ) instead of Adam's L2 (g += λ·p).</param>
public sealed record AdamSettings(double LearningRate = 1e-3, double Beta1 = 0.9, double Beta2 = 0.999, double Eps = 1e-8, double WeightDecay = 0, bool DecoupledWeightDecay = false)
{
    /// <summary>AdamW with PyTorch's default weight decay 0.01.</summary>
    /// <param name="learningRate">lr.</param>
    /// <param name="weightDecay">λ.</param>
    /// <returns>The settings.</returns>
    public static AdamSettings AdamW(double learningRate = 1e-3, double weightDecay = 1e-2) => new(learningRate, WeightDecay: weightDecay, DecoupledWeightDecay: true);

    /// <summary>Validates the values with messages that quote them.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        ShapeChecks.LearningRate(LearningRate, nameof(LearningRate));
        if (!double.IsFinite(Eps) || Eps < 0)
            throw new ArgumentOutOfRangeException(nameof(Eps), Eps, $"Invalid epsilon value: {Eps}");
        if (!(Beta1 >= 0 && Beta1 < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, $"Invalid beta parameter at index 0: {Beta1}");
        if (!(Beta2 >= 0 && Beta2 < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, $"Invalid beta parameter at index 1: {Beta2}");
        if (!double.IsFinite(WeightDecay) || WeightDecay < 0)
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, $"Invalid weight_decay value: {WeightDecay}");
    }
}
