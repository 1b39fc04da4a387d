// Tolerance comparisons whose failure messages carry the max difference, its index and the configuration.

using System.Globalization;

namespace Boft.Tests.Infrastructure;

public static class Compare
{
    /// <summary>
    /// Asserts |actual − expected| ≤ atol + rtol·|expected| element-wise. The message reports the worst element relative to its
    /// allowance, its index (multi-dimensional when a shape is given) and <paramref name="context"/>.
    /// </summary>
    public static void AllClose(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what, string context, int[]? shape = null)
    {
        if (actual.Length != expected.Length)
            Assert.Fail($"{what}: length {actual.Length} but expected {expected.Length} [{context}]");
        double worstRatio = -1, worstDiff = 0;
        int worst = -1;
        double maxDiff = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double diff = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(actual[i]) && !double.IsNaN(expected[i]))
                diff = double.PositiveInfinity;
            double allowed = atol + rtol * Math.Abs(expected[i]);
            double ratio = allowed > 0 ? diff / allowed : (diff > 0 ? double.PositiveInfinity : 0);
            maxDiff = Math.Max(maxDiff, diff);
            if (ratio > worstRatio)
            {
                worstRatio = ratio;
                worst = i;
                worstDiff = diff;
            }
        }
        if (worstRatio > 1)
        {
            Assert.Fail(string.Create(CultureInfo.InvariantCulture,
                $"{what}: max |diff| {maxDiff:E3}; worst at index {FormatIndex(worst, shape)}: actual {actual[worst]:R} expected {expected[worst]:R} (|diff| {worstDiff:E3} > atol {atol:E1} + rtol {rtol:E1}·|expected|) [{context}]"));
        }
    }

    public static void AllClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what, string context, int[]? shape = null)
    {
        var widened = new double[actual.Length];
        for (int i = 0; i < actual.Length; i++)
            widened[i] = actual[i];
        AllClose(widened, expected, atol, rtol, what, context, shape);
    }

    /// <summary>Max absolute value (for tolerances relative to a tensor's scale).</summary>
    public static double MaxAbs(ReadOnlySpan<double> values)
    {
        double m = 0;
        foreach (double v in values)
            m = Math.Max(m, Math.Abs(v));
        return m;
    }

    private static string FormatIndex(int flat, int[]? shape)
    {
        if (shape is null || shape.Length <= 1)
            return flat.ToString(CultureInfo.InvariantCulture);
        var idx = new int[shape.Length];
        int rest = flat;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            idx[i] = shape[i] == 0 ? 0 : rest % shape[i];
            rest = shape[i] == 0 ? 0 : rest / shape[i];
        }
        return "[" + string.Join(", ", idx) + "]";
    }
}
