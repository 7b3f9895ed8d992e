using DialogueDb.Service.Hosting;
using DialogueDb.Service.Search;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using static DialogueDb.Service.Tests.Search.SearchTestClient;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// <c>DIALOGUEDB_SEARCH_INDEXER=external</c>: <c>serve</c> only queues index work; with no indexer the queue keeps
/// it (nothing is lost, nothing is searchable yet); a <c>dialoguedb index</c> process then makes it searchable.
/// </summary>
public sealed class ExternalIndexerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sqlite_ExternalIndexer_QueueHoldsWorkUntilIndexProcessRuns()
    {
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-external").ReadWrite;
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", SearchIndexer = "external",
        });

        await AssertIndexedByProcessAsync(host, key, async () =>
        {
            await using var scope = host.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<DialogueDbContext>().SearchQueue.IgnoreQueryFilters().LongCountAsync(Ct);
        }, ["index", "--data-dir", dataDir.Path]);
    }

    [Fact]
    public async Task Postgres_ExternalIndexer_QueueHoldsWorkUntilIndexProcessRuns()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-external-pg").ReadWrite;
        await using var host = await ServiceHost.StartAsync(database.ServiceOptions(dataDir.Path, o => o.SearchIndexer = "external"));

        await AssertIndexedByProcessAsync(host, key, async () =>
        {
            await using var connection = new Npgsql.NpgsqlConnection(database.MaintenanceConnectionString);
            await connection.OpenAsync(Ct);
            // Work waiting: queued changes, and messages the indexer has not followed yet (PostgreSQL queues no appends).
            await using var command = new Npgsql.NpgsqlCommand("""
                SELECT (SELECT count(*) FROM search_queue)
                    + (SELECT count(*) FROM messages m, search_message_cursor c WHERE m.xid >= c.next_xid)
                """, connection);
            return (long)(await command.ExecuteScalarAsync(Ct))!;
        }, ["index", "--data-dir", dataDir.Path, "--postgres", database.MaintenanceConnectionString]);
    }

    [Fact]
    public void IndexerLockFile_HeldByOneOpenerAtATime()
    {
        using var folder = new TestFolder();
        var path = Path.Combine(folder.Path, "search-indexer.lock");

        var first = LeaderLoop.TryLockFile(path);
        var second = LeaderLoop.TryLockFile(path);
        first?.Dispose();
        using var third = LeaderLoop.TryLockFile(path);

        Assert.NotNull(first);
        Assert.Null(second);
        Assert.NotNull(third);
    }

    private static async Task AssertIndexedByProcessAsync(ServiceHost host, string key, Func<Task<long>> queued, string[] indexArgs)
    {
        using var client = host.CreateClient(key);
        var memory = await CreateMemoryAsync(client, "n1", "The invoice INV-7731 was paid by wire transfer.", Ct);
        var dialogue = await CreateDialogueAsync(client, "n1", "Please reschedule the INV-7731 review to Thursday.", Ct);

        // No indexer anywhere: the work waits in the queue and nothing is searchable yet.
        Assert.Empty(host.Services.GetServices<IHostedService>().OfType<SearchIndexer>());
        Assert.Equal(2, await queued());
        Assert.Empty(await SearchAsync(client, "n1", "memory", "INV-7731", "keyword", Ct));

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var index = RunCliAsync(stop.Token, indexArgs);
        try
        {
            await WaitFoundAsync(client, "n1", "memory", "INV-7731", "keyword", [memory], Ct);
            await WaitFoundAsync(client, "n1", "message", "INV-7731", "keyword", [dialogue], Ct);
            await WaitFoundAsync(client, "n1", "memory", "paid by wire", "semantic", [memory], Ct);
            Assert.Equal(0, await queued());
        }
        finally
        {
            await stop.CancelAsync();
        }

        var (exitCode, _, errors) = await index;
        Assert.True(exitCode == 0, errors);
    }
}
