using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Search;
using Microsoft.Extensions.DependencyInjection;
using static DialogueDb.Service.Tests.Search.SearchTestClient;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// Message ids are the client's to choose and unique within a dialogue only, so the index keys a message by its dialogue
/// and id. It once keyed it by id within the namespace: of two dialogues' messages of one id only one was searchable,
/// deleting one (or its dialogue) took the other's entry with it, and both written while no indexer ran failed their
/// batch's insert on every retry, and with it all keyword indexing of the project. Each test writes two dialogues that
/// each hold a message <c>m1</c> of other words.
/// </summary>
public sealed class SearchSameMessageIdTests
{
    private const string Ns = "n1";
    private const string QuokkaText = "Quokkas sunbathe on Rottnest island";
    private const string NarwhalText = "Narwhals dive beneath Arctic pack ice";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TwoDialoguesWithTheSameMessageId_IndexedInOneBatch_BothFound(bool postgres)
    {
        await using var engine = await SearchTestEngine.CreateAsync(postgres, "same-message-id");
        await using (var writer = await engine.StartAsync(new ScriptedEmbedder(), o => o.SearchIndexer = "external"))
        {
            using var client = writer.CreateClient(engine.Key);
            await WriteAsync(client, "first", QuokkaText);
            await WriteAsync(client, "second", NarwhalText);
        }

        await using var host = await engine.StartAsync(new ScriptedEmbedder());
        using var indexed = host.CreateClient(engine.Key);
        using (var later = await indexed.PostAsJsonAsync($"api/v1/message?dialogueId=first&namespace={Ns}",
            new { role = "user", content = "A later note about ocelots" }, Ct))
        {
            later.EnsureSuccessStatusCode();
        }

        // The indexer went on past the batch, and kept both messages.
        await WaitFoundAsync(indexed, Ns, "message", "ocelots", "keyword", ["first"], Ct);
        Assert.Equal(["first"], await SearchAsync(indexed, Ns, "message", "quokkas", "keyword", Ct));
        Assert.Equal(["second"], await SearchAsync(indexed, Ns, "message", "narwhals", "keyword", Ct));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TwoDialoguesWithTheSameMessageId_EachFoundByItsOwnWords_AsItsGetReturnsIt(bool postgres)
    {
        await using var engine = await SearchTestEngine.CreateAsync(postgres, "same-message-id");
        await using var host = await engine.StartAsync(new ScriptedEmbedder());
        using var client = host.CreateClient(engine.Key);
        await WriteAsync(client, "first", QuokkaText);
        await WriteAsync(client, "second", NarwhalText);

        await WaitFoundAsync(client, Ns, "message", "quokkas", "keyword", ["first"], Ct);
        await WaitFoundAsync(client, Ns, "message", "narwhals", "keyword", ["second"], Ct);
        foreach (var (query, dialogue) in new[] { ("quokkas Rottnest", "first"), ("narwhals Arctic", "second") })
        {
            var items = await ItemsAsync(client, query, "keyword");
            var item = Assert.Single(items);
            Assert.Equal(dialogue, (string)item!["dialogueId"]!);
            Assert.True(JsonNode.DeepEquals(await GetMessageAsync(client, dialogue), item), item!.ToJsonString());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TwoDialoguesWithTheSameMessageId_BothFoundByMeaning(bool postgres)
    {
        await using var engine = await SearchTestEngine.CreateAsync(postgres, "same-message-id");
        await using var host = await engine.StartAsync(new ScriptedEmbedder());
        using var client = host.CreateClient(engine.Key);
        await WriteAsync(client, "first", QuokkaText);
        await WriteAsync(client, "second", NarwhalText);

        // The scripted embedder puts texts that share words near: each query's nearest message is its own.
        await WaitNearestAsync(client, "quokkas sunbathe on Rottnest", "first");
        await WaitNearestAsync(client, "narwhals dive beneath Arctic ice", "second");
    }

    /// <summary>Deleting the first dialogue's message "m1", or the whole first dialogue, leaves the second's "m1" found.</summary>
    [Theory]
    [InlineData(false, "api/v1/message/m1?dialogueId=first")]
    [InlineData(true, "api/v1/message/m1?dialogueId=first")]
    [InlineData(false, "api/v1/dialogue/first?")]
    [InlineData(true, "api/v1/dialogue/first?")]
    public async Task TwoDialoguesWithTheSameMessageId_OneDeleted_TheOtherStillFound(bool postgres, string deletion)
    {
        await using var engine = await SearchTestEngine.CreateAsync(postgres, "same-message-id");
        await using var host = await engine.StartAsync(new ScriptedEmbedder());
        using var client = host.CreateClient(engine.Key);
        await WriteAsync(client, "second", NarwhalText);
        await WaitFoundAsync(client, Ns, "message", "narwhals", "keyword", ["second"], Ct);
        await WriteAsync(client, "first", QuokkaText);
        await WaitFoundAsync(client, Ns, "message", "quokkas", "keyword", ["first"], Ct);

        using (var deleted = await client.DeleteAsync($"{deletion}&namespace={Ns}", Ct))
        {
            deleted.EnsureSuccessStatusCode();
        }

        await WaitGoneAsync(client, "quokkas");
        Assert.Equal(["second"], await SearchAsync(client, Ns, "message", "narwhals", "keyword", Ct));
    }

    /// <summary>
    /// An index as the version before left it: keyed by message id alone, with analysis format 3, holding one of the two
    /// messages, its postings and vectors encrypted under its id alone. The new version cannot read it: it is searched as
    /// empty, then emptied and rebuilt from the stored messages, and both are found, by words and by meaning. On SQLite the
    /// tables still have the older primary key (dropped and created anew at start); on PostgreSQL the migration changed it.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task IndexKeyedByMessageIdAlone_Upgraded_BothMessagesFound(bool postgres)
    {
        await using var engine = await SearchTestEngine.CreateAsync(postgres, "same-message-id");
        OldIndexRow row;
        await using (var writer = await engine.StartAsync(new ScriptedEmbedder(), o => o.SearchIndexer = "external"))
        {
            using var client = writer.CreateClient(engine.Key);
            await WriteAsync(client, "first", QuokkaText);
            await WriteAsync(client, "second", NarwhalText);
            row = await OldIndexRowAsync(writer.Services);
        }

        await LeaveOldIndexAsync(engine, row, postgres);

        await using var host = await engine.StartAsync(new ScriptedEmbedder());
        using var indexed = host.CreateClient(engine.Key);
        await WaitFoundAsync(indexed, Ns, "message", "quokkas", "keyword", ["first"], Ct);
        await WaitFoundAsync(indexed, Ns, "message", "narwhals", "keyword", ["second"], Ct);
        await WaitNearestAsync(indexed, "quokkas sunbathe on Rottnest", "first");
        await WaitNearestAsync(indexed, "narwhals dive beneath Arctic ice", "second");
    }

    /// <summary>The first dialogue's <c>m1</c> as the version before indexed it.</summary>
    private sealed record OldIndexRow(byte[] Terms, byte[] Vectors, int Length, string Model);

    private static async Task<OldIndexRow> OldIndexRowAsync(IServiceProvider services)
    {
        var fields = await OlderIndexerSeal.MessageAsync(services, Ns, "first", "m1", QuokkaText, Ct);
        return new OldIndexRow(fields.Terms, fields.Vectors, fields.Length,
            SearchIndexIdentity.Of(services.GetRequiredService<IEmbedder>(), services.GetRequiredService<BlindTokenKey>()));
    }

    /// <summary>
    /// Replaces the namespace's message index (none yet: no indexer ran) with one of the version before holding the first
    /// dialogue's <c>m1</c>, and drops the work that would index the messages anew (only a rebuild indexes them).
    /// </summary>
    private static async Task LeaveOldIndexAsync(SearchTestEngine engine, OldIndexRow row, bool postgres)
    {
        await engine.ExecuteAsync(postgres
            ? """
                DELETE FROM search_queue;
                UPDATE search_message_cursor SET next_xid = pg_snapshot_xmin(pg_current_snapshot());
                """
            : """
                DELETE FROM search_queue;
                DROP TABLE search_items;
                DROP TABLE search_vector_queue;
                CREATE TABLE search_items (namespace TEXT NOT NULL, kind TEXT NOT NULL, item_id TEXT NOT NULL, dialogue_id TEXT NULL,
                    version INTEGER NOT NULL, vectors BLOB NULL, length INTEGER NOT NULL, terms BLOB NULL,
                    CONSTRAINT PK_search_items PRIMARY KEY (namespace, kind, item_id));
                CREATE INDEX IX_search_items_namespace_dialogue_id ON search_items (namespace, dialogue_id);
                CREATE INDEX IX_search_items_namespace_version ON search_items (namespace, version);
                CREATE TABLE search_vector_queue (id INTEGER NOT NULL CONSTRAINT PK_search_vector_queue PRIMARY KEY AUTOINCREMENT,
                    namespace TEXT NOT NULL, kind TEXT NOT NULL, item_id TEXT NOT NULL, dialogue_id TEXT NULL, version INTEGER NOT NULL,
                    enqueued INTEGER NOT NULL, failed INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt INTEGER NOT NULL DEFAULT 0);
                CREATE UNIQUE INDEX IX_search_vector_queue_namespace_kind_item_id ON search_vector_queue (namespace, kind, item_id);
                """, Ct);
        await engine.ExecuteAsync("""
            INSERT INTO search_namespaces (namespace, kind, version, floor, items, total_length, model, format)
            VALUES (@ns, 'message', 1, 0, 1, @length, @model, 3);
            INSERT INTO search_items (namespace, kind, item_id, dialogue_id, version, vectors, length, terms)
            VALUES (@ns, 'message', 'm1', 'first', 1, @vectors, @length, @terms);
            """, Ct, ("ns", Ns), ("length", row.Length), ("model", row.Model), ("vectors", row.Vectors), ("terms", row.Terms));
    }

    /// <summary>Creates a dialogue holding one message, <c>m1</c>.</summary>
    private static async Task WriteAsync(HttpClient client, string dialogue, string content)
    {
        using var created = await client.PostAsJsonAsync($"api/v1/dialogue?namespace={Ns}",
            new { id = dialogue, messages = new[] { new { id = "m1", role = "user", content } } }, Ct);
        created.EnsureSuccessStatusCode();
    }

    private static async Task<JsonArray> ItemsAsync(HttpClient client, string query, string mode)
    {
        using var response = await client.PostAsJsonAsync($"api/v1/search?namespace={Ns}", new { query, @object = "message", mode }, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["items"]!.AsArray();
    }

    private static async Task<JsonNode> GetMessageAsync(HttpClient client, string dialogue)
    {
        using var response = await client.GetAsync($"api/v1/message/m1?dialogueId={dialogue}&namespace={Ns}", Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonNode>(Ct))!;
    }

    /// <summary>Searches by meaning until the nearest message is <c>m1</c> of <paramref name="dialogue"/> (its vectors are in).</summary>
    private static async Task WaitNearestAsync(HttpClient client, string query, string dialogue)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            var items = await ItemsAsync(client, query, "semantic");
            if (items.Count > 0 && (string)items[0]!["dialogueId"]! == dialogue)
            {
                Assert.Equal("m1", (string)items[0]!["id"]!);
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"search by meaning for '{query}' still answers {items.ToJsonString()}");
            await Task.Delay(100, Ct);
        }
    }

    /// <summary>Searches by keyword until nothing is found.</summary>
    private static async Task WaitGoneAsync(HttpClient client, string query)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (await SearchAsync(client, Ns, "message", query, "keyword", Ct) is { Count: > 0 } ids)
        {
            Assert.True(DateTime.UtcNow < deadline, $"search for '{query}' still answers [{string.Join(", ", ids)}]");
            await Task.Delay(100, Ct);
        }
    }
}
