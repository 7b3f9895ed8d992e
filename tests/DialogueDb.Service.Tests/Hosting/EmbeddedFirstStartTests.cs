using System.Net;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>`make run` on a fresh folder: a development project with one key, kept only as a hash; a CA clients can trust.</summary>
public sealed class EmbeddedFirstStartTests : IAsyncLifetime
{
    private readonly TestFolder _folder = new();
    private readonly string _dataDir;
    private readonly StringWriter _console = new();
    private WebApplication _app = null!;

    // The data folder does not exist yet, as on a first `make run`.
    public EmbeddedFirstStartTests() => _dataDir = Path.Combine(_folder.Path, "data");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var original = Console.Out;
        Console.SetOut(_console);
        try
        {
            var builder = ApiHost.CreateBuilder([], new ServiceOptions { DataDir = _dataDir, Urls = "https://127.0.0.1:0" });
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            _app = ApiHost.Build(builder);
        }
        finally
        {
            Console.SetOut(original);
        }

        await _app.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        finally
        {
            _folder.Dispose();
        }
    }

    [Fact]
    public async Task FirstStart_DevKey_PrintedOnceWrittenForScriptsAndStoredOnlyAsHash()
    {
        var key = (await File.ReadAllTextAsync(Path.Combine(_dataDir, "dev-api-key"), Ct)).Trim();

        Assert.StartsWith("ddb_", key, StringComparison.Ordinal);
        Assert.Contains(key, _console.ToString(), StringComparison.Ordinal);
        var project = await File.ReadAllTextAsync(Path.Combine(_dataDir, "project.json"), Ct);
        Assert.DoesNotContain(key, project, StringComparison.Ordinal);
        Assert.DoesNotContain(key.Split('_')[2], project, StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dataDir, "dev-api-key")));
        }
    }

    [Fact]
    public async Task FirstStart_DevKeyOverGeneratedCa_AuthenticatesAndWrongKeyDoesNot()
    {
        var key = (await File.ReadAllTextAsync(Path.Combine(_dataDir, "dev-api-key"), Ct)).Trim();
        using var ca = LocalCa.Load(_dataDir);
        using var client = LocalCa.CreateClient(new Uri(_app.Urls.Single()), ca);

        using var ok = new HttpRequestMessage(HttpMethod.Get, "/api/v1/dialogue");
        ok.Headers.Authorization = new("Bearer", key);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(ok, Ct)).StatusCode);

        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/v1/dialogue");
        wrong.Headers.Authorization = new("Bearer", key[..^2] + (key.EndsWith("AA", StringComparison.Ordinal) ? "BB" : "AA"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(wrong, Ct)).StatusCode);
    }

    [Fact]
    public void SecondStart_SameFolder_KeepsProjectAndPrintsNoKey()
    {
        var project = File.ReadAllText(Path.Combine(_dataDir, "project.json"));
        var output = new StringWriter();
        var original = Console.Out;
        Console.SetOut(output);
        try
        {
            ApiHost.CreateBuilder([], new ServiceOptions { DataDir = _dataDir, Urls = "https://127.0.0.1:0" });
        }
        finally
        {
            Console.SetOut(original);
        }

        Assert.Equal(project, File.ReadAllText(Path.Combine(_dataDir, "project.json")));
        Assert.DoesNotContain("ddb_", output.ToString(), StringComparison.Ordinal);
    }
}
