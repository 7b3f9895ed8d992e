using System.Net.Http.Json;
using static DialogueDb.Service.Tests.Search.SearchTestClient;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// An index row the running version cannot decrypt never fails a search: it is left out, logged without its content,
/// and its item is indexed again from the stored item, so the index heals without <c>dialoguedb reindex</c>. During a
/// rolling upgrade to analysis format 4 an older indexer that still holds the lead writes such rows into migrated
/// indexes: its message rows are keyed by dialogue as the migrated tables ask, but their postings and vectors are sealed
/// under the message id alone, and its vector step seals them so over rows this version wrote.
/// </summary>
public sealed class SearchUnreadableRowTests
{
    private const string Ns = "n1";
    private const string QuokkaText = "Quokkas sunbathe on Rottnest island";
    private const string NarwhalText = "Narwhals dive beneath Arctic pack ice";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task MessageRowSealedByAnOlderIndexer_Searched_AnswersAndIsIndexedAgain(bool postgres)
    {
        await using var engine = await SearchTestEngine.CreateAsync(postgres, "unreadable-row");
        var embedder = new ScriptedEmbedder();
        await using var host = await engine.StartAsync(embedder);
        using var client = host.CreateClient(engine.Key);
        await WriteAsync(client, "first", QuokkaText);
        await WriteAsync(client, "second", NarwhalText);
        await WaitFirstAsync(client, Ns, "message", "narwhals dive beneath Arctic ice", "semantic", "second", Ct);
        await WaitFoundAsync(client, Ns, "message", "quokkas", "keyword", ["first"], Ct);

        // The older indexer's vector step stores the second message's vectors (and the keyword step its postings) sealed
        // its way, in a new index version. Its vectors are held back when this version computes them again.
        embedder.Hold("Narwhals");
        var old = await OlderIndexerSeal.MessageAsync(host.Services, Ns, "second", "m1", NarwhalText, Ct);
        await engine.ExecuteAsync("""
            UPDATE search_namespaces SET version = version + 1 WHERE namespace = @ns AND kind = 'message';
            UPDATE search_items SET terms = @terms, vectors = @vectors,
                version = (SELECT version FROM search_namespaces WHERE namespace = @ns AND kind = 'message')
            WHERE namespace = @ns AND kind = 'message' AND dialogue_id = 'second' AND item_id = 'm1';
            """, Ct, ("ns", Ns), ("terms", old.Terms), ("vectors", old.Vectors));

        // The other message is still found at once; the unreadable one is indexed again from the stored message: found by
        // its words while its vectors are still being computed, then by its meaning.
        Assert.Equal(["first"], await SearchAsync(client, Ns, "message", "quokkas", "keyword", Ct));
        await WaitFoundAsync(client, Ns, "message", "narwhals", "keyword", ["second"], Ct);
        embedder.Release("Narwhals");
        await WaitFirstAsync(client, Ns, "message", "narwhals dive beneath Arctic ice", "semantic", "second", Ct);

        Assert.Contains(host.Logs.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal)
            && l.Contains("search index row(s) of kind message", StringComparison.Ordinal)
            && l.Contains("could not be decrypted", StringComparison.Ordinal));
        Assert.DoesNotContain(host.Logs.Lines, l => l.Contains("narwhal", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Creates a dialogue holding one message, <c>m1</c>.</summary>
    private static async Task WriteAsync(HttpClient client, string dialogue, string content)
    {
        using var created = await client.PostAsJsonAsync($"api/v1/dialogue?namespace={Ns}",
            new { id = dialogue, messages = new[] { new { id = "m1", role = "user", content } } }, Ct);
        created.EnsureSuccessStatusCode();
    }
}
