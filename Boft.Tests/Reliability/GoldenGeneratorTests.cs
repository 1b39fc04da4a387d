// Reproducible oracle (docs/08_Guarantees.md): the vendored golden cases (Boft.Tests/Golden/Cases) are what the committed
// generators (reference/make_golden*.py) write. Needs Debian's PyTorch (/usr/bin/python3 with torch and numpy); skipped with
// the reason otherwise. Runs make_golden.py always and make_golden_conv.py / make_golden_lowp.py when conv_* / lowp_* cases
// are vendored (about 15-40 s of Python on 2 cores).
//
// Rule: same files, keys, array lengths, strings, integers and booleans; float64 answers equal to 1e-12 relative (what BLAS
// and libm differences between machines leave). Not compared: the generators' diagnostics of float32/bf16/fp16 rounding and
// finite differences (".derived.", ".precision.acceptance.") and PyTorch's own low-precision outputs ("*_torch_lowp"), which
// measure this machine's rounding rather than define an answer.

using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Boft.Tests.Checkpoints;

namespace Boft.Tests.Reliability;

[TestFixture]
[Category("Oracle")]
public sealed class GoldenGeneratorTests
{
    private const string Python = "/usr/bin/python3";
    private const double RelativeTolerance = 1e-12;

    /// <summary>The repository root: the folder above the test binaries that holds reference/make_golden.py.</summary>
    internal static string RepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "reference", "make_golden.py")) && Directory.Exists(Path.Combine(dir.FullName, "Boft.Tests")))
                return dir.FullName;
        throw new InvalidOperationException($"No repository root (with reference/make_golden.py) above {AppContext.BaseDirectory}.");
    }

    [Test]
    public void VendoredGoldenCases_AreWhatTheCommittedGeneratorsWrite()
    {
        string? unavailable = TorchUnavailableReason();
        if (unavailable is not null)
            Assert.Ignore(unavailable);
        string root = RepositoryRoot();
        string vendored = Path.Combine(root, "Boft.Tests", "Golden", "Cases");
        string[] vendoredCases = Directory.GetFiles(vendored, "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        string output = CheckpointTestFiles.NewDirectory();
        try
        {
            Generate(root, "make_golden.py", output);
            if (vendoredCases.Any(f => f.StartsWith("conv_", StringComparison.Ordinal)))
                Generate(root, "make_golden_conv.py", output);
            if (vendoredCases.Any(f => f.StartsWith("lowp_", StringComparison.Ordinal)))
                Generate(root, "make_golden_lowp.py", output);
            var problems = new List<string>();
            foreach (string name in vendoredCases)
            {
                string generated = Path.Combine(output, name);
                if (!File.Exists(generated))
                {
                    problems.Add($"{name}: vendored, but no committed generator writes it");
                    continue;
                }
                Compare(JsonNode.Parse(File.ReadAllText(generated)), JsonNode.Parse(File.ReadAllText(Path.Combine(vendored, name))), name, problems);
            }
            Assert.That(problems, Is.Empty, $"{problems.Count} differences (first ones listed)");
            TestContext.Out.WriteLine($"{vendoredCases.Length} vendored files equal the generators' output");
        }
        finally
        {
            CheckpointTestFiles.Delete(output);
        }
    }

    private static string? TorchUnavailableReason()
    {
        if (!File.Exists(Python))
            return $"{Python} is not installed; this check needs Debian's python3 with PyTorch (apt-get install python3-torch python3-numpy).";
        var (exitCode, output) = CheckpointTestFiles.Run(Python, ["-c", "import torch, numpy"], TimeSpan.FromMinutes(2));
        return exitCode == 0 ? null : $"{Python} cannot import torch and numpy (exit {exitCode}), so the golden generators cannot run; install Debian's python3-torch and python3-numpy. {output.Trim()}";
    }

    private static void Generate(string root, string script, string output)
    {
        var clock = Stopwatch.StartNew();
        var (exitCode, log) = CheckpointTestFiles.Run(Python, ["-B", Path.Combine(root, "reference", script), "--out", output], TimeSpan.FromMinutes(10));
        Assert.That(exitCode, Is.Zero, $"{script} failed: {log}");
        TestContext.Out.WriteLine($"{script}: {clock.Elapsed.TotalSeconds:F1} s");
    }

    private static bool IsDiagnostic(string path) =>
        path.Contains(".derived", StringComparison.Ordinal) || path.Contains(".precision.acceptance", StringComparison.Ordinal) ||
        path.Contains("_torch_lowp", StringComparison.Ordinal);

    private static void Compare(JsonNode? generated, JsonNode? vendored, string path, List<string> problems)
    {
        if (problems.Count >= 20 || IsDiagnostic(path))
            return;
        switch (generated, vendored)
        {
            case (null, null):
                return;
            case (JsonObject g, JsonObject v):
                string[] keys = g.Select(kv => kv.Key).Order(StringComparer.Ordinal).ToArray(), vendoredKeys = v.Select(kv => kv.Key).Order(StringComparer.Ordinal).ToArray();
                if (!keys.SequenceEqual(vendoredKeys))
                {
                    problems.Add($"{path}: keys [{string.Join(", ", keys)}] vs vendored [{string.Join(", ", vendoredKeys)}]");
                    return;
                }
                foreach (string key in keys)
                    Compare(g[key], v[key], $"{path}.{key}", problems);
                return;
            case (JsonArray g, JsonArray v):
                if (g.Count != v.Count)
                {
                    problems.Add($"{path}: {g.Count} elements vs vendored {v.Count}");
                    return;
                }
                for (int i = 0; i < g.Count; i++)
                    Compare(g[i], v[i], $"{path}[{i}]", problems);
                return;
            case (JsonValue g, JsonValue v):
                if (g.TryGetValue(out double a) && v.TryGetValue(out double b) && g.GetValueKind() == System.Text.Json.JsonValueKind.Number)
                {
                    if (Math.Abs(a - b) > RelativeTolerance * Math.Max(1, Math.Max(Math.Abs(a), Math.Abs(b))))
                        problems.Add(string.Create(CultureInfo.InvariantCulture, $"{path}: {a:R} vs vendored {b:R}"));
                    return;
                }
                if (g.ToJsonString() != v.ToJsonString())
                    problems.Add($"{path}: {g.ToJsonString()} vs vendored {v.ToJsonString()}");
                return;
            default:
                problems.Add($"{path}: {generated?.GetValueKind()} vs vendored {vendored?.GetValueKind()}");
                return;
        }
    }
}
