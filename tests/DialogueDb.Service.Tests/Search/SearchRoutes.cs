using System.Net;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Conformance;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// Contract §10 through the real service: writes become searchable through the queue and the indexer (tests wait for
/// that with a deadline, never asserting how fast), by meaning and by exact words, inside one namespace only.
/// </summary>
public abstract class SearchRoutes(ApiFixture api) : ConformanceTest(api)
{
    private static readonly TimeSpan IndexDeadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Search_Memories_FoundByMeaningAndByExactIdentifier()
    {
        var ns = NewNamespace();
        var code = "INV-" + Random.Shared.Next(100_000, 999_999);
        var pet = await CreateMemoryAsync(ns, "The user's dog is a golden retriever called Biscuit.");
        var invoice = await CreateMemoryAsync(ns, $"Invoice {code} for the hosting plan was paid on time.");
        await CreateMemoryAsync(ns, "The user prefers dark mode in every application.");
        await WaitSearchableAsync(ns, "memory", code, invoice);
        // Vectors follow the keyword index: all three are searchable by meaning once a semantic search answers them all.
        await WaitAsync(async () => (await SearchAsync(ns, new { query = "notes", @object = "memory", mode = "semantic" }))["items"]!
            .AsArray().Count == 3);

        var byMeaning = await SearchAsync(ns, new { query = "what kind of animal does the user own?", @object = "memory", mode = "semantic" });
        var byCode = await SearchAsync(ns, new { query = code, @object = "memory", mode = "keyword" });
        var hybrid = await SearchAsync(ns, new { query = $"the {code} bill", @object = "memory" });

        Assert.Equal(pet, Str(byMeaning["results"]![0]!["item"]!["id"]));
        Assert.Equal([invoice], Ids(byCode["items"]!.AsArray()));
        Assert.Equal(invoice, Str(hybrid["results"]![0]!["item"]!["id"]));
        var relevance = hybrid["results"]![0]!["relevance"]!.GetValue<double>();
        Assert.InRange(relevance, 0, 1);
        Assert.Equal("memory", Str(hybrid["results"]![0]!["object"]));
        Assert.Equal("hybrid", Str(hybrid["request"]!["mode"]));
        Assert.Equal("relevance", Str(hybrid["request"]!["candidateOrderBy"]));
        // Items are what GET returns.
        var got = (await GetAsync($"api/v1/memory/{invoice}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(Compact(got), Compact(hybrid["items"]![0]));
    }

    [Fact]
    public async Task Search_Messages_OneDialogueAndFilters()
    {
        var ns = NewNamespace();
        var first = await CreateDialogueAsync(ns, new
        {
            messages = new object[]
            {
                new { role = "user", content = "My flight to Lisbon leaves on Friday morning.", tags = new[] { "travel" } },
                new
                {
                    role = "user",
                    content = new object[]
                    {
                        new { type = "text", text = "Here is a photo of the boarding pass for Lisbon." },
                        new { type = "image", source = new { type = "url", url = "https://example.com/pass.png" } },
                    },
                },
            },
        });
        var second = await CreateDialogueAsync(ns, new { messages = new[] { new { role = "user", content = "Book me a train to Lisbon, please." } } });
        var firstId = Str(first["id"]);
        var secondId = Str(second["id"]);
        var trainMessage = Str(second["messages"]![0]!["id"]);
        await WaitSearchableAsync(ns, "message", "train Lisbon", trainMessage);

        var all = await SearchAsync(ns, new { query = "Lisbon", @object = "message", mode = "keyword" });
        var oneDialogue = await SearchAsync(ns, new { query = "Lisbon", @object = "message", dialogueId = secondId });
        var tagged = await SearchAsync(ns, new { query = "Lisbon trip", @object = "message", tags = new[] { "travel" } });
        var images = await SearchAsync(ns, new { query = "Lisbon", @object = "message", filter = new { hasImage = true } });
        var dialogues = await SearchAsync(ns, new { query = "travelling to Lisbon", @object = "dialogue", limit = 5 });

        Assert.Equal(3, all["items"]!.AsArray().Count);
        Assert.Equal([trainMessage], Ids(oneDialogue["items"]!.AsArray()));
        Assert.Equal(secondId, Str(oneDialogue["items"]![0]!["dialogueId"]));
        Assert.Equal([Str(first["messages"]![0]!["id"])], Ids(tagged["items"]!.AsArray()));
        Assert.Equal([Str(first["messages"]![1]!["id"])], Ids(images["items"]!.AsArray()));
        Assert.Equal(new[] { firstId, secondId }.Order(), Ids(dialogues["items"]!.AsArray()).Order());
        var firstResult = dialogues["results"]!.AsArray().Single(r => Str(r!["item"]!["id"]) == firstId)!;
        Assert.Equal(2, firstResult["matches"]!.AsArray().Count);
    }

    [Fact]
    public async Task Search_DeletedMemoryAndDialogue_LeaveSearch()
    {
        var ns = NewNamespace();
        var word = "zebracorn" + Random.Shared.Next(1000, 9999);
        var memory = await CreateMemoryAsync(ns, $"Remember the {word} project kickoff.");
        var dialogue = await CreateDialogueAsync(ns, new { messages = new[] { new { role = "user", content = $"Status of {word}?" } } });
        await WaitSearchableAsync(ns, "memory", word, memory);
        await WaitSearchableAsync(ns, "message", word, Str(dialogue["messages"]![0]!["id"]));

        (await DeleteAsync($"api/v1/memory/{memory}?namespace={ns}")).Expect(HttpStatusCode.OK);
        (await DeleteAsync($"api/v1/dialogue/{Str(dialogue["id"])}?namespace={ns}")).Expect(HttpStatusCode.OK);

        await WaitAsync(async () => (await SearchAsync(ns, new { query = word, @object = "memory", mode = "keyword" }))["items"]!.AsArray().Count == 0);
        await WaitAsync(async () => (await SearchAsync(ns, new { query = word, @object = "message", mode = "keyword" }))["items"]!.AsArray().Count == 0);
        var semantic = await SearchAsync(ns, new { query = word, @object = "message", mode = "semantic" });
        Assert.Empty(semantic["items"]!.AsArray());
    }

    [Fact]
    public async Task Search_OtherNamespaceAndReadOnlyKey_IsolatedButAllowed()
    {
        var ns = NewNamespace();
        var word = "quokkalith" + Random.Shared.Next(1000, 9999);
        var memory = await CreateMemoryAsync(ns, $"The {word} is stored in the blue cabinet.");
        await WaitSearchableAsync(ns, "memory", word, memory);

        using var readOnly = Api.CreateClient(Api.ReadOnlyApiKey);
        var asReader = (await PostAsync($"search?namespace={ns}", new { query = word, @object = "memory" }, readOnly)).Expect(HttpStatusCode.OK);
        var elsewhere = await SearchAsync(NewNamespace(), new { query = word, @object = "memory" });
        var defaultNamespace = await SearchAsync(null, new { query = word, @object = "memory" });

        Assert.Equal([memory], Ids(asReader.Object["items"]!.AsArray()));
        Assert.Empty(elsewhere["items"]!.AsArray());
        Assert.Empty(defaultNamespace["items"]!.AsArray());
    }

    [Fact]
    public async Task Search_DatePhraseAndOrder_ResolvedInTheTimeZone()
    {
        var ns = NewNamespace();
        var older = await CreateMemoryAsync(ns, "Quarterly planning notes for the garden.");
        var newer = await CreateMemoryAsync(ns, "Garden planning: plant tomatoes in spring.");
        await WaitSearchableAsync(ns, "memory", "garden", newer);
        await WaitSearchableAsync(ns, "memory", "garden", older);

        var body = new { query = "garden", @object = "memory", orderBy = "created", order = "asc", timezone = "Europe/Berlin",
            filter = new { created = "March 2025" } };
        var march = await SearchAsync(ns, body);
        var recent = await SearchAsync(ns, new { query = "garden", @object = "memory", orderBy = "created", order = "asc",
            filter = new { created = "last 7 days" } });

        Assert.Empty(march["items"]!.AsArray());
        Assert.Equal("2025-02-28T23:00:00.000Z", Str(march["request"]!["filter"]!["created"]!["gte"]));
        Assert.Equal("2025-03-31T22:00:00.000Z", Str(march["request"]!["filter"]!["created"]!["lt"]));
        Assert.Equal([older, newer], Ids(recent["items"]!.AsArray()));
    }

    [Theory]
    [InlineData("""{"object":"memory"}""", "query", "MISSING_PARAMETER")]
    [InlineData("""{"query":"x"}""", "object", "MISSING_PARAMETER")]
    [InlineData("""{"query":"x","object":"thread"}""", "object", "INVALID_PARAMETER")]
    [InlineData("""{"query":"","object":"memory"}""", "query", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","limit":0}""", "limit", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","limit":101}""", "limit", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","mode":"fuzzy"}""", "mode", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","orderBy":"size"}""", "orderBy", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","order":"up"}""", "order", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","dialogueId":"d1"}""", "dialogueId", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","tags":{}}""", "tags", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","tags":{"$any":["a"]}}""", "tags.$any", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","tags":[""]}""", "tags", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","metadata":{"k":{"deep":{"x":1}}}}""", "metadata.k.deep", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","metadata":{"k":[1,"a"]}}""", "metadata.k", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","filter":{"color":"red"}}""", "filter.color", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","filter":{"created":"the other day"}}""", "filter.created", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","filter":{"created":{"after":"2025-01-01"}}}""", "filter.created.after", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","filter":{"createdYear":2025}}""", "filter.createdYear", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","filter":{"hasImage":"yes"}}""", "filter.hasImage", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","timezone":"Mars/Olympus"}""", "timezone", "INVALID_PARAMETER")]
    [InlineData("""{"query":"x","object":"memory","namespace":"bad namespace"}""", "namespace", "INVALID_PARAMETER")]
    public async Task Search_InvalidField_400NamingIt(string body, string field, string code)
    {
        var response = await SendAsync(HttpMethod.Post, "api/v1/search", body);

        response.Expect(HttpStatusCode.BadRequest, code);
        Assert.Equal("validation_error", response.ErrorType);
        var error = response.Object["error"]!;
        Assert.Contains(field, error["details"]!.AsArray().Select(d => Str(d!["field"])).Append(Str(error["message"])).ToList(),
            StringComparer.Ordinal);
    }

    [Fact]
    public async Task Search_UnknownPhrase_MessageNamesIt()
    {
        var response = await SendAsync(HttpMethod.Post, "search", """{"query":"x","object":"message","filter":{"modified":"fortnight ago"}}""");

        response.Expect(HttpStatusCode.BadRequest);
        Assert.Contains("fortnight ago", response.Body, StringComparison.Ordinal);
    }

    private async Task<string> CreateMemoryAsync(string ns, string value) =>
        Str((await PostAsync($"api/v1/memory?namespace={ns}", new { value })).Expect(HttpStatusCode.OK).Object["id"]);

    private async Task<JsonObject> SearchAsync(string? ns, object body) =>
        (await PostAsync(ns is null ? "api/v1/search" : $"api/v1/search?namespace={ns}", body)).Expect(HttpStatusCode.OK).Object;

    private async Task WaitSearchableAsync(string ns, string kind, string query, string id) =>
        await WaitAsync(async () => Ids((await SearchAsync(ns, new { query, @object = kind, mode = "keyword", limit = 100 }))["items"]!.AsArray())
            .Contains(id));

    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + IndexDeadline;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the index did not catch up before the deadline");
            await Task.Delay(100, Ct);
        }
    }
}

public sealed class SearchRoutesSqlite(SqliteApiFixture api) : SearchRoutes(api), IClassFixture<SqliteApiFixture>;

public sealed class SearchRoutesPostgres(PostgresWithJobsApiFixture api) : SearchRoutes(api), IClassFixture<PostgresWithJobsApiFixture>;
