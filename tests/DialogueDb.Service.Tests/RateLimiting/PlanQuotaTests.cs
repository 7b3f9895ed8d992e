using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.RateLimiting;

/// <summary>§7 monthly plan quotas: exact at the boundary under concurrency, writes blocked, reads and deletes still work.</summary>
public abstract class PlanQuotas(TestStore store) : HostsOnTestStore(store)
{
    private string NewProject(LimitOverrides limits, out string key)
    {
        var dataDir = NewFolder().Path;
        key = TestProject.Write(dataDir, "quota", p => p with { Plan = PlanCatalog.Enterprise, Limits = limits }).ReadWrite;
        TestProject.WriteEncryptionKeys(dataDir);
        return dataDir;
    }

    private Task<ServiceHost> StartAsync(string dataDir) => StartHostAsync(new ServiceOptions
    {
        DataDir = dataDir,
        Urls = "https://127.0.0.1:0",
        Postgres = Postgres,
        EncryptionKeysFile = new ServiceOptions { DataDir = dataDir }.EncryptionKeysPath,
    });

    [Fact]
    public async Task Messages_ConcurrentWritersAtTheBoundary_ExactlyTheQuotaSucceeds()
    {
        var dataDir = NewProject(new LimitOverrides { MessagesPerMonth = 12 }, out var key);
        var host = await StartAsync(dataDir);
        using var client = host.CreateClient(key);
        var dialogue = await CreateDialogueAsync(client, "q1");

        var results = await Task.WhenAll(Enumerable.Range(0, 30).Select(async i =>
        {
            using var response = await client.PostAsJsonAsync($"api/v1/message?dialogueId={dialogue}&namespace=q1",
                new { role = "user", content = $"m{i}" }, Ct);
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync(Ct));
        }));

