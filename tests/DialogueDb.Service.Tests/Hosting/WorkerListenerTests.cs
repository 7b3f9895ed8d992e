using System.Net;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;
using Npgsql;
using static DialogueDb.Service.Tests.Search.SearchTestClient;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>
/// The worker commands (<c>index</c>, <c>relay</c>) in their own processes, as their Kubernetes pods run them, with
/// DIALOGUEDB_METRICS_URLS set: plain-HTTP probes and Prometheus metrics there, nothing of the API. Ready means the
/// database answers and the worker runs, whether it leads or stands by.
/// </summary>
public sealed class WorkerListenerTests
{
    private static readonly TimeSpan ProbeDeadline = TimeSpan.FromSeconds(90);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Index_TwoProcessesWithListeners_BothReady_OneIndexes_MetricsServed_NoApi()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "worker-index").ReadWrite;
        await using var host = await ServiceHost.StartAsync(database.ServiceOptions(dataDir.Path, o => o.SearchIndexer = "external"));
        using var client = host.CreateClient(key);
        var memory = await CreateMemoryAsync(client, "n1", "The invoice INV-5521 was paid by wire transfer.", Ct);

        var args = new[] { "index", "--data-dir", dataDir.Path, "--postgres", database.MaintenanceConnectionString };
        var (firstPort, secondPort) = (ServiceHost.FreePort(), ServiceHost.FreePort());
        await using var first = CliProcess.Start(args, Listening(firstPort));
        await using var second = CliProcess.Start(args, Listening(secondPort));
        using var firstProbe = Plain(firstPort);
        using var secondProbe = Plain(secondPort);

        // One leads and indexes, the other stands by for the lock: both are live and ready.
        await WaitReadyAsync(firstProbe, first);
        await WaitReadyAsync(secondProbe, second);
        await WaitFoundAsync(client, "n1", "memory", "INV-5521", "keyword", [memory], Ct);
        foreach (var probe in (HttpClient[])[firstProbe, secondProbe])
        {
            using var live = await probe.GetAsync("healthz/live", Ct);
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
            using var ready = await probe.GetAsync("healthz/ready", Ct);
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        var scrapes = new[] { await ScrapeAsync(firstProbe), await ScrapeAsync(secondProbe) };
        Assert.All(scrapes, scrape => Assert.True(scrape.Has("dialoguedb_search_queue_depth"), scrape.Text));
        Assert.Single(scrapes, scrape => scrape.Value("dialoguedb_search_indexed_total") >= 1);
        Assert.Equal(0, scrapes.Sum(scrape => scrape.Value("dialoguedb_search_queue_depth")));
        Assert.All(scrapes, scrape => Assert.DoesNotContain("INV-5521", scrape.Text, StringComparison.Ordinal));

        await AssertNoApiAsync(firstProbe, key);
    }

    [Fact]
    public async Task Relay_WithListener_ReadyWhileTheDatabaseAnswers_NotReadyWhileItRefuses_LiveThroughout()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "worker-relay").ReadWrite;
        TestProject.WriteEncryptionKeys(dataDir.Path);
        TestProject.WriteEventKey(dataDir.Path);
        var port = ServiceHost.FreePort();
        var environment = new Dictionary<string, string>(Listening(port))
        {
            ["DIALOGUEDB_REDIS"] = TestRedis.Shared(),
            ["DIALOGUEDB_REDIS_KEY_PREFIX"] = $"ddb:{{relay-{Guid.NewGuid():N}}}:",
        };
        await using var relay = CliProcess.Start(["relay", "--data-dir", dataDir.Path, "--postgres", database.MaintenanceConnectionString],
            environment);
        using var probe = Plain(port);

        await WaitReadyAsync(probe, relay);
        var scrape = await ScrapeAsync(probe);
        Assert.True(scrape.Has("dialoguedb_outbox_depth"), scrape.Text);

        // The maintenance role may no longer log in and its sessions end: the relay's database is gone for it.
        await AdminAsync(database, $"ALTER ROLE \"{database.MaintenanceRole}\" NOLOGIN");
        await AdminAsync(database, $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{database.MaintenanceRole}'");
        await WaitStatusAsync(probe, "healthz/ready", HttpStatusCode.ServiceUnavailable, relay);
        using (var live = await probe.GetAsync("healthz/live", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        await AdminAsync(database, $"ALTER ROLE \"{database.MaintenanceRole}\" LOGIN");
        await WaitReadyAsync(probe, relay);
        await AssertNoApiAsync(probe, key);
    }

    private static Dictionary<string, string> Listening(int port) => new() { ["DIALOGUEDB_METRICS_URLS"] = $"http://127.0.0.1:{port}" };

    private static HttpClient Plain(int port) => new() { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };

    private static Task WaitReadyAsync(HttpClient probe, CliProcess process) =>
        WaitStatusAsync(probe, "healthz/ready", HttpStatusCode.OK, process);

    private static async Task WaitStatusAsync(HttpClient probe, string path, HttpStatusCode expected, CliProcess process)
    {
        var deadline = DateTime.UtcNow + ProbeDeadline;
        HttpStatusCode? last = null;
        while (true)
        {
            Assert.False(process.HasExited, "the worker ended:\n" + process.Output);
            try
            {
                using var response = await probe.GetAsync(path, Ct);
                last = response.StatusCode;
                if (last == expected)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !Ct.IsCancellationRequested))
            {
                // Not listening yet, or no answer within the client's 10 s on a loaded machine: asked again until the deadline.
            }

            Assert.True(DateTime.UtcNow < deadline, $"/{path} answered {last?.ToString() ?? "nothing"}, not {expected}:\n{process.Output}");
            await Task.Delay(200, Ct);
        }
    }

    private static async Task<PrometheusText> ScrapeAsync(HttpClient probe)
    {
        using var response = await probe.GetAsync("metrics", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync(Ct));
    }

    /// <summary>The listener serves probes and metrics only: no API route answers there, with a key or without.</summary>
    private static async Task AssertNoApiAsync(HttpClient probe, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/memory?namespace=n1");
        request.Headers.Authorization = new("Bearer", key);
        using var list = await probe.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.NotFound, list.StatusCode);
        foreach (var path in (string[])["search", "api/v1/search", "dialogue", "openapi/v1.json", ""])
        {
            using var post = await probe.PostAsync(path, new StringContent("""{"query":"x","object":"memory"}"""), Ct);
            Assert.Equal(HttpStatusCode.NotFound, post.StatusCode);
            using var get = await probe.GetAsync(path, Ct);
            Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        }
    }

    private static async Task AdminAsync(TestDatabase database, string sql)
    {
        await using var connection = new NpgsqlConnection(database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }
}
