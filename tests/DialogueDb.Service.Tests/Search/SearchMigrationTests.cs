using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Search;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql;
using static DialogueDb.Service.Tests.Search.SearchTestClient;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// The search migrations over a PostgreSQL database that already holds data: dialogues, messages and memories written
/// before search existed, then an index, a namespace state and queued work as the first search version left them. The
/// upgrade (every migration after, with their backfills, as <c>dialoguedb migrate</c> runs them) keeps every row, stamps
/// the old index with the legacy identity, and <c>dialoguedb reindex</c> then makes all of it searchable, by keyword and
/// by meaning.
/// </summary>
public sealed class SearchMigrationTests
{
    private const string BeforeSearch = "20261129230726_QuotaStripes";
    private const string FirstSearchVersion = "20261203120035_SearchIndex";
    private const string Ns = "upgraded";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Postgres_DataFromBeforeSearch_SurvivesTheMigrationsAndGetsIndexed()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync(migrate: false);
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-migration").ReadWrite;
        var keysFile = TestProject.WriteEncryptionKeys(dataDir.Path);
        var protector = new ContentProtector(EncryptionKeyRing.Parse(await File.ReadAllTextAsync(keysFile, Ct), keysFile), "search-migration");
        await MigrateToAsync(database, BeforeSearch);
        await using var admin = new NpgsqlConnection(database.AdminConnectionString);
        await admin.OpenAsync(Ct);

        // Written by a version without search.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        string[] texts = ["The parcel ORD-7781 left the Rotterdam depot", "Customs cleared parcel ORD-7781 on Monday"];
        await ExecuteAsync(admin, """
            INSERT INTO dialogues (namespace, id, status, label, tags, metadata, state, created, modified, total_messages,
                thread_count, last_seq)
            VALUES (@ns, 'd1', 'active', NULL, '[]', '{}', @state, @now, @now, 2, 0, 2);
            INSERT INTO messages (namespace, dialogue_id, seq, id, role, name, content, content_length, tags, metadata, created, modified)
            VALUES (@ns, 'd1', 1, 'msg1', 'user', NULL, @content1, @length1, '[]', '{}', @now, @now),
                   (@ns, 'd1', 2, 'msg2', 'assistant', NULL, @content2, @length2, '[]', '{}', @now, @now);
            INSERT INTO memories (namespace, id, value, type, term, label, description, tags, metadata, created, modified)
            VALUES (@ns, 'm1', @value, 'string', 'long', NULL, NULL, '[]', '{}', @now, @now);
            """,
            ("ns", Ns), ("now", now),
            ("state", protector.Encrypt("{}", RowIdentity.DialogueState(Ns, "d1"))),
            ("content1", protector.Encrypt(JsonSerializer.Serialize(texts[0]), RowIdentity.MessageContent(Ns, "d1", "msg1"))),
            ("length1", JsonSerializer.Serialize(texts[0]).Length),
            ("content2", protector.Encrypt(JsonSerializer.Serialize(texts[1]), RowIdentity.MessageContent(Ns, "d1", "msg2"))),
            ("length2", JsonSerializer.Serialize(texts[1]).Length),
            ("value", protector.Encrypt(JsonSerializer.Serialize("The customer wants deliveries at the Utrecht office"),
                RowIdentity.MemoryValue(Ns, "m1"))));

        // Left by the first search version: the memory indexed, one message still queued.
        await MigrateToAsync(database, FirstSearchVersion);
        await ExecuteAsync(admin, """
            INSERT INTO search_namespaces (namespace, kind, version, floor, items, total_length) VALUES (@ns, 'memory', 1, 0, 1, 6);
            INSERT INTO search_items (namespace, kind, item_id, dialogue_id, version, vectors, length) VALUES (@ns, 'memory', 'm1', NULL, 1, @vectors, 6);
            INSERT INTO search_queue (namespace, kind, item_id, dialogue_id, enqueued) VALUES (@ns, 'message', 'msg2', 'd1', @now);
            """,
            ("ns", Ns), ("now", now), ("vectors", SearchVectors.Protect(protector, Ns, SearchItemKey.Memory("m1"), [new float[384]])));

