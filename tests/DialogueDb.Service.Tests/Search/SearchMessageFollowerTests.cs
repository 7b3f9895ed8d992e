using System.Net.Http.Json;
using System.Text.Json;
using DialogueDb.Service.Search;
using DialogueDb.Service.Security;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static DialogueDb.Service.Tests.Search.SearchTestClient;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// PostgreSQL: appended messages reach the index without a queue row, followed by their writing transaction
/// (<see cref="SearchMessageFollower"/>). A message is never skipped, whichever transaction commits first and however
/// many messages one transaction or many write at once; the API's append writes nothing to <c>search_queue</c>.
/// </summary>
public sealed class SearchMessageFollowerTests
{
    private const string Ns = "n1";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Postgres_Appends_QueueNothing_TheirMessagesWaitAheadOfTheCursor()
    {
        await using var engine = await SearchTestEngine.CreateAsync(postgres: true, "follow-append");
        await using var host = await engine.StartAsync(new ScriptedEmbedder(), o => o.SearchIndexer = "external");
        using var client = host.CreateClient(engine.Key);
        var dialogue = await CreateDialogueAsync(client, Ns, "The first note about ZQX-1001", Ct);
        using (var appended = await client.PostAsJsonAsync($"api/v1/message?dialogueId={dialogue}&namespace={Ns}",
            new { role = "user", content = "A second note about ZQX-1002" }, Ct))
        {
            appended.EnsureSuccessStatusCode();
        }

        var queued = await engine.RawRowsAsync("search_queue", Ct);
        Assert.Empty(queued);
        Assert.Equal(2, await engine.KeywordQueueAsync(Ns, Ct));
    }

    [Fact]
    public async Task Postgres_MessageOfAnOlderTransactionThatCommitsLater_IsHeldBackThenIndexed_NotSkipped()
    {
        await using var engine = await SearchTestEngine.CreateAsync(postgres: true, "follow-order");
        await using var host = await engine.StartAsync(new ScriptedEmbedder());
        using var client = host.CreateClient(engine.Key);
        var dialogue = await CreateDialogueAsync(client, Ns, "The first note is about marmalade", Ct);
        await WaitFoundAsync(client, Ns, "message", "marmalade", "keyword", [dialogue], Ct);

        // An older transaction writes a message and stays open while a younger one (an API append) commits.
        var protector = host.Services.GetRequiredService<ContentProtector>();
        await using var older = new NpgsqlConnection(engine.AdminConnectionString);
        await older.OpenAsync(Ct);
        await using var transaction = await older.BeginTransactionAsync(Ct);
        await InsertMessageAsync(older, protector, dialogue, seq: 100, "late", "The late one is about saxophones");
        using (var appended = await client.PostAsJsonAsync($"api/v1/message?dialogueId={dialogue}&namespace={Ns}",
            new { role = "user", content = "The early one is about trampolines" }, Ct))
        {
            appended.EnsureSuccessStatusCode();
        }

        // Time for several indexing rounds: the younger message waits behind the open transaction. (Each note has a word
        // of its own: a message hit answers its dialogue, which every note here shares.)
        await Task.Delay(TimeSpan.FromSeconds(2), Ct);
        Assert.Empty(await SearchAsync(client, Ns, "message", "trampolines", "keyword", Ct));

        await transaction.CommitAsync(Ct);
        await WaitFoundAsync(client, Ns, "message", "trampolines", "keyword", [dialogue], Ct);
        await WaitFoundAsync(client, Ns, "message", "saxophones", "keyword", [dialogue], Ct);
        Assert.Equal(0, await engine.KeywordQueueAsync(Ns, Ct));
    }

