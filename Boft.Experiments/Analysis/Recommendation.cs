// The recommendation column of the main job's summary: a fixed rule over the row's own numbers, so it follows from the
// table and nothing else (docs/04_Benchmarking.md §Recommendation).
//   dominated   another configuration has no more trainable parameters, no higher layer overhead (+5 points for noise) and
//               a clearly lower quality error (by more than 2 % relative), or the same error with fewer parameters;
//   best        otherwise, the lowest error among the configurations with at most as many parameters;
//   cheapest    otherwise, the lowest overhead among the configurations that are not dominated;
//   trade-off   otherwise (on the front: better quality per parameter than the cheaper ones, but not the best).

namespace Boft.Experiments.Analysis;

/// <summary>One configuration's summary numbers.</summary>
/// <param name="Label">e.g. <c>BOFT(2,8)</c>.</param>
/// <param name="TrainableParameters">Trainable parameters of the layer.</param>
/// <param name="QualityError">The quality error the rule ranks by (lower is better).</param>
/// <param name="OverheadPercent">Layer overhead over the frozen layer, percent.</param>
public sealed record SummaryNumbers(string Label, long TrainableParameters, double QualityError, double OverheadPercent);

/// <summary>The recommendation rule.</summary>
public static class Recommendation
{
    /// <summary>Noise allowance on the overhead, percentage points.</summary>
    public const double OverheadNoisePoints = 5;

    /// <summary>Relative margin for "clearly lower" error.</summary>
    public const double ErrorMargin = 0.02;

    /// <summary>The recommendation text for <paramref name="row"/> among <paramref name="all"/>.</summary>
    /// <param name="row">The row.</param>
    /// <param name="all">Every row of the same layer size (including <paramref name="row"/>).</param>
    /// <returns>A short phrase.</returns>
    public static string For(SummaryNumbers row, IReadOnlyList<SummaryNumbers> all)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(all);
        SummaryNumbers? dominator = DominatedBy(row, all);
        if (dominator is not null)
            return $"dominated by {dominator.Label}";
        if (all.Where(o => o.TrainableParameters <= row.TrainableParameters).All(o => o.QualityError >= row.QualityError))
            return $"best quality at ≤ {row.TrainableParameters:N0} params";
        var front = all.Where(o => DominatedBy(o, all) is null).ToList();
        if (front.All(o => o.OverheadPercent >= row.OverheadPercent))
            return "cheapest layer on the front";
        return "trade-off (on the front)";
    }

    /// <summary>The configuration that dominates <paramref name="row"/>, or null.</summary>
    /// <param name="row">The row.</param>
    /// <param name="all">Every row.</param>
    /// <returns>The dominating row or null.</returns>
    public static SummaryNumbers? DominatedBy(SummaryNumbers row, IReadOnlyList<SummaryNumbers> all)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(all);
        return all.Where(o => !ReferenceEquals(o, row) && o.TrainableParameters <= row.TrainableParameters
                              && o.OverheadPercent <= row.OverheadPercent + OverheadNoisePoints
                              && (o.QualityError < row.QualityError * (1 - ErrorMargin)
                                  || (o.QualityError <= row.QualityError * (1 + ErrorMargin) && o.TrainableParameters < row.TrainableParameters)))
                  .OrderBy(o => o.QualityError).ThenBy(o => o.TrainableParameters).FirstOrDefault();
    }
}
