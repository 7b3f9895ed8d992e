using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Sdk;

namespace DialogueDb.Service.Tests.Audit;

/// <summary>
/// The README's event-opening snippets, taken from the README as they stand (so they cannot drift) and run as a consumer
/// runs them, in a folder holding the event key file and an <c>events.jsonl</c> the real service wrote: each opens every
/// event, and the items they print equal the items the service sealed.
/// </summary>
public sealed class ReadmeEventSnippetTests : IAsyncLifetime
{
    private const string Content = "readme-snippet-content ünïcödé";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly TestFolder _folder = new("readme-");

    /// <summary>Each event of the file as the service itself opens it (sealed item replaced by the plain one).</summary>
    private List<JsonObject> _opened = [];

    public async ValueTask InitializeAsync()
    {
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "readme").ReadWrite;
        await using (var host = await ServiceHost.StartAsync(new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0" }))
        {
            using var client = host.CreateClient(key);
            using var created = await client.PostAsJsonAsync("api/v1/dialogue?namespace=readme",
                new { id = "d1", label = "snippet", messages = new[] { new { role = "user", content = Content } } }, Ct);
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync(Ct));
            using var deleted = await client.DeleteAsync("api/v1/dialogue/d1?namespace=readme", Ct);
            Assert.True(deleted.IsSuccessStatusCode);
            var options = host.Services.GetRequiredService<ServiceOptions>();
            var lines = await EventLinesAsync(options.EventsFilePath, 3);
            await File.WriteAllLinesAsync(Path.Combine(_folder.Path, "events.jsonl"), lines, Ct);
            File.Copy(options.EventsKeyPath, Path.Combine(_folder.Path, "events-key.json"));
            var ring = EventKeyRing.Parse(await File.ReadAllTextAsync(options.EventsKeyPath, Ct), options.EventsKeyPath);
            _opened = [.. lines.Select(l => JsonNode.Parse(EventSealer.Open(Encoding.UTF8.GetBytes(l), ring)!)!.AsObject())];
        }

        Assert.Contains(_opened, e => (string?)e["type"] == "message.created" && (string?)e["item"]!["content"] == Content);
        Assert.Contains(_opened, e => (string?)e["type"] == "dialogue.deleted" && (string?)e["item"]!["label"] == "snippet");
    }

    [Fact]
    public async Task Python_OpensEveryEventTheServiceSealed()
    {
        var python = Which("python3")
            ?? throw SkipException.ForSkip("python3 is not installed: the README's Python snippet cannot run here (.ci/run installs it).");

        var snippet = Path.Combine(_folder.Path, "open_events.py");
        await File.WriteAllTextAsync(snippet, Block("python", "Opening an event in Python"), Ct);
        // The snippet runs unchanged; only its print is given one that writes each opened event as JSON, for comparing.
        const string Harness = """
            import json, sys
            source = open(sys.argv[1], encoding="utf-8").read()
            def emit(value): sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
            exec(compile(source, "README.md (Python)", "exec"), {"__name__": "__main__", "print": emit})
            """;

        var output = await RunAsync(python, ["-c", Harness, snippet]);

        AssertOpenedAsTheServiceDoes(output);
    }

    [Fact]
    public async Task CSharp_OpensEveryEventTheServiceSealed()
    {
        var snippet = Path.Combine(_folder.Path, "open-events.cs");
        await File.WriteAllTextAsync(snippet, Block("csharp", "And in C#"), Ct);

        // A file-based program (`dotnet run file.cs`, .NET 10 SDK): built and run as a consumer would.
        var output = await RunAsync(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", ["run", snippet]);

        AssertOpenedAsTheServiceDoes(output);
    }

    private void AssertOpenedAsTheServiceDoes(string output)
    {
        var printed = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(_opened.Count, printed.Count);
        foreach (var (expected, actual) in _opened.Zip(printed))
        {
            Assert.True(JsonNode.DeepEquals(expected, actual), $"expected {expected.ToJsonString()}\nprinted  {actual.ToJsonString()}");
        }
    }

    /// <summary>The first fenced block of <paramref name="language"/> after the README line starting <paramref name="intro"/>.</summary>
    private static string Block(string language, string intro)
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        var start = readme.IndexOf("\n" + intro, StringComparison.Ordinal);
        Assert.True(start >= 0, $"README.md has no line starting '{intro}'");
        var fence = $"\n```{language}\n";
        var open = readme.IndexOf(fence, start, StringComparison.Ordinal);
        Assert.True(open >= 0, $"README.md has no ```{language} block after '{intro}'");
        var body = open + fence.Length;
        var close = readme.IndexOf("\n```\n", body - 1, StringComparison.Ordinal);
        Assert.True(close >= body - 1, $"README.md's ```{language} block after '{intro}' is not closed");
        return readme[body..(close + 1)];
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "README.md")) && File.Exists(Path.Combine(dir.FullName, "DialogueDb.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No repository root above {AppContext.BaseDirectory}");
    }

    private static async Task<List<string>> EventLinesAsync(string path, int expected)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var lines = await EventsFile.WholeLinesAsync(path, Ct);
            if (lines.Count >= expected || watch.Elapsed > TimeSpan.FromSeconds(60))
            {
                Assert.True(lines.Count >= expected, $"{lines.Count} events in {path} after 60 s, expected {expected}");
                return lines;
            }

            await Task.Delay(50, Ct);
        }
    }

    private static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);

    /// <summary>Runs <paramref name="program"/> in the folder with the key and the events; its standard output.</summary>
    private async Task<string> RunAsync(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = _folder.Path, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The test host's own MSBuild settings would point a nested build at the test run's SDK resolution.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        // `dotnet run file.cs` keeps its build in $XDG_DATA_HOME/dotnet/runfile/<file>-<hash of its path>: by default one
        // more folder under ~/.local/share for every run of this test (each has its own path). Here it goes with the folder
        // (which must exist: the SDK finds no cache folder otherwise).
        start.Environment["XDG_DATA_HOME"] = Directory.CreateDirectory(Path.Combine(_folder.Path, "data")).FullName;
        start.Environment["PYTHONIOENCODING"] = "utf-8";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        DotnetChild.DisableDiagnostics(start.Environment);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var errors = process.StandardError.ReadToEndAsync(Ct);
        try
        {
            await process.WaitForExitAsync(Ct);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true); // cancelled: it must not write on into the folder being deleted
            }
        }

        Assert.True(process.ExitCode == 0, $"{program} exited with {process.ExitCode}:\n{await errors}\n{await output}");
        return await output;
    }

    public ValueTask DisposeAsync()
    {
        _folder.Dispose();
        return ValueTask.CompletedTask;
    }
}
