// A small dependency-free SVG line/scatter plot with log-scale axes (the main job's plots: quality vs parameters, time
// per token vs parameters, overhead vs tokens). Each series is a polyline through its points plus markers; a null y is a gap.

using System.Globalization;
using System.Security;
using System.Text;

namespace Boft.Benchmarks;

internal static class SvgPlot
{
    public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points, bool Dashed = false);

    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"];

    public static string Render(string title, string xLabel, string yLabel, IReadOnlyList<Series> series, bool logX = true, bool logY = true, string? note = null)
    {
        const int width = 900, height = 560, left = 80, right = 260, top = 60, bottom = 70;
        int plotW = width - left - right, plotH = height - top - bottom;
        var points = series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!logX || p.X > 0) && (!logY || p.Y > 0)).ToList();
        double T(double v, bool log) => log ? Math.Log10(v) : v;
        double xMin = points.Count > 0 ? points.Min(p => T(p.X, logX)) : 0, xMax = points.Count > 0 ? points.Max(p => T(p.X, logX)) : 1;
        double yMin = points.Count > 0 ? points.Min(p => T(p.Y, logY)) : 0, yMax = points.Count > 0 ? points.Max(p => T(p.Y, logY)) : 1;
        if (logX) (xMin, xMax) = (Math.Floor(xMin), Math.Ceiling(xMax));
        if (logY) (yMin, yMax) = (Math.Floor(yMin), Math.Ceiling(yMax));
        if (!logY) (yMin, yMax) = (Math.Min(0, yMin), yMax + 0.05 * (yMax - yMin + 1e-9));
        if (xMax <= xMin) xMax = xMin + 1;
        if (yMax <= yMin) yMax = yMin + 1;
        double X(double v) => left + (T(v, logX) - xMin) / (xMax - xMin) * plotW;
        double Y(double v) => top + plotH - (T(v, logY) - yMin) / (yMax - yMin) * plotH;

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"Helvetica, Arial, sans-serif\">");
        sb.AppendLine(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{left + plotW / 2}\" y=\"28\" font-size=\"16\" text-anchor=\"middle\" font-weight=\"bold\">{E(title)}</text>");
        if (note is not null)
            sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{left + plotW / 2}\" y=\"46\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555\">{E(note)}</text>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#444\"/>");
        foreach ((double v, double pos, bool vertical) in Ticks(xMin, xMax, logX).Select(v => (v, X(v), true)).Concat(Ticks(yMin, yMax, logY).Select(v => (v, Y(v), false))))
        {
            if (vertical)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{pos:F1}\" x2=\"{pos:F1}\" y1=\"{top}\" y2=\"{top + plotH}\" stroke=\"#e4e4e4\"/>");
                sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{pos:F1}\" y=\"{top + plotH + 16}\" font-size=\"11\" text-anchor=\"middle\">{Format(v)}</text>");
            }
            else
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" x2=\"{left + plotW}\" y1=\"{pos:F1}\" y2=\"{pos:F1}\" stroke=\"#e4e4e4\"/>");
                sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{left - 6}\" y=\"{pos + 4:F1}\" font-size=\"11\" text-anchor=\"end\">{Format(v)}</text>");
            }
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{left + plotW / 2}\" y=\"{height - 25}\" font-size=\"12\" text-anchor=\"middle\">{E(xLabel)}</text>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"<text transform=\"translate({left - 55},{top + plotH / 2}) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">{E(yLabel)}</text>");
        for (int s = 0; s < series.Count; s++)
        {
            string color = Colors[s % Colors.Length];
            var valid = series[s].Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!logX || p.X > 0) && (!logY || p.Y > 0)).OrderBy(p => p.X).ToList();
            if (valid.Count > 1)
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\"{(series[s].Dashed ? " stroke-dasharray=\"6,4\"" : "")} points=\"{string.Join(' ', valid.Select(p => string.Create(CultureInfo.InvariantCulture, $"{X(p.X):F1},{Y(p.Y):F1}")))}\"/>");
            foreach ((double x, double y) in valid)
                sb.AppendLine(CultureInfo.InvariantCulture, $"<circle cx=\"{X(x):F1}\" cy=\"{Y(y):F1}\" r=\"3.5\" fill=\"{color}\"><title>{E(series[s].Name)}: x={Format(x)}, y={Format(y)}</title></circle>");
            int ly = top + 10 + s * 20;
            sb.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{left + plotW + 15}\" x2=\"{left + plotW + 35}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2.5\"{(series[s].Dashed ? " stroke-dasharray=\"6,4\"" : "")}/>");
            sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{left + plotW + 40}\" y=\"{ly + 4}\" font-size=\"12\">{E(series[s].Name)}</text>");
        }
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static IEnumerable<double> Ticks(double min, double max, bool log)
    {
        if (log)
        {
            for (int e = (int)min; e <= (int)max; e++)
                yield return Math.Pow(10, e);
            yield break;
        }
        double step = Math.Pow(10, Math.Floor(Math.Log10((max - min) / 4)));
        if ((max - min) / step > 10) step *= 2;
        if ((max - min) / step > 10) step *= 2.5;
        for (double v = Math.Ceiling(min / step) * step; v <= max + 1e-12; v += step)
            yield return v;
    }

    private static string Format(double v) => Math.Abs(v) >= 1000 || (Math.Abs(v) < 0.01 && v != 0)
        ? v.ToString("0.#E+0", CultureInfo.InvariantCulture)
        : v.ToString("0.###", CultureInfo.InvariantCulture);

    private static string E(string text) => SecurityElement.Escape(text) ?? string.Empty;
}
