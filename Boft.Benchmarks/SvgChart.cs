// A small dependency-free SVG grouped bar chart: a log2 y axis with bars from 1 (ratios, the main job's plot) or a linear
// y axis from 0 (fractions such as accuracies, the finetuning plot).

using System.Globalization;
using System.Security;
using System.Text;

namespace Boft.Benchmarks;

internal static class SvgChart
{
    /// <summary>A group of bars (one per series) under one x label; null values are left out.</summary>
    public sealed record Group(string Label, double?[] Values);

    public sealed record Panel(string Title, List<Group> Groups);

    private static readonly string[] Colors = ["#1f77b4", "#aec7e8", "#d62728", "#ff9896", "#2ca02c", "#98df8a", "#9467bd", "#c5b0d5"];

    public static string Render(string title, string yLabel, List<Panel> panels, int columns, List<string> legend, double? linearMaximum = null, int panelWidth = 420)
    {
        bool linear = linearMaximum is not null;
        const int panelHeight = 260, left = 70, top = 70, gapX = 40, gapY = 70, legendHeight = 26;
        int rowsOfPanels = (panels.Count + columns - 1) / columns;
        int width = Math.Max(left + columns * panelWidth + (columns - 1) * gapX + 30, 1100);
        int legendColumns = Math.Max(1, (width - left) / 340);
        int legendRows = (legend.Count + legendColumns - 1) / legendColumns;
        int height = top + rowsOfPanels * panelHeight + (rowsOfPanels - 1) * gapY + 60 + legendRows * legendHeight;

        var values = panels.SelectMany(p => p.Groups).SelectMany(g => g.Values).Where(v => v is > 0).Select(v => v!.Value).ToList();
        double lo = Math.Min(0.5, values.Count > 0 ? values.Min() : 0.5), hi = Math.Max(2, values.Count > 0 ? values.Max() : 2);
        int logLo = (int)Math.Floor(Math.Log2(lo)), logHi = (int)Math.Ceiling(Math.Log2(hi));
        if (logHi == logLo)
            logHi++;
        if (linear)
        {
            (logLo, logHi) = (0, 5); // five linear ticks: 0, max/5, ..., max
        }
        double maximum = linearMaximum ?? 1;

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"Helvetica, Arial, sans-serif\">");
        sb.AppendLine(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{width / 2}\" y=\"30\" font-size=\"18\" text-anchor=\"middle\" font-weight=\"bold\">{Escape(title)}</text>");
        for (int index = 0; index < panels.Count; index++)
        {
            Panel panel = panels[index];
            int px = left + index % columns * (panelWidth + gapX), py = top + index / columns * (panelHeight + gapY);
            double Y(double v) => linear
                ? py + panelHeight - Math.Clamp(v / maximum, 0, 1) * panelHeight
                : py + panelHeight - (Math.Log2(v) - logLo) / (logHi - logLo) * panelHeight;
            sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{px + panelWidth / 2}\" y=\"{py - 10}\" font-size=\"14\" text-anchor=\"middle\">{Escape(panel.Title)}</text>");
            sb.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{px}\" y=\"{py}\" width=\"{panelWidth}\" height=\"{panelHeight}\" fill=\"none\" stroke=\"#444\"/>");
            for (int e = logLo; e <= logHi; e++)
            {
                double v = linear ? maximum * e / logHi : Math.Pow(2, e), y = Y(v);
                string stroke = e == 0 ? "#000" : "#ddd";
                sb.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{px}\" x2=\"{px + panelWidth}\" y1=\"{y:F1}\" y2=\"{y:F1}\" stroke=\"{stroke}\" stroke-width=\"{(e == 0 ? 1.5 : 1)}\"/>");
                sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{px - 6}\" y=\"{y + 4:F1}\" font-size=\"11\" text-anchor=\"end\">{Format(v)}</text>");
            }
            int groups = panel.Groups.Count;
            double groupWidth = (double)panelWidth / Math.Max(groups, 1);
            for (int g = 0; g < groups; g++)
            {
                Group group = panel.Groups[g];
                int series = group.Values.Length;
                double barWidth = groupWidth * 0.8 / Math.Max(series, 1);
                double gx = px + g * groupWidth + groupWidth * 0.1;
                for (int s = 0; s < series; s++)
                {
                    if (group.Values[s] is not double v || v <= 0)
                        continue;
                    double y = linear ? Y(v) : Y(Math.Clamp(v, Math.Pow(2, logLo), Math.Pow(2, logHi))), baseline = linear ? Y(0) : Y(1);
                    double yTop = Math.Min(y, baseline), barHeight = Math.Abs(baseline - y);
                    sb.AppendLine(CultureInfo.InvariantCulture,
                        $"<rect x=\"{gx + s * barWidth:F1}\" y=\"{yTop:F1}\" width=\"{barWidth * 0.92:F1}\" height=\"{Math.Max(barHeight, 0.5):F1}\" fill=\"{Colors[s % Colors.Length]}\"><title>{Escape(group.Label)}: {v.ToString("F2", CultureInfo.InvariantCulture)}</title></rect>");
                }
                sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{px + (g + 0.5) * groupWidth:F1}\" y=\"{py + panelHeight + 16}\" font-size=\"12\" text-anchor=\"middle\">{Escape(group.Label)}</text>");
            }
            if (index % columns == 0)
                sb.AppendLine(CultureInfo.InvariantCulture, $"<text transform=\"translate({px - 48},{py + panelHeight / 2}) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">{Escape(yLabel)}</text>");
        }
        int legendTop = top + rowsOfPanels * panelHeight + (rowsOfPanels - 1) * gapY + 45;
        for (int s = 0; s < legend.Count; s++)
        {
            int lx = left + s % legendColumns * 340, ly = legendTop + s / legendColumns * legendHeight;
            sb.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{lx}\" y=\"{ly - 11}\" width=\"14\" height=\"14\" fill=\"{Colors[s % Colors.Length]}\"/>");
            sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{lx + 20}\" y=\"{ly}\" font-size=\"13\">{Escape(legend[s])}</text>");
        }
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static string Format(double v) => v >= 1 ? v.ToString("0.##", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Escape(string text) => SecurityElement.Escape(text) ?? string.Empty;
}
