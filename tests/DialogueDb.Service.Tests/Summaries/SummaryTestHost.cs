using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Summaries;

/// <summary>
/// A service on one engine for the summary tests that configure it (their own policy, options or workers): embedded
/// SQLite, or PostgreSQL as a pod runs it (API role, relay and worker on the maintenance role).
/// </summary>
internal sealed class SummaryTestHost : IAsyncDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);
    private readonly TestDatabase? _database;
    private readonly TestFolder _dataDir;

    private SummaryTestHost(ServiceHost host, TestDatabase? database, TestFolder dataDir, ServiceOptions options, string apiKey)
    {
        Host = host;
        _database = database;
        _dataDir = dataDir;
        Options = options;
        Client = host.CreateClient(apiKey);
    }

    public ServiceHost Host { get; }

    public ServiceOptions Options { get; }

    public HttpClient Client { get; }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<SummaryTestHost> StartAsync(string engine, Func<ProjectDocument, ProjectDocument>? policy = null,
        Action<ServiceOptions>? configure = null)
    {
        TestDatabase? database = null;
        if (engine == "postgres")
        {
            if (TestDatabase.UnavailableReason() is { } reason)
            {
                Assert.Skip(reason);
            }

            database = await TestDatabase.CreateAsync();
        }

        var dataDir = new TestFolder();
        try
        {
            var key = TestProject.Write(dataDir.Path, "summaries", policy).ReadWrite;
            var options = new ServiceOptions
            {
                DataDir = dataDir.Path,
                Urls = "https://127.0.0.1:0",
                Postgres = database?.AppConnectionString,
                RelayPostgres = database?.MaintenanceConnectionString,
                EncryptionKeysFile = TestProject.WriteEncryptionKeys(dataDir.Path),
                EventsKeyFile = TestProject.WriteEventKey(dataDir.Path),
                // These tests start many services on a loaded machine; the early close of slow unauthenticated connections
                // (10 s by default, tested in ConnectionLimitTests) must not cut a first request that waited for the CPU.
                UnauthenticatedConnectionSeconds = 120,
            };
            configure?.Invoke(options);
            return new SummaryTestHost(await ServiceHost.StartAsync(options), database, dataDir, options, key);
        }
        catch
        {
            dataDir.Dispose();
            if (database is not null)
            {
                await database.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>A dialogue with <paramref name="texts"/> as alternating user/assistant messages; returns its id.</summary>
    public async Task<string> CreateDialogueAsync(params string[] texts)
    {
        using var response = await Client.PostAsJsonAsync("api/v1/dialogue", new
        {
            messages = texts.Select((text, i) => new { role = i % 2 == 0 ? "user" : "assistant", content = text }).ToArray(),
        }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["id"]!;
    }

    public async Task<(HttpStatusCode Status, JsonObject Body)> SendAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        using var response = await Client.SendAsync(request, Ct);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!.AsObject());
    }

    /// <summary>POST /summary, expecting 202; returns the summary's id.</summary>
    public async Task<string> SummarizeAsync(string dialogueId)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "api/v1/summary", new { dialogueId });
        Assert.True(status == HttpStatusCode.Accepted, $"{(int)status}: {body}");
        return (string)body["id"]!;
    }

    /// <summary>Polls until the summary is no longer processing (within a deadline) and returns it.</summary>
    public async Task<JsonObject> WaitFinishedAsync(string id)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            var (status, summary) = await SendAsync(HttpMethod.Get, $"api/v1/summary/{id}");
            Assert.Equal(HttpStatusCode.OK, status);
            if ((string)summary["status"]! != "processing")
            {
                return summary;
            }

            Assert.True(DateTime.UtcNow < deadline, "the summary was still processing at the deadline");
            await Task.Delay(100, Ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            Client.Dispose();
            await Host.DisposeAsync();
            if (_database is not null)
            {
                await _database.DisposeAsync();
            }
        }
        finally
        {
            _dataDir.Dispose();
        }
    }
}