        Assert.Equal(12, results.Count(r => r.StatusCode == HttpStatusCode.OK));
        var rejected = results.Where(r => r.StatusCode != HttpStatusCode.OK).ToList();
        Assert.All(rejected, r => Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode));
        var error = JsonNode.Parse(rejected[0].Body)!["error"]!;
        Assert.Equal("PLAN_LIMIT_EXCEEDED", (string)error["code"]!);
        Assert.Equal("rate_limit", (string)error["type"]!);
        Assert.Equal("Messages monthly limit exceeded. Your plan allows 12 messages. Please upgrade your plan to continue.", (string)error["message"]!);
        var detail = error["details"]![0]!;
        Assert.Equal("messages", (string)detail["field"]!);
        Assert.Equal(12, (long)detail["limit"]!);
        Assert.Equal(12, (long)detail["used"]!);
        Assert.Equal(DateTimeOffset.UtcNow.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture), (string)detail["period"]!);

        // Reads and deletes keep working; the dialogue holds exactly the admitted messages.
        var list = JsonNode.Parse(await client.GetStringAsync($"api/v1/messages?dialogueId={dialogue}&namespace=q1&limit=100", Ct))!;
        Assert.Equal(12, list["items"]!.AsArray().Count);
        var first = (string)list["items"]![0]!["id"]!;
        using var deleted = await client.DeleteAsync($"api/v1/message/{first}?dialogueId={dialogue}&namespace=q1", Ct);
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        using var stillBlocked = await client.PostAsJsonAsync($"api/v1/message?dialogueId={dialogue}&namespace=q1", new { role = "user", content = "x" }, Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, stillBlocked.StatusCode);
        Assert.True(stillBlocked.Headers.RetryAfter?.Delta > TimeSpan.Zero);
    }

    [Fact]
    public async Task Messages_WritersSpreadOverStripes_EveryItemCountedOnce_ThenExactlyTheRest()
    {
        var dataDir = NewProject(new LimitOverrides { MessagesPerMonth = 45 }, out var key);
        var host = await StartAsync(dataDir);
        using var client = host.CreateClient(key);
        var dialogue = await CreateDialogueAsync(client, "q4");

        var parallel = await Task.WhenAll(Enumerable.Range(0, 40).Select(async i =>
        {
            using var response = await client.PostAsJsonAsync($"api/v1/message?dialogueId={dialogue}&namespace=q4", new { role = "user", content = $"p{i}" }, Ct);
            return response.StatusCode;
        }));
        var sequential = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            using var response = await client.PostAsJsonAsync($"api/v1/message?dialogueId={dialogue}&namespace=q4", new { role = "user", content = $"s{i}" }, Ct);
            sequential.Add(response.StatusCode);
        }

        Assert.All(parallel, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.OK, 5), .. Enumerable.Repeat(HttpStatusCode.TooManyRequests, 3)], sequential);
        var list = JsonNode.Parse(await client.GetStringAsync($"api/v1/messages?dialogueId={dialogue}&namespace=q4&limit=100", Ct))!;
        Assert.Equal(45, list["items"]!.AsArray().Count);
    }

    [Fact]
    public async Task RejectedOrRolledBackWrites_ConsumeNothing()
    {
        var dataDir = NewProject(new LimitOverrides { MessagesPerMonth = 4 }, out var key);
        var host = await StartAsync(dataDir);
        using var client = host.CreateClient(key);
        var dialogue = await CreateDialogueAsync(client, "q3");
        using (var seed = await client.PostAsJsonAsync($"api/v1/message?dialogueId={dialogue}&namespace=q3", new { id = "taken", role = "user", content = "a" }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, seed.StatusCode);
        }

        // A batch that fails (a duplicate id) rolls back entirely and consumes nothing, however often it is retried.
        for (var i = 0; i < 5; i++)
        {
            using var failed = await client.PostAsJsonAsync($"api/v1/messages?dialogueId={dialogue}&namespace=q3",
                new[] { new { id = $"new-{i}", role = "user", content = "b" }, new { id = "taken", role = "user", content = "c" } }, Ct);
            Assert.Equal(HttpStatusCode.Conflict, failed.StatusCode);
        }

        // A batch over the remaining quota is rejected whole.
        using (var tooMany = await client.PostAsJsonAsync($"api/v1/messages?dialogueId={dialogue}&namespace=q3",
                   Enumerable.Range(0, 4).Select(i => new { role = "user", content = $"t{i}" }).ToArray(), Ct))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, tooMany.StatusCode);
        }

        using var fits = await client.PostAsJsonAsync($"api/v1/messages?dialogueId={dialogue}&namespace=q3",
            Enumerable.Range(0, 3).Select(i => new { role = "user", content = $"f{i}" }).ToArray(), Ct);
        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        var list = JsonNode.Parse(await client.GetStringAsync($"api/v1/messages?dialogueId={dialogue}&namespace=q3", Ct))!;
        Assert.Equal(4, list["items"]!.AsArray().Count);
    }

    [Fact]
    public async Task StoredMemories_DeleteFreesRoom_PlanUpgradeUnblocksAtOnce()
    {
        var dataDir = NewProject(new LimitOverrides { MemoriesStored = 2 }, out var key);
        var host = await StartAsync(dataDir);
        using var client = host.CreateClient(key);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("api/v1/memory?namespace=q4", new { id = "m1", value = 1 }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("api/v1/memory?namespace=q4", new { id = "m2", value = 2 }, Ct)).StatusCode);
        using (var over = await client.PostAsJsonAsync("api/v1/memory?namespace=q4", new { id = "m3", value = 3 }, Ct))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, over.StatusCode);
            Assert.Contains("\"field\":\"memories\"", await over.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("api/v1/memory/m3?namespace=q4", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.DeleteAsync("api/v1/memory/m1?namespace=q4", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("api/v1/memory?namespace=q4", new { id = "m3", value = 3 }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await client.PostAsJsonAsync("api/v1/memory?namespace=q4", new { id = "m4", value = 4 }, Ct)).StatusCode);

        // Upgrade: the project file changes, the running server follows within about a second.
        var path = new ServiceOptions { DataDir = dataDir }.ProjectFilePath;
        var document = ProjectDocument.Read(path);
        (document with { Limits = new LimitOverrides { MemoriesStored = 10 } }).Write(path);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        HttpStatusCode status;
        do
        {
            await Task.Delay(100, Ct);
            using var retry = await client.PostAsJsonAsync("api/v1/memory?namespace=q4", new { id = "m4", value = 4 }, Ct);
            status = retry.StatusCode;
        }
        while (status != HttpStatusCode.OK && watch.Elapsed < TimeSpan.FromSeconds(5));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"the upgrade took {watch.Elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task RequestsQuota_UsedUp_WritesBlockedReadsStillAnswer_AndCountSurvivesRestart()
    {
        var dataDir = NewProject(new LimitOverrides { RequestsPerMonth = 5 }, out var key);
        var host = await StartAsync(dataDir);
        using (var client = host.CreateClient(key))
        {
            for (var i = 0; i < 6; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue?namespace=q5", Ct)).StatusCode);
            }

            using var blocked = await client.PostAsJsonAsync("api/v1/dialogue?namespace=q5", new { }, Ct);
            Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
            Assert.Contains("\"field\":\"requests\"", await blocked.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        // Restart: the count is durable (flushed to the database on shutdown), so writes stay blocked.
        await StopHostAsync(host);
        var restarted = await StartAsync(dataDir);
        using var again = restarted.CreateClient(key);
        using var stillBlocked = await again.PostAsJsonAsync("api/v1/memory?namespace=q5", new { value = 1 }, Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, stillBlocked.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await again.GetAsync("api/v1/memory?namespace=q5", Ct)).StatusCode);
    }

    [Fact]
    public async Task QuotasUsedUp_SearchStillAnswers()
    {
        var dataDir = NewProject(new LimitOverrides { RequestsPerMonth = 3, MemoriesStored = 1 }, out var key);
        var host = await StartAsync(dataDir);
        using var client = host.CreateClient(key);
        using (var created = await client.PostAsJsonAsync("api/v1/memory?namespace=q6", new { value = "the spare key is in the shed" }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        }

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/memory?namespace=q6", Ct)).StatusCode);
        }

        using var blocked = await client.PostAsJsonAsync("api/v1/memory?namespace=q6", new { value = 2 }, Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
        // Searching is a read: over every quota it still answers (and counts as a request).
        using var search = await client.PostAsJsonAsync("api/v1/search?namespace=q6", new { query = "where is the key?", @object = "memory" }, Ct);
        Assert.Equal(HttpStatusCode.OK, search.StatusCode);
        Assert.NotNull(JsonNode.Parse(await search.Content.ReadAsStringAsync(Ct))!["results"]);
    }

    /// <summary>Two replicas share one database only on PostgreSQL (each embedded instance has its own SQLite file).</summary>
    protected async Task Dialogues_TwoInstancesAtTheBoundary_ExactlyTheQuotaSucceedsAsync()
    {
        var dataDir = NewProject(new LimitOverrides { DialoguesPerMonth = 7 }, out var key);
        var first = await StartAsync(dataDir);
        var replica = DeleteAfterTest(ServiceHost.ReplicaOf(dataDir));
        var second = await StartAsync(replica.Path);

        using var a = first.CreateClient(key);
        using var b = second.CreateClient(key);
        var statuses = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            using var response = await (i % 2 == 0 ? a : b).PostAsJsonAsync("api/v1/dialogue?namespace=q2", new { label = $"d{i}" }, Ct);
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync(Ct));
        }));

        var unexpected = string.Join("\n", statuses.Where(s => s.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.TooManyRequests)).Select(s => $"{(int)s.StatusCode} {s.Body}"));
        Assert.True(unexpected.Length == 0, unexpected);
        Assert.Equal(7, statuses.Count(s => s.StatusCode == HttpStatusCode.OK));
        Assert.Equal(13, statuses.Count(s => s.StatusCode == HttpStatusCode.TooManyRequests));
        var listed = JsonNode.Parse(await a.GetStringAsync("api/v1/dialogue?namespace=q2&limit=100", Ct))!;
        Assert.Equal(7, listed["items"]!.AsArray().Count);
    }

    private static async Task<string> CreateDialogueAsync(HttpClient client, string ns)
    {
        using var response = await client.PostAsJsonAsync($"api/v1/dialogue?namespace={ns}", new { }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["id"]!;
    }
}

public sealed class PlanQuotasSqlite() : PlanQuotas(TestStore.Sqlite);

public sealed class PlanQuotasPostgres() : PlanQuotas(TestStore.Postgres)
{
    [Fact]
    public Task Dialogues_TwoInstancesAtTheBoundary_ExactlyTheQuotaSucceeds() => Dialogues_TwoInstancesAtTheBoundary_ExactlyTheQuotaSucceedsAsync();
}
