using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// Two replicas over one PostgreSQL database: one hosts the indexer, the other only serves. The serving replica's
/// cached namespace index follows new, changed and deleted items through the change counter.
/// </summary>
public sealed class SearchReplicaTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Postgres_OtherReplicasCache_SeesNewAndDeletedItems()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-replicas").ReadWrite;
        var options = database.ServiceOptions(dataDir.Path);
        using var replica = ServiceHost.ReplicaOf(dataDir.Path);
        await using var indexing = await ServiceHost.StartAsync(options);
        // The replica has no maintenance connection: it neither relays nor indexes, it only serves.
        await using var serving = await ServiceHost.StartAsync(database.ServiceOptions(replica.Path, o => o.RelayPostgres = null));
        using var writer = indexing.CreateClient(key);
        using var reader = serving.CreateClient(key);

        var first = await CreateMemoryAsync(writer, "The spare key is under the blue flower pot.");
        await WaitAsync(reader, ids => ids.Contains(first));
        var second = await CreateMemoryAsync(writer, "The garage key hangs beside the fuse box.");
        await WaitAsync(reader, ids => ids.Contains(first) && ids.Contains(second));
        using (var deleted = await writer.DeleteAsync($"api/v1/memory/{first}?namespace=home", Ct))
        {
            deleted.EnsureSuccessStatusCode();
        }

        await WaitAsync(reader, ids => !ids.Contains(first) && ids.Contains(second));
        Assert.Contains("Search indexer active", indexing.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain("Search indexer active", serving.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Postgres_LeaderConnectionLost_IndexerStopsThenLeadsAgain()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-lead-lost").ReadWrite;
        await using var host = await ServiceHost.StartAsync(database.ServiceOptions(dataDir.Path));
        using var client = host.CreateClient(key);
        var first = await CreateMemoryAsync(client, "The spare key is under the blue flower pot.");
        await WaitAsync(client, ids => ids.Contains(first));

        // The session holding the indexer's advisory lock ends (as when its connection breaks): the lock is released.
        await using (var admin = new Npgsql.NpgsqlConnection(database.AdminConnectionString))
        {
            await admin.OpenAsync(Ct);
            await using var terminate = new Npgsql.NpgsqlCommand("""
                SELECT count(pg_terminate_backend(pid)) FROM pg_locks
                WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND classid = x'6464625F'::int::oid AND objid = x'73726368'::int::oid
                """, admin);
            Assert.Equal(1L, (long)(await terminate.ExecuteScalarAsync(Ct))!);
        }

        // The indexer notices, stops its work and takes the lead again; indexing goes on.
        var deadline = DateTime.UtcNow + Deadline;
        while (!host.Logs.All.Contains("Search indexer failed (LeadLostException)", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the indexer did not notice it lost the lead");
            await Task.Delay(100, Ct);
        }

        var second = await CreateMemoryAsync(client, "The garage key hangs beside the fuse box.");
        await WaitAsync(client, ids => ids.Contains(first) && ids.Contains(second));
        Assert.True(host.Logs.Lines.Count(l => l.Contains("Search indexer active", StringComparison.Ordinal)) >= 2,
            "the indexer did not lead again");
    }

    private static async Task<string> CreateMemoryAsync(HttpClient client, string value)
    {
        using var response = await client.PostAsJsonAsync("api/v1/memory?namespace=home", new { value }, Ct);
        response.EnsureSuccessStatusCode();
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
    }

    private static async Task WaitAsync(HttpClient reader, Func<List<string>, bool> condition)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            using var response = await reader.PostAsJsonAsync("api/v1/search?namespace=home", new { query = "key", @object = "memory", mode = "keyword" }, Ct);
            response.EnsureSuccessStatusCode();
            var ids = (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["items"]!.AsArray().Select(i => (string)i!["id"]!).ToList();
            if (condition(ids))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the serving replica still answers [{string.Join(", ", ids)}]");
            await Task.Delay(100, Ct);
        }
    }
}
