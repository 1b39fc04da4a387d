// Where golden cases come from: the vendored Golden/Cases folder, or the folder given by the run parameter GoldenDir:
//   dotnet test -- 'TestRunParameters.Parameter(name="GoldenDir", value="/abs/dir")'

namespace Boft.Tests.Golden;

public static class GoldenCases
{
    public const string ParameterName = "GoldenDir";

    /// <summary>The folder in use: GoldenDir when given, else the vendored cases next to the test assembly.</summary>
    public static string Directory
    {
        get
        {
            string? custom = TestContext.Parameters.Get(ParameterName);
            return string.IsNullOrWhiteSpace(custom)
                ? System.IO.Path.Combine(AppContext.BaseDirectory, "Golden", "Cases")
                : System.IO.Path.GetFullPath(custom);
        }
    }

    public static bool IsCustomDirectory => !string.IsNullOrWhiteSpace(TestContext.Parameters.Get(ParameterName));

    /// <summary>Case file paths, sorted. Empty when the folder holds none (tests then fail through <see cref="CaseData"/>).</summary>
    public static string[] Files()
    {
        string dir = Directory;
        if (!System.IO.Directory.Exists(dir))
            return [];
        return System.IO.Directory.GetFiles(dir, "*.json").Where(GoldenCase.IsCaseFile).Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>NUnit case data, one per case file, named by the case file. A folder without cases yields one failing case.</summary>
    public static IEnumerable<TestCaseData> CaseData() => CaseData(null);

    /// <summary>NUnit case data for the case files that satisfy <paramref name="filter"/> (all when null); a folder without any case file
    /// yields one failing case.</summary>
    public static IEnumerable<TestCaseData> CaseData(Func<string, bool>? filter)
    {
        string[] all = Files();
        string[] files = filter is null ? all : all.Where(filter).ToArray();
        if (all.Length > 0 && files.Length == 0)
            yield break;
        if (files.Length == 0)
        {
            yield return new TestCaseData(string.Empty).SetName($"NoGoldenCasesIn({System.IO.Path.GetFileName(Directory.TrimEnd('/'))})");
            yield break;
        }
        foreach (string file in files)
            yield return new TestCaseData(file).SetArgDisplayNames(System.IO.Path.GetFileNameWithoutExtension(file));
    }

    /// <summary>Loads a case; fails the test with a clear message for the no-cases placeholder.</summary>
    public static GoldenCase Load(string file)
    {
        if (string.IsNullOrEmpty(file))
            Assert.Fail($"The golden folder '{Directory}' holds no golden case files (*.json other than index.json and config_cases.json).");
        return GoldenCase.Load(file);
    }

    /// <summary>config_cases.json in the folder in use, or null.</summary>
    public static string? ConfigCasesFile
    {
        get
        {
            string path = System.IO.Path.Combine(Directory, "config_cases.json");
            return File.Exists(path) ? path : null;
        }
    }
}
