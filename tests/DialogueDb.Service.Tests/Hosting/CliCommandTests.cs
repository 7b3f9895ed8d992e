using System.CommandLine;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>The command line run in-process, its output and errors captured from the invocation's writers.</summary>
public sealed class CliCommandTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(int ExitCode, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var configuration = new InvocationConfiguration { Output = output, Error = errors, EnableDefaultExceptionHandler = false };
        var exitCode = await Cli.Build().Parse(args).InvokeAsync(configuration, Ct);
        return (exitCode, output.ToString(), errors.ToString());
    }

    [Fact]
    public async Task Retention_EmbeddedDataFolder_SweepsAndTrimsTheEventsWithExitCodeZero()
    {
        using var dataDir = new TestFolder();
        TestProject.Write(dataDir.Path, "cli-retention");
        TestProject.WriteEncryptionKeys(dataDir.Path);
        var migrated = await RunAsync("migrate", "--data-dir", dataDir.Path);
        Assert.True(migrated.ExitCode == 0, migrated.Errors);

        var (exitCode, output, errors) = await RunAsync("retention", "--data-dir", dataDir.Path);

        Assert.True(exitCode == 0, errors);
        Assert.Contains("Events older than the retention window trimmed from", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_CreateListRevoke_KeyPrintedOnceListedByNameOnlyAndRevokedOnce()
    {
        using var dataDir = new TestFolder();
        TestProject.Write(dataDir.Path, "cli-keys");

        var created = await RunAsync("keys", "create", "--data-dir", dataDir.Path, "--name", "reporting", "--scope", "read-only");
        var key = created.Output.Trim();
        var listed = await RunAsync("keys", "list", "--data-dir", dataDir.Path);
        var revoked = await RunAsync("keys", "revoke", "reporting", "--data-dir", dataDir.Path);
        var again = await RunAsync("keys", "revoke", "reporting", "--data-dir", dataDir.Path);

        Assert.True(created.ExitCode == 0, created.Errors);
        Assert.StartsWith("ddb_", key, StringComparison.Ordinal);
        Assert.Contains("(read-only) for 'reporting'", created.Errors, StringComparison.Ordinal);
        Assert.Contains("reporting", listed.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(key, listed.Output, StringComparison.Ordinal);
        Assert.Equal(0, revoked.ExitCode);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("No API key 'reporting'.", again.Errors, StringComparison.Ordinal);
        Assert.DoesNotContain("reporting", (await RunAsync("keys", "list", "--data-dir", dataDir.Path)).Output, StringComparison.Ordinal);
    }
}
