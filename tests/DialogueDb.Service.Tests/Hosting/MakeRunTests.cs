using System.Diagnostics;
using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>
/// <c>make run</c> keeps its data in the repository's <c>./.dialoguedb</c>, where the README's examples (run from the
/// repository root) look for the dev key and the CA, although <c>dotnet run</c> starts the service in the project
/// folder. Read from make's dry run (<c>make -n</c>): the command it would run, without starting a server.
/// </summary>
public sealed class MakeRunTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MakeRun_FromTheRootOrElsewhere_ServesTheRepositorysDataFolder()
    {
        var root = RepositoryRoot();
        var expected = $"serve --data-dir \"{Path.Combine(root, ".dialoguedb")}\"";

        Assert.Contains(expected, await DryRunAsync(root, ["run"]), StringComparison.Ordinal);
        // From another folder (make -C): still the repository's folder, not the caller's.
        Assert.Contains(expected, await DryRunAsync(Path.GetTempPath(), ["-C", root, "run"]), StringComparison.Ordinal);
        Assert.Contains("`make run` keeps its data in `./.dialoguedb/`", await File.ReadAllTextAsync(Path.Combine(root, "README.md"), Ct),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task MakeRun_DataDirInTheEnvironment_ThatFolder()
    {
        var root = RepositoryRoot();
        var elsewhere = Path.Combine(Path.GetTempPath(), "dialoguedb-elsewhere");

        var command = await DryRunAsync(root, ["run"], ("DIALOGUEDB_DATA_DIR", elsewhere));

        Assert.Contains($"serve --data-dir \"{elsewhere}\"", command, StringComparison.Ordinal);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Makefile")) && File.Exists(Path.Combine(dir.FullName, "DialogueDb.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No repository root (Makefile and DialogueDb.sln) above {AppContext.BaseDirectory}");
    }

    private static async Task<string> DryRunAsync(string workingDirectory, string[] arguments,
        params (string Name, string Value)[] environment)
    {
        if (!File.Exists("/usr/bin/make"))
        {
            Assert.Skip("make is not installed (the repository's CI runs its tests through make).");
        }

        var start = new ProcessStartInfo("/usr/bin/make")
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.ArgumentList.Add("-n");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var inherited = start.Environment.Keys.Where(k => k.StartsWith(ServiceOptions.EnvironmentPrefix, StringComparison.Ordinal)).ToList();
        foreach (var name in inherited)
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("make did not start");
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var errors = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        Assert.True(process.ExitCode == 0, await errors);
        return await output;
    }
}