    [Fact]
    public async Task Postgres_ATransactionLargerThanABatch_AndManySmallOnes_AllIndexed()
    {
        await using var engine = await SearchTestEngine.CreateAsync(postgres: true, "follow-many");
        const int InOneTransaction = SearchIndexer.BatchSize + 72;
        const int OneEach = SearchIndexer.BatchSize + 22;
        string dialogue;
        await using (var writer = await engine.StartAsync(new ScriptedEmbedder(), o => o.SearchIndexer = "external"))
        {
            using var client = writer.CreateClient(engine.Key);
            dialogue = await CreateDialogueAsync(client, Ns, "The opening note", Ct);
            var protector = writer.Services.GetRequiredService<ContentProtector>();
            await using var admin = new NpgsqlConnection(engine.AdminConnectionString);
            await admin.OpenAsync(Ct);
            await using (var transaction = await admin.BeginTransactionAsync(Ct))
            {
                for (var i = 0; i < InOneTransaction; i++)
                {
                    await InsertMessageAsync(admin, protector, dialogue, seq: 1000 + i, $"big-{i}", $"Batch note number {i}");
                }

                await transaction.CommitAsync(Ct);
            }

            for (var i = 0; i < OneEach; i++)
            {
                await InsertMessageAsync(admin, protector, dialogue, seq: 5000 + i, $"single-{i}", $"Single note number {i}");
            }
        }

        // All of it waits ahead of the cursor; an indexer then takes it in windows of whole transactions.
        Assert.Equal(1 + InOneTransaction + OneEach, await engine.KeywordQueueAsync(Ns, Ct));
        await using var host = await engine.StartAsync(new ScriptedEmbedder());
        var deadline = DateTime.UtcNow + Deadline;
        while (await engine.KeywordQueueAsync(Ns, Ct) > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the indexer did not follow every message");
            await Task.Delay(100, Ct);
        }

        var indexed = await engine.RawRowsAsync("search_items", Ct);
        Assert.Equal(1 + InOneTransaction + OneEach, indexed.Count(row => row.Contains($",{dialogue},", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Postgres_CursorAheadOfTheClustersTransactions_AsAfterARestore_FollowsFromTheStart()
    {
        await using var engine = await SearchTestEngine.CreateAsync(postgres: true, "follow-restored");
        string dialogue;
        await using (var writer = await engine.StartAsync(new ScriptedEmbedder(), o => o.SearchIndexer = "external"))
        {
            using var client = writer.CreateClient(engine.Key);
            dialogue = await CreateDialogueAsync(client, Ns, "A note about kumquats", Ct);
        }

        // A dump of a busier cluster restored here: its cursor is far beyond this cluster's transaction ids.
        await using (var admin = new NpgsqlConnection(engine.AdminConnectionString))
        {
            await admin.OpenAsync(Ct);
            await using var ahead = new NpgsqlCommand("UPDATE search_message_cursor SET next_xid = '987654321098'", admin);
            Assert.Equal(1, await ahead.ExecuteNonQueryAsync(Ct));
        }

        await using var host = await engine.StartAsync(new ScriptedEmbedder());
        using var indexed = host.CreateClient(engine.Key);
        await WaitFoundAsync(indexed, Ns, "message", "kumquats", "keyword", [dialogue], Ct);
    }

    /// <summary>A message row as the API stores it (its content sealed for its row), written on the given connection.</summary>
    private static async Task InsertMessageAsync(NpgsqlConnection connection, ContentProtector protector, string dialogue, long seq,
        string id, string text)
    {
        var content = JsonSerializer.Serialize(text);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var command = new NpgsqlCommand("""
            INSERT INTO messages (namespace, dialogue_id, seq, id, role, name, content, content_length, tags, metadata, created, modified)
            VALUES ($1, $2, $3, $4, 'user', NULL, $5, $6, '[]', '{}', $7, $7)
            """, connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Ns });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = dialogue });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = seq });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = protector.Encrypt(content, RowIdentity.MessageContent(Ns, dialogue, id)) });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = content.Length });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = now });
        await command.ExecuteNonQueryAsync(Ct);
    }
}
