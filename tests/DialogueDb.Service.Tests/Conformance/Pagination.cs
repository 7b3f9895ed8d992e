using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>Contract §2 "Lists": keyset pagination, order, limits and date filters on the three lists.</summary>
public abstract class Pagination(ApiFixture api) : ConformanceTest(api)
{
    private static readonly DateTimeOffset Base = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>Creates dialogues with imported <c>created</c> = Base + minutes; returns id → created.</summary>
    private async Task<Dictionary<string, string>> CreateDialoguesAtAsync(string ns, IEnumerable<int> minutes)
    {
        var created = new Dictionary<string, string>();
        foreach (var minute in minutes)
        {
            var at = Iso(Base.AddMinutes(minute));
            created[Str((await CreateDialogueAsync(ns, new { created = at }))["id"])] = at;
        }

        return created;
    }

    [Theory]
    [InlineData("api/v1/", null)]
    [InlineData("", "desc")]
    [InlineData("api/v1/", "asc")]
    public async Task Dialogues_WalkSmallPages_EveryItemOnceInOrder(string prefix, string? order)
    {
        var ns = NewNamespace();
        // 20 distinct timestamps plus 4 dialogues sharing one, to exercise the id tie-break across page boundaries.
        var expected = await CreateDialoguesAtAsync(ns, Enumerable.Range(0, 20).Concat([7, 7, 7, 7]));

        var items = await WalkAsync($"{prefix}dialogue?namespace={ns}&limit=5" + (order is null ? "" : "&order=" + order), limit: 5);

        var ids = Ids(items);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), ids.Order(StringComparer.Ordinal));
        Assert.All(items, i => Assert.Equal(expected[Str(i["id"])], Str(i["created"])));
        var createdSorted = expected.Values.Order(StringComparer.Ordinal).ToList();
        if (order != "asc")
        {
            createdSorted.Reverse();
        }

        Assert.Equal(createdSorted, items.Select(i => Str(i["created"])));
    }

    [Fact]
    public async Task Dialogues_WalkTwiceWithTies_SameSequenceEachTime()
    {
        var ns = NewNamespace();
        await CreateDialoguesAtAsync(ns, [1, 1, 1, 1, 1, 2, 2, 2]);

        var first = Ids(await WalkAsync($"dialogue?namespace={ns}&limit=3", limit: 3));
        var second = Ids(await WalkAsync($"dialogue?namespace={ns}&limit=2", limit: 2));

        Assert.Equal(8, first.Distinct().Count());
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Dialogues_NoLimit_DefaultsToTwenty()
    {
        var ns = NewNamespace();
        await CreateDialoguesAtAsync(ns, Enumerable.Range(0, 22));

        var page = (await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(20, page["items"]!.AsArray().Count);
        Assert.False(string.IsNullOrEmpty((string?)page["next"]));
        var rest = (await GetAsync($"dialogue?namespace={ns}&next={Uri.EscapeDataString(Str(page["next"]))}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(2, rest["items"]!.AsArray().Count);
        Assert.Null(rest["next"]);
    }

    [Theory]
    [InlineData("api/v1/", null)]
    [InlineData("", "asc")]
    [InlineData("api/v1/", "desc")]
    public async Task Messages_WalkSmallPages_ExactRequestOrder(string prefix, string? order)
    {
        var ns = NewNamespace();
        var dialogueId = Str((await CreateDialogueAsync(ns))["id"]);
        var created = await AddMessagesAsync(ns, dialogueId, Enumerable.Range(0, 40).Select(i => (object)new { role = "user", content = $"m{i}" }).ToArray());
        var expected = Ids(created);
        if (order == "desc")
        {
            expected.Reverse();
        }

        var items = await WalkAsync($"{prefix}messages?dialogueId={dialogueId}&namespace={ns}&limit=7" + (order is null ? "" : "&order=" + order), limit: 7);

        Assert.Equal(expected, Ids(items));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("asc")]
    public async Task Memories_WalkSmallPages_EveryItemOnceInOrder(string? order)
    {
        var ns = NewNamespace();
        var createdOrder = new List<string>();
        for (var i = 0; i < 17; i++)
        {
            createdOrder.Add(Str((await CreateMemoryAsync(ns, new { value = i }))["id"]));
        }

        var items = await WalkAsync($"memory?namespace={ns}&limit=4" + (order is null ? "" : "&order=" + order), limit: 4);

        var ids = Ids(items);
        Assert.Equal(17, ids.Distinct().Count());
        Assert.Equal(createdOrder.Order(StringComparer.Ordinal), ids.Order(StringComparer.Ordinal));
        var times = items.Select(i => Time(i["created"])).ToList();
        var sorted = order == "asc" ? times.Order().ToList() : times.OrderDescending().ToList();
        Assert.Equal(sorted, times);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("asc")]
    public async Task Dialogues_RowsAddedBetweenPages_OriginalsOnceInOrder(string? order)
    {
        var ns = NewNamespace();
        var original = await CreateDialoguesAtAsync(ns, Enumerable.Range(0, 14).Select(i => i * 10));
        var expected = original.OrderBy(kv => kv.Value, StringComparer.Ordinal).Select(kv => kv.Key).ToList();
        if (order != "asc")
        {
            expected.Reverse();
        }

        var items = await WalkAsync($"dialogue?namespace={ns}&limit=4" + (order is null ? "" : "&order=" + order), limit: 4,
            betweenPages: async page =>
            {
                // One row newer than all, one inside the range already walked or still to come.
                await CreateDialogueAsync(ns);
                await CreateDialogueAsync(ns, new { created = Iso(Base.AddMinutes((page * 30) + 5)) });
            });

        var ids = Ids(items);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(expected, ids.Where(original.ContainsKey));
    }

    [Fact]
    public async Task Messages_RowsAddedBetweenPages_OriginalsFirstOnceInOrder()
    {
        var ns = NewNamespace();
        var dialogueId = Str((await CreateDialogueAsync(ns))["id"]);
        var original = Ids(await AddMessagesAsync(ns, dialogueId, Enumerable.Range(0, 30).Select(i => (object)new { role = "user", content = $"m{i}" }).ToArray()));

        var items = await WalkAsync($"messages?dialogueId={dialogueId}&namespace={ns}&limit=6", limit: 6,
            betweenPages: async _ => await AddMessageAsync(ns, dialogueId, new { role = "assistant", content = "late" }));

        var ids = Ids(items);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(original, ids.Take(original.Count));
    }

    [Fact]
    public async Task Memories_RowsAddedBetweenPages_OriginalsOnceInOrder()
    {
        var ns = NewNamespace();
        var original = new HashSet<string>();
        for (var i = 0; i < 12; i++)
        {
            original.Add(Str((await CreateMemoryAsync(ns, new { value = i }))["id"]));
        }

        var before = Ids(await WalkAsync($"memory?namespace={ns}&limit=100"));

        var items = await WalkAsync($"memory?namespace={ns}&limit=5", limit: 5,
            betweenPages: async _ => await CreateMemoryAsync(ns, new { value = "late" }));

        var ids = Ids(items);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(before, ids.Where(original.Contains));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("101")]
    [InlineData("-1")]
    [InlineData("abc")]
    [InlineData("1.5")]
    [InlineData("10abc")]
    public async Task Lists_InvalidLimit_BadRequest(string limit)
    {
        var ns = NewNamespace();
        var dialogueId = Str((await CreateDialogueAsync(ns))["id"]);

        foreach (var path in (string[])[$"dialogue?namespace={ns}", $"memory?namespace={ns}", $"messages?dialogueId={dialogueId}&namespace={ns}"])
        {
            var error = (await GetAsync($"{path}&limit={limit}")).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "limit");
            Assert.StartsWith("Invalid limit", Str(error["message"]), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    public async Task Lists_LimitAtBounds_Accepted(int limit)
    {
        var ns = NewNamespace();
        await CreateDialoguesAtAsync(ns, [1, 2]);

        var page = (await GetAsync($"dialogue?namespace={ns}&limit={limit}")).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(Math.Min(limit, 2), page["items"]!.AsArray().Count);
        Assert.Equal(limit == 1, page["next"] is not null);
    }

    [Theory]
    [InlineData("dialogue?namespace={0}&order=sideways")]
    [InlineData("memory?namespace={0}&order=up")]
    [InlineData("messages?dialogueId={1}&namespace={0}&order=random")]
    public async Task Lists_InvalidOrder_BadRequest(string route)
    {
        var ns = NewNamespace();
        var dialogueId = Str((await CreateDialogueAsync(ns))["id"]);

        (await GetAsync(string.Format(CultureInfo.InvariantCulture, route, ns, dialogueId)))
            .ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "order");
    }

    [Theory]
    [InlineData("dialogue?namespace={0}&next=not-a-cursor")]
    [InlineData("memory?namespace={0}&next=%%%")]
    [InlineData("messages?dialogueId={1}&namespace={0}&next=eyJ4IjoxfQ")]
    [InlineData("dialogue?namespace={0}&next=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task Lists_GarbageCursor_BadRequest(string route)
    {
        var ns = NewNamespace();
        var dialogueId = Str((await CreateDialogueAsync(ns))["id"]);

        (await GetAsync(string.Format(CultureInfo.InvariantCulture, route, ns, dialogueId)))
            .ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "next");
    }

    [Fact]
    public async Task Dialogues_CreatedPrefixAndDateRange_FilterByCreated()
    {
        var ns = NewNamespace();
        var at = new Dictionary<string, string>();
        foreach (var created in (string[])["2024-01-15T12:00:00.000Z", "2024-02-10T00:00:00.000Z", "2024-02-28T23:59:59.999Z", "2024-03-01T00:00:00.000Z", "2025-02-01T00:00:00.000Z"])
        {
            at[created] = Str((await CreateDialogueAsync(ns, new { created }))["id"]);
        }

        async Task<List<string>> Query(string filter) =>
            Ids((await GetAsync($"dialogue?namespace={ns}&order=asc&{filter}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());

        Assert.Equal([at["2024-01-15T12:00:00.000Z"], at["2024-02-10T00:00:00.000Z"], at["2024-02-28T23:59:59.999Z"], at["2024-03-01T00:00:00.000Z"]], await Query("created=2024"));
        Assert.Equal([at["2024-02-10T00:00:00.000Z"], at["2024-02-28T23:59:59.999Z"]], await Query("created=2024-02"));
        Assert.Equal([at["2024-02-28T23:59:59.999Z"]], await Query("created=2024-02-28"));
        Assert.Empty(await Query("created=2024-02-29"));
        Assert.Equal([at["2024-02-10T00:00:00.000Z"], at["2024-02-28T23:59:59.999Z"]],
            await Query("startDate=2024-02-10T00:00:00.000Z&endDate=2024-03-01T00:00:00.000Z"));
        Assert.Equal([at["2024-03-01T00:00:00.000Z"], at["2025-02-01T00:00:00.000Z"]], await Query("startDate=2024-03-01T00:00:00.000Z"));
        Assert.Equal([at["2024-01-15T12:00:00.000Z"]], await Query("endDate=2024-02-10T00:00:00.000Z"));
    }

    [Fact]
    public async Task Messages_CreatedPrefixAndDateRange_FilterByCreated()
    {
        var ns = NewNamespace();
        var dialogueId = Str((await CreateDialogueAsync(ns))["id"]);
        var messages = await AddMessagesAsync(ns, dialogueId,
            new { role = "user", content = "a", created = "2023-05-31T23:59:59.999Z" },
            new { role = "user", content = "b", created = "2023-06-01T00:00:00.000Z" },
            new { role = "user", content = "c", created = "2023-06-15T10:00:00.000Z" },
            new { role = "user", content = "d", created = "2023-07-01T00:00:00.000Z" });
        var ids = Ids(messages);

        async Task<List<string>> Query(string filter) =>
            Ids((await GetAsync($"messages?dialogueId={dialogueId}&namespace={ns}&{filter}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());

        Assert.Equal([ids[1], ids[2]], await Query("created=2023-06"));
        Assert.Equal([ids[0]], await Query("created=2023-05-31"));
        Assert.Equal(ids, await Query("created=2023"));
        Assert.Equal([ids[1], ids[2]], await Query("startDate=2023-06-01T00:00:00.000Z&endDate=2023-07-01T00:00:00.000Z"));
    }

    [Fact]
    public async Task Memories_CreatedFilter_MatchesCurrentPeriodOnly()
    {
        var ns = NewNamespace();
        var id = Str((await CreateMemoryAsync(ns, new { value = "now" }))["id"]);
        var created = Str((await GetAsync($"memory/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["created"]);

        async Task<List<string>> Query(string filter) =>
            Ids((await GetAsync($"memory?namespace={ns}&{filter}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());

        Assert.Equal([id], await Query("created=" + created[..4]));
        Assert.Equal([id], await Query("created=" + created[..7]));
        Assert.Equal([id], await Query("created=" + created[..10]));
        Assert.Empty(await Query("created=1999"));
        Assert.Empty(await Query("startDate=2999-01-01T00:00:00.000Z"));
        Assert.Empty(await Query("endDate=" + Uri.EscapeDataString(created)));
        Assert.Equal([id], await Query("startDate=" + Uri.EscapeDataString(created)));
    }

    [Theory]
    [InlineData("created=yesterday", "created")]
    [InlineData("created=2024-13", "created")]
    [InlineData("created=2024-02-30", "created")]
    [InlineData("startDate=not-a-date", "startDate")]
    [InlineData("endDate=2024-99-99T00:00:00Z", "endDate")]
    public async Task Lists_InvalidDateFilter_BadRequest(string filter, string field)
    {
        var ns = NewNamespace();

        (await GetAsync($"dialogue?namespace={ns}&{filter}")).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", field);
        (await GetAsync($"memory?namespace={ns}&{filter}")).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", field);
    }
}

public sealed class PaginationSqlite(SqliteApiFixture api) : Pagination(api), IClassFixture<SqliteApiFixture>;

public sealed class PaginationPostgres(PostgresApiFixture api) : Pagination(api), IClassFixture<PostgresApiFixture>;
