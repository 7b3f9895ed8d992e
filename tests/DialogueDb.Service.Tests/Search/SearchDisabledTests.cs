using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Search;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// <c>DIALOGUEDB_SEARCH_ENABLED=false</c>: writes queue no index work on either engine (the one-round-trip append
/// included), no indexer runs, and the search route answers the contract's 404 while everything else works.
/// </summary>
public sealed class SearchDisabledTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sqlite_SearchOff_NothingQueuedAndRouteAbsent()
    {
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-off").ReadWrite;
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", SearchEnabled = false,
        });

        await AssertSearchOffAsync(host, key, async () =>
        {
            await using var scope = host.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
            return (await db.SearchQueue.IgnoreQueryFilters().LongCountAsync(Ct), await db.Messages.IgnoreQueryFilters().LongCountAsync(Ct));
        });
    }

    [Fact]
    public async Task Postgres_SearchOff_NothingQueuedAndRouteAbsent()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-off-pg").ReadWrite;
        await using var host = await ServiceHost.StartAsync(database.ServiceOptions(dataDir.Path, o => o.SearchEnabled = false));

        await AssertSearchOffAsync(host, key, async () =>
        {
            // The maintenance role sees every namespace (the API role may only append to the queue).
            await using var connection = new Npgsql.NpgsqlConnection(database.MaintenanceConnectionString);
            await connection.OpenAsync(Ct);
            await using var command = new Npgsql.NpgsqlCommand(
                "SELECT (SELECT count(*) FROM search_queue), (SELECT count(*) FROM messages)", connection);
            await using var reader = await command.ExecuteReaderAsync(Ct);
            await reader.ReadAsync(Ct);
            return (reader.GetInt64(0), reader.GetInt64(1));
        });
    }

    private static async Task AssertSearchOffAsync(ServiceHost host, string key, Func<Task<(long Queued, long Messages)>> count)
    {
        using var client = host.CreateClient(key);
        using (var created = await client.PostAsJsonAsync("api/v1/dialogue?namespace=n1", new
               {
                   messages = new[] { new { role = "user", content = "the first message" } },
               }, Ct))
        {
            created.EnsureSuccessStatusCode();
            var id = (string)(await created.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
            using var appended = await client.PostAsJsonAsync($"api/v1/messages?namespace=n1",
                new { dialogueId = id, role = "assistant", content = "a second one" }, Ct);
            appended.EnsureSuccessStatusCode();
        }

        using (var memory = await client.PostAsJsonAsync("api/v1/memory?namespace=n1", new { value = "a memory" }, Ct))
        {
            memory.EnsureSuccessStatusCode();
        }

        using var search = await client.PostAsJsonAsync("api/v1/search?namespace=n1", new { query = "memory", @object = "memory" }, Ct);
        Assert.Equal(HttpStatusCode.NotFound, search.StatusCode);
        var error = (await search.Content.ReadFromJsonAsync<JsonObject>(Ct))!["error"]!;
        Assert.Equal("NOT_FOUND", (string)error["code"]!);

        Assert.Empty(host.Services.GetServices<IHostedService>().OfType<SearchIndexer>());
        // The writes themselves landed; none queued index work.
        Assert.Equal((0L, 2L), await count());
    }
}
