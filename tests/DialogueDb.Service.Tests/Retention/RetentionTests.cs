using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Retention;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace DialogueDb.Service.Tests.Retention;

/// <summary>
/// §8 retention, with the sweeper's clock moved instead of waiting: rows are written through the API, their last
/// activity is then set to a chosen age (as if written long ago), and the sweeper runs at chosen instants. What
/// expires goes, permanently; nothing else.
/// </summary>
public sealed class RetentionTests
{
    /// <summary>"Now" of every test: whole milliseconds, like stored timestamps.</summary>
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly RetentionOverrides Periods = new() { DialogueDays = 30, ShortTermMemoryDays = 30, LongTermMemoryDays = 60 };

    private sealed record Running(ServiceHost Host, HttpClient Client, FakeTimeProvider Clock, ServiceOptions Options, string? Admin,
        TestFolder DataDir) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                Client.Dispose();
                await Host.DisposeAsync();
            }
            finally
            {
                DataDir.Dispose();
            }
        }

        public RetentionSweeper Sweeper(TextWriter progress, string? postgres = null, EffectivePolicy? policy = null)
        {
            var contexts = Contexts(postgres);
            var current = Host.Services.GetRequiredService<ProjectPolicy>();
            return new RetentionSweeper(() => new DialogueDbContext(contexts), policy ?? current.Effective, current.Current.ProjectId,
                Host.Services.GetRequiredService<ContentProtector>(), Host.Services.GetRequiredService<AuditOutbox>(), Clock, progress);
        }

        /// <summary>Contexts over the embedded file, or over <paramref name="postgres"/> (a connection string).</summary>
        public DbContextOptions<DialogueDbContext> Contexts(string? postgres)
        {
            var built = new DbContextOptionsBuilder<DialogueDbContext>();
            if (postgres is null)
            {
                StorageSetup.ConfigureSqlite(built, Options);
            }
            else
            {
                StorageSetup.Configure(built, NpgsqlDataSource.Create(postgres));
            }

            return built.Options;
        }

        /// <summary>Sets a row's last activity as if it had been written <paramref name="ago"/> before <see cref="Now"/>.</summary>
        public async Task AgeAsync(string table, string ns, string id, TimeSpan ago)
        {
            var modified = (Now - ago).ToUnixTimeMilliseconds();
            var sql = $"UPDATE {table} SET modified = {modified} WHERE namespace = '{ns}' AND id = '{id}'";
            if (Admin is null)
            {
                await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Options.SqlitePath};Pooling=False");
                await connection.OpenAsync(Ct);
                await using var command = connection.CreateCommand();
                command.CommandText = sql;
                Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
            }
            else
            {
                await using var connection = new NpgsqlConnection(Admin);
                await connection.OpenAsync(Ct);
                await using var command = new NpgsqlCommand(sql, connection);
                Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
            }
        }

        public async Task<HttpStatusCode> StatusAsync(string path)
        {
            using var response = await Client.GetAsync(path, Ct);
            return response.StatusCode;
        }
    }

    /// <summary>
    /// The service over the embedded database, or over PostgreSQL as the API role; there without the relay and the search
    /// indexer (they run on the maintenance role's connection) unless <paramref name="withIndexer"/>.
    /// </summary>
    private static async Task<Running> StartAsync(TestDatabase? database = null, bool withIndexer = false)
    {
        var dataDir = new TestFolder();
        try
        {
            var key = TestProject.Write(dataDir.Path, "retention", p => p with { Retention = Periods }).ReadWrite;
            var options = new ServiceOptions
            {
                DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", Postgres = database?.AppConnectionString,
                EncryptionKeysFile = TestProject.WriteEncryptionKeys(dataDir.Path),
            };
            if (database is not null && withIndexer)
            {
                options.RelayPostgres = database.MaintenanceConnectionString;
                options.EventsKeyFile = TestProject.WriteEventKey(dataDir.Path);
            }

            var host = await ServiceHost.StartAsync(options);
            return new Running(host, host.CreateClient(key), new FakeTimeProvider(Now.AddDays(-1)), options, database?.AdminConnectionString,
                dataDir);
        }
        catch
        {
            dataDir.Dispose();
            throw;
        }
    }

    private static async Task Ok(Task<HttpResponseMessage> request)
    {
        using var response = await request;
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(Ct)}");
    }

    [Fact]
    public async Task Periods_OneSecondEitherSideOfExpiry_ExactlyTheExpiredGo()
    {
        await using var run = await StartAsync();
        var c = run.Client;
        await Ok(c.PostAsJsonAsync("api/v1/dialogue?namespace=r", new { id = "old", messages = new[] { new { role = "user", content = "x" } } }, Ct));
        await Ok(c.PostAsJsonAsync("api/v1/dialogue?namespace=r", new { id = "alive" }, Ct));
        await Ok(c.PostAsJsonAsync("api/v1/dialogue?namespace=r", new { id = "old-thread", threadOf = "old" }, Ct));
        await Ok(c.PostAsJsonAsync("api/v1/memory?namespace=r", new { id = "short", value = 1, term = "short" }, Ct));
        await Ok(c.PostAsJsonAsync("api/v1/memory?namespace=r", new { id = "long", value = 2 }, Ct));
        await run.AgeAsync("dialogues", "r", "old", TimeSpan.FromDays(30));
        await run.AgeAsync("dialogues", "r", "alive", TimeSpan.FromDays(10)); // kept alive by recent activity
        await run.AgeAsync("dialogues", "r", "old-thread", TimeSpan.FromDays(1)); // recent, but goes with its parent
        await run.AgeAsync("memories", "r", "short", TimeSpan.FromDays(30));
        await run.AgeAsync("memories", "r", "long", TimeSpan.FromDays(30));

        // One second before expiry: nothing goes.
        run.Clock.SetUtcNow(Now.AddSeconds(-1));
        Assert.Equal(new RetentionSweeper.Totals(0, 0, 0), await run.Sweeper(TextWriter.Null).RunAsync(100, Ct));

        // One second after: the old dialogue with its message and thread, and the short-term memory.
        run.Clock.SetUtcNow(Now.AddSeconds(1));
        Assert.Equal(new RetentionSweeper.Totals(2, 1, 1), await run.Sweeper(TextWriter.Null).RunAsync(100, Ct));
        Assert.Equal(HttpStatusCode.NotFound, await run.StatusAsync("api/v1/dialogue/old?namespace=r"));
        Assert.Equal(HttpStatusCode.NotFound, await run.StatusAsync("api/v1/dialogue/old-thread?namespace=r"));
        Assert.Equal(HttpStatusCode.NotFound, await run.StatusAsync("api/v1/memory/short?namespace=r"));
        Assert.Equal(HttpStatusCode.OK, await run.StatusAsync("api/v1/dialogue/alive?namespace=r"));
        Assert.Equal(HttpStatusCode.OK, await run.StatusAsync("api/v1/memory/long?namespace=r"));

        // Idempotent: a second run at the same time finds nothing.
        Assert.Equal(new RetentionSweeper.Totals(0, 0, 0), await run.Sweeper(TextWriter.Null).RunAsync(100, Ct));

        // Unlimited means never.
        await Ok(c.PostAsJsonAsync("api/v1/memory?namespace=r", new { id = "forever", value = 3 }, Ct));
        await run.AgeAsync("memories", "r", "forever", TimeSpan.FromDays(900));
        var forever = run.Host.Services.GetRequiredService<ProjectPolicy>().Effective with { LongTermMemoryRetentionDays = null };
        Assert.Equal(new RetentionSweeper.Totals(0, 0, 0), await run.Sweeper(TextWriter.Null, policy: forever).RunAsync(100, Ct));
        Assert.Equal(HttpStatusCode.OK, await run.StatusAsync("api/v1/memory/forever?namespace=r"));

        // The long-term period and the kept-alive dialogue expire later.
        run.Clock.SetUtcNow(Now.AddDays(30).AddSeconds(1));
        Assert.Equal(new RetentionSweeper.Totals(1, 0, 2), await run.Sweeper(TextWriter.Null).RunAsync(100, Ct));
        Assert.Equal(HttpStatusCode.NotFound, await run.StatusAsync("api/v1/memory/long?namespace=r"));
        Assert.Equal(HttpStatusCode.NotFound, await run.StatusAsync("api/v1/dialogue/alive?namespace=r"));

        // Each deletion was announced, by retention.
        var events = await EventsAsync(run.Options.EventsFilePath, e => (string)e["actor"]! == "retention", 6);
        Assert.Equal(["dialogue.deleted", "dialogue.deleted", "memory.deleted", "dialogue.deleted", "memory.deleted", "memory.deleted"],
            events.Select(e => (string)e["type"]!));
    }

    [Fact]
    public async Task Expired_MessagesAndMemories_LeaveSearch() => await ExpiredItemsLeaveSearchAsync(null);

    [Fact]
    public async Task Postgres_Expired_MessagesAndMemories_LeaveSearch()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        await ExpiredItemsLeaveSearchAsync(database);
    }

    /// <summary>Expired items leave the search answers, the search index and the vector queue (on PostgreSQL the sweeper
    /// and the check run as the maintenance role, which sees every namespace).</summary>
    private static async Task ExpiredItemsLeaveSearchAsync(TestDatabase? database)
    {
        await using var run = await StartAsync(database, withIndexer: true);
        var maintenance = database?.MaintenanceConnectionString;
        var c = run.Client;
        var word = "glimmerfen" + Random.Shared.Next(1000, 9999);
        await Ok(c.PostAsJsonAsync("api/v1/dialogue?namespace=r", new { id = "old", messages = new[] { new { role = "user", content = $"{word} notes" } } }, Ct));
        await Ok(c.PostAsJsonAsync("api/v1/memory?namespace=r", new { id = "short", value = $"{word} reminder", term = "short" }, Ct));
        await SearchUntilAsync(c, word, "message", found => found.Count == 1);
        await SearchUntilAsync(c, word, "memory", found => found.Count == 1);
        await run.AgeAsync("dialogues", "r", "old", TimeSpan.FromDays(30));
        await run.AgeAsync("memories", "r", "short", TimeSpan.FromDays(30));

        run.Clock.SetUtcNow(Now.AddSeconds(1));
        Assert.Equal(new RetentionSweeper.Totals(1, 1, 1), await run.Sweeper(TextWriter.Null, maintenance).RunAsync(100, Ct));

        await SearchUntilAsync(c, word, "message", found => found.Count == 0);
        await SearchUntilAsync(c, word, "memory", found => found.Count == 0);
        // Out of the index itself, not only out of the answers: no live index entry, nothing left to embed.
        await using var db = new DialogueDbContext(run.Contexts(maintenance));
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (await db.SearchItems.IgnoreQueryFilters().AnyAsync(i => i.Namespace == "r" && i.Vectors != null, Ct)
               || await db.SearchVectorQueue.AnyAsync(q => q.Namespace == "r", Ct))
        {
            Assert.True(DateTime.UtcNow < deadline, "the expired items are still in the search index");
            await Task.Delay(100, Ct);
        }
    }

    [Fact]
    public async Task ExpiredDialogue_TakesItsSummariesAndPendingJobs()
    {
        await using var run = await StartAsync();
        var c = run.Client;
        await Ok(c.PostAsJsonAsync("api/v1/dialogue?namespace=r", new { id = "summed", messages = new[] { new { role = "user", content = "Plan the offsite in June." } } }, Ct));
        await Ok(c.PostAsJsonAsync("api/v1/dialogue?namespace=r", new { id = "alive", messages = new[] { new { role = "user", content = "Keep this one." } } }, Ct));
        await Ok(c.PostAsJsonAsync("api/v1/summary?namespace=r", new { dialogueId = "summed", id = "s-old" }, Ct));
        await Ok(c.PostAsJsonAsync("api/v1/summary?namespace=r", new { dialogueId = "alive", id = "s-alive" }, Ct));
        await run.AgeAsync("dialogues", "r", "summed", TimeSpan.FromDays(30));

        run.Clock.SetUtcNow(Now.AddSeconds(1));
        Assert.Equal(new RetentionSweeper.Totals(1, 1, 0), await run.Sweeper(TextWriter.Null).RunAsync(100, Ct));

        Assert.Equal(HttpStatusCode.NotFound, await run.StatusAsync("api/v1/summary/s-old?namespace=r"));
        Assert.Equal(HttpStatusCode.OK, await run.StatusAsync("api/v1/summary/s-alive?namespace=r"));
        await using var db = new DialogueDbContext(new DbContextOptionsBuilder<DialogueDbContext>()
            .UseSqlite($"Data Source={run.Options.SqlitePath}").Options);
        Assert.False(await db.SummaryJobs.IgnoreQueryFilters().AnyAsync(j => j.DialogueId == "summed", Ct));
    }

    /// <summary>Searches (keyword mode) until the found ids satisfy the condition, within a minute.</summary>
    private static async Task SearchUntilAsync(HttpClient client, string query, string kind, Func<List<string>, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (true)
        {
            using var response = await client.PostAsJsonAsync("api/v1/search?namespace=r", new { query, @object = kind, mode = "keyword" }, Ct);
            var found = (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["items"]!.AsArray().Select(i => (string)i!["id"]!).ToList();
            if (condition(found))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"search still finds [{string.Join(", ", found)}]");
            await Task.Delay(100, Ct);
        }
    }

    [Fact]
    public async Task Backlog_DeletedInBoundedBatches_WhileTheApiKeepsAnswering()
    {
        await using var run = await StartAsync();
        await Ok(run.Client.PostAsJsonAsync("api/v1/dialogue?namespace=b", new { id = "big" }, Ct));
        for (var batch = 0; batch < 20; batch++)
        {
            await Ok(run.Client.PostAsJsonAsync("api/v1/messages?dialogueId=big&namespace=b",
                Enumerable.Range(0, 100).Select(i => new { role = "user", content = $"m{batch}-{i}" }).ToArray(), Ct));
        }

        await Ok(run.Client.PostAsJsonAsync("api/v1/dialogue?namespace=b", new { id = "recent" }, Ct));
        await run.AgeAsync("dialogues", "b", "big", TimeSpan.FromDays(31));
        run.Clock.SetUtcNow(Now);

        using var progress = new StringWriter();
        // On a thread of its own: Microsoft.Data.Sqlite completes its "async" calls synchronously.
        var sweeper = run.Sweeper(progress);
        var sweep = Task.Run(() => sweeper.RunAsync(250, Ct), Ct);
        var answered = 0;
        while (!sweep.IsCompleted)
        {
            Assert.Equal(HttpStatusCode.OK, await run.StatusAsync("api/v1/dialogue/recent?namespace=b"));
            answered++;
        }

        var totals = await sweep;
        Assert.Equal(new RetentionSweeper.Totals(1, 2000, 0), totals);
        Assert.True(answered > 0);
        Assert.Contains("Retention complete: 1 dialogues, 2000 messages", progress.ToString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, await run.StatusAsync("api/v1/messages?dialogueId=big&namespace=b"));
    }

    [Fact]
    public async Task Lock_SecondRunAtOnce_Refused()
    {
        using var dataDir = new TestFolder();
        var options = new ServiceOptions { DataDir = dataDir.Path };
        await using (var first = await RetentionLock.TryAcquireAsync(options, null, Ct))
        {
            Assert.NotNull(first);
            Assert.Null(await RetentionLock.TryAcquireAsync(options, null, Ct));
        }

        await using var again = await RetentionLock.TryAcquireAsync(options, null, Ct);
        Assert.NotNull(again);
    }

    [Fact]
    public async Task Postgres_ExpiredDialogue_RowsAndPendingEventsGone_OneRunAtATime()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        await using var run = await StartAsync(database); // no relay here: events stay pending in the outbox
        await Ok(run.Client.PostAsJsonAsync("api/v1/dialogue?namespace=pg", new { id = "gone", messages = new[] { new { role = "user", content = "bye" } } }, Ct));
        await Ok(run.Client.PostAsJsonAsync("api/v1/memory?namespace=pg", new { id = "gone-memory", value = "v", term = "short" }, Ct));
        await run.AgeAsync("dialogues", "pg", "gone", TimeSpan.FromDays(31));
        await run.AgeAsync("memories", "pg", "gone-memory", TimeSpan.FromDays(31));
        run.Clock.SetUtcNow(Now);

        await using var maintenance = NpgsqlDataSource.Create(database.MaintenanceConnectionString);
        await using (var held = await RetentionLock.TryAcquireAsync(run.Options, maintenance, Ct))
        {
            Assert.NotNull(held);
            Assert.Null(await RetentionLock.TryAcquireAsync(run.Options, maintenance, Ct));
        }

        var totals = await run.Sweeper(TextWriter.Null, database.MaintenanceConnectionString).RunAsync(100, Ct);

        Assert.Equal(new RetentionSweeper.Totals(1, 1, 1), totals);
        await using var admin = new NpgsqlConnection(database.AdminConnectionString);
        await admin.OpenAsync(Ct);
        foreach (var (sql, expected) in (ValueTuple<string, long>[])
                 [
                     ("SELECT count(*) FROM dialogues", 0),
                     ("SELECT count(*) FROM messages", 0),
                     ("SELECT count(*) FROM memories", 0),
                     // Only the deletion events remain pending: the created events of the erased items went with them.
                     ("SELECT count(*) FROM outbox", 2),
                 ])
        {
            await using var command = new NpgsqlCommand(sql, admin);
            Assert.True(expected == (long)(await command.ExecuteScalarAsync(Ct))!, sql);
        }
    }

    private static async Task<List<JsonNode>> EventsAsync(string path, Func<JsonNode, bool> which, int expected)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        List<JsonNode> events = [];
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (File.Exists(path))
            {
                events = [.. (await EventsFile.WholeLinesAsync(path, Ct)).Select(l => JsonNode.Parse(l)!).Where(which)];
                if (events.Count >= expected)
                {
                    break;
                }
            }

            await Task.Delay(100, Ct);
        }

        return events;
    }
}