        await DatabaseMigrator.MigratePostgresAsync(database.OwnerConnectionString, database.AppRole, database.MaintenanceRole, Ct);
        await DatabaseMigrator.SealFreeTextAsync(database.OwnerConnectionString, () => protector, Ct);

        Assert.Equal(1L, await ScalarAsync(admin, "SELECT count(*) FROM dialogues"));
        Assert.Equal(2L, await ScalarAsync(admin, "SELECT count(*) FROM messages"));
        Assert.Equal(1L, await ScalarAsync(admin, "SELECT count(*) FROM memories"));
        Assert.Equal(1L, await ScalarAsync(admin, "SELECT count(*) FROM search_queue"));
        Assert.Equal(0L, await ScalarAsync(admin, "SELECT count(*) FROM search_vector_queue"));
        // The index of the first version is stamped as what built it (re-indexed over itself, or rebuilt when asked).
        Assert.Equal(1L, await ScalarAsync(admin, $"""
            SELECT count(*) FROM search_namespaces
            WHERE namespace = '{Ns}' AND kind = 'memory' AND model = '{SearchSchemaUpgrade.LegacyIdentity}' AND format = {SearchSchemaUpgrade.LegacyFormat}
            """));

        // The service reads the key ring the rows above were sealed with (the one already in the data dir).
        await using var host = await ServiceHost.StartAsync(database.ServiceOptions(dataDir.Path, o => o.SearchIndexer = "external"));
        using var client = host.CreateClient(key);
        var reindex = await RunCliAsync(Ct, ["reindex", "--data-dir", dataDir.Path, "--postgres", database.MaintenanceConnectionString]);
        Assert.True(reindex.ExitCode == 0, reindex.Errors);

        // The old rows read as they were written, and all of them are found by words and by meaning.
        using (var response = await client.GetAsync($"api/v1/messages?dialogueId=d1&namespace={Ns}", Ct))
        {
            response.EnsureSuccessStatusCode();
            var items = (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["items"]!.AsArray();
            Assert.Equal(texts.Order(), items.Select(i => (string)i!["content"]!).Order());
        }

        Assert.Equal(["d1", "d1"], await SearchAsync(client, Ns, "message", "ORD-7781", "keyword", Ct));
        Assert.Equal(["m1"], await SearchAsync(client, Ns, "memory", "Utrecht", "keyword", Ct));
        Assert.Equal(["m1"], await SearchAsync(client, Ns, "memory", "where should deliveries go?", "semantic", Ct));
        var semantic = await SearchMessageIdsAsync(client, "customs clearance of the parcel");
        Assert.Equal("msg2", semantic[0]);
        Assert.Equal(["msg1", "msg2"], semantic.Order());
        Assert.Equal(0L, await ScalarAsync(admin, "SELECT count(*) FROM search_queue"));
        Assert.Equal(0L, await ScalarAsync(admin, "SELECT count(*) FROM search_vector_queue"));
        Assert.Equal(0L, await ScalarAsync(admin,
            $"SELECT count(*) FROM search_namespaces WHERE model IS NULL OR model = '{SearchSchemaUpgrade.LegacyIdentity}'"));
    }

    private static async Task MigrateToAsync(TestDatabase database, string migration)
    {
        await using var owner = NpgsqlDataSource.Create(database.OwnerConnectionString);
        var options = new DbContextOptionsBuilder<DialogueDbContext>();
        StorageSetup.Configure(options, owner);
        await using var db = new DialogueDbContext(options.Options);
        await db.GetService<IMigrator>().MigrateAsync(migration, cancellationToken: Ct);
    }

    private static async Task<List<string>> SearchMessageIdsAsync(HttpClient client, string query)
    {
        using var response = await client.PostAsJsonAsync($"api/v1/search?namespace={Ns}", new { query, @object = "message", mode = "semantic" }, Ct);
        response.EnsureSuccessStatusCode();
        return [.. (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["items"]!.AsArray().Select(i => (string)i!["id"]!)];
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(Ct);
    }
}
