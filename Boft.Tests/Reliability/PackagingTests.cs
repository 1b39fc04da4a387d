// NuGet packages (README, "Referencing Boft"): `dotnet pack` makes Boft.Core and Boft.Kernels packages (README, licence, XML
// docs, symbols, ILGPU as a version range), and a fresh console project restores them from a local folder feed, builds and
// runs (Consumer/Program.cs.txt: train, infer with IsTraining = false, save and load a checkpoint on the SIMD backend).
// Works offline: the consumer's packages go to a private folder, with this machine's NuGet package folder as a read-only
// fallback for ILGPU, and unreachable configured sources are ignored. Packs the build the tests run on (--no-build), so it
// takes about a minute on 2 cores, mostly the consumer's restore and build.

using System.IO.Compression;
using Boft.Tests.Checkpoints;

namespace Boft.Tests.Reliability;

[TestFixture]
[Category("Packaging")]
public sealed class PackagingTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    [Test]
    public void Packages_HaveTheirParts_AndAConsumerProjectBuildsAndRunsAgainstThem()
    {
        string root = GoldenGeneratorTests.RepositoryRoot();
        string work = CheckpointTestFiles.NewDirectory();
        try
        {
            string feed = Path.Combine(work, "feed"), consumer = Path.Combine(work, "consumer");
            Dotnet(root, "pack", Path.Combine(root, "Boft.sln"), "--no-build", "-c", Configuration, "-o", feed, "-p:UseSharedCompilation=false");
            string version = PackageVersion(feed, "Boft.Core");
            foreach (string id in new[] { "Boft.Core", "Boft.Kernels" })
            {
                string package = Path.Combine(feed, $"{id}.{version}.nupkg");
                Assert.That(File.Exists(Path.ChangeExtension(package, ".snupkg")), Is.True, $"{id}: symbols package");
                using ZipArchive zip = ZipFile.OpenRead(package);
                string[] entries = zip.Entries.Select(e => e.FullName).ToArray();
                Assert.That(entries, Does.Contain($"lib/net10.0/{id}.dll").And.Contain($"lib/net10.0/{id}.xml").And.Contain("README.md").And.Contain("LICENSE"), id);
                using var reader = new StreamReader(zip.GetEntry($"{id}.nuspec")!.Open());
                string nuspec = reader.ReadToEnd();
                Assert.That(nuspec, Does.Contain("<license type=\"expression\">MIT</license>").And.Contain("<readme>README.md</readme>"), id);
                if (id == "Boft.Kernels")
                    Assert.That(nuspec, Does.Contain("id=\"ILGPU\" version=\"[1.5.3, 2.0.0)\"").And.Contain($"id=\"Boft.Core\" version=\"{version}\""));
            }

            Directory.CreateDirectory(consumer);
            File.Copy(Path.Combine(AppContext.BaseDirectory, "Reliability", "Consumer", "Program.cs.txt"), Path.Combine(consumer, "Program.cs"));
            File.WriteAllText(Path.Combine(consumer, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Boft.Kernels" Version="[{version}]" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(consumer, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <config>
                    <add key="globalPackagesFolder" value="{Path.Combine(work, "packages")}" />
                  </config>
                  <fallbackPackageFolders>
                    <add key="machine" value="{MachinePackagesFolder()}" />
                  </fallbackPackageFolders>
                  <packageSources>
                    <add key="boft-local" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            Dotnet(consumer, "restore", "--ignore-failed-sources");
            Dotnet(consumer, "build", "--no-restore", "-c", "Debug", "-p:UseSharedCompilation=false");
            string output = Dotnet(consumer, "bin/Debug/net10.0/Consumer.dll");
            Assert.That(output, Does.Contain("consumer ok: Simd(").And.Contain("threads 2"));
            Assert.That(Directory.Exists(Path.Combine(work, "packages", "boft.kernels", version)), Is.True, "Boft.Kernels came from the local feed");
        }
        finally
        {
            CheckpointTestFiles.Delete(work);
        }
    }

    private static string PackageVersion(string feed, string id)
    {
        string? file = Directory.GetFiles(feed, $"{id}.*.nupkg").Select(Path.GetFileName).SingleOrDefault(f => char.IsDigit(f![id.Length + 1]));
        Assert.That(file, Is.Not.Null, $"{id} package in {feed}: {string.Join(", ", Directory.GetFiles(feed).Select(Path.GetFileName))}");
        return file![(id.Length + 1)..^".nupkg".Length];
    }

    private static string MachinePackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    private static string Dotnet(string workingDirectory, params string[] arguments)
    {
        var start = new System.Diagnostics.ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        // The test host's own MSBuild settings must not leak into the child builds.
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        start.Environment.Remove("MSBuildSDKsPath");
        using var process = System.Diagnostics.Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', arguments)} did not finish in 8 minutes");
        }
        string output = stdout.Result + stderr.Result;
        Assert.That(process.ExitCode, Is.Zero, $"dotnet {string.Join(' ', arguments)} failed in {workingDirectory}:\n{output}");
        return output;
    }
}
