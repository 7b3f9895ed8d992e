using System.Net;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>
/// Writers racing on one dialogue: every append lands exactly once, the dialogue keeps a total order with no gaps,
/// batches stay contiguous, and counters match the rows.
/// </summary>
public abstract class ConcurrentWrites(ApiFixture api) : ConformanceTest(api)
{
    [Fact]
    public async Task ParallelAppends_OneDialogue_TotalOrderWithEveryMessageOnce()
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns))["id"]);
        const int writers = 8;
        const int perWriter = 6;

        var appends = Enumerable.Range(0, writers).Select(async w =>
        {
            for (var i = 0; i < perWriter; i++)
            {
                // Every third write is a batch of three, which must stay contiguous.
                if (i % 3 == 0)
                {
                    (await PostAsync($"messages?dialogueId={id}&namespace={ns}", new[]
                    {
                        new { role = "user", content = $"w{w}-{i}-a" },
                        new { role = "user", content = $"w{w}-{i}-b" },
                        new { role = "user", content = $"w{w}-{i}-c" },
                    })).Expect(HttpStatusCode.OK);
                }
                else
                {
                    (await PostAsync($"message?dialogueId={id}&namespace={ns}", new { role = "user", content = $"w{w}-{i}" }))
                        .Expect(HttpStatusCode.OK);
                }
            }
        });
        await Task.WhenAll(appends);

        var expected = writers * (perWriter / 3 * 3 + perWriter / 3 * 2);
        var contents = new List<string>();
        string? next = null;
        do
        {
            var page = (await GetAsync($"messages?dialogueId={id}&namespace={ns}&limit=100" + (next is null ? "" : "&next=" + next)))
                .Expect(HttpStatusCode.OK).Object;
            contents.AddRange(page["items"]!.AsArray().Select(m => Str(m!["content"])));
            next = (string?)page["next"];
        }
        while (next is not null);

        Assert.Equal(expected, contents.Count);
        Assert.Equal(contents.Count, contents.Distinct().Count());
        for (var w = 0; w < writers; w++)
        {
            // Each writer's own messages appear in the order it wrote them, and each batch is contiguous.
            var mine = contents.Where(c => c.StartsWith($"w{w}-", StringComparison.Ordinal)).ToList();
            Assert.Equal(perWriter / 3 * 3 + perWriter / 3 * 2, mine.Count);
            for (var i = 0; i < perWriter; i += 3)
            {
                var a = contents.IndexOf($"w{w}-{i}-a");
                Assert.Equal(a + 1, contents.IndexOf($"w{w}-{i}-b"));
                Assert.Equal(a + 2, contents.IndexOf($"w{w}-{i}-c"));
            }
        }

        Assert.Equal(expected, Num((await GetDialogueAsync(ns, id))["totalMessages"]));
    }

    [Fact]
    public async Task ParallelAppends_OneDialogue_SequenceOrderIsCreatedOrder()
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns))["id"]);
        for (var round = 0; round < 3; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
                (await PostAsync($"message?dialogueId={id}&namespace={ns}", new { role = "user", content = $"r{round}-{i}" }))
                    .Expect(HttpStatusCode.OK)));
        }

        var items = (await GetAsync($"messages?dialogueId={id}&namespace={ns}&limit=100")).Expect(HttpStatusCode.OK)
            .Object["items"]!.AsArray();
        Assert.Equal(60, items.Count);
        var created = items.Select(m => DateTimeOffset.Parse(Str(m!["created"]), System.Globalization.CultureInfo.InvariantCulture)).ToList();
        for (var i = 1; i < created.Count; i++)
        {
            Assert.True(created[i] >= created[i - 1], $"message {i} was created before message {i - 1}: {created[i]:O} < {created[i - 1]:O}");
        }

        // The dialogue's lastMessageCreated is its newest message, and syncing from it finds that message.
        var newest = Str(items[^1]!["created"]);
        Assert.Equal(newest, Str((await GetDialogueAsync(ns, id))["lastMessageCreated"]));
        var since = (await GetAsync($"messages?dialogueId={id}&namespace={ns}&startDate={Uri.EscapeDataString(newest)}"))
            .Expect(HttpStatusCode.OK).Object["items"]!.AsArray();
        Assert.Contains(since, m => Str(m!["id"]) == Str(items[^1]!["id"]));
    }

    [Fact]
    public async Task Append_AfterMessageDatedInFuture_ServerTimestampNeverEarlier()
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns))["id"]);
        var future = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        (await PostAsync($"message?dialogueId={id}&namespace={ns}", new { role = "user", content = "imported", created = future }))
            .Expect(HttpStatusCode.OK);

        var next = (await PostAsync($"message?dialogueId={id}&namespace={ns}", new { role = "user", content = "live" }))
            .Expect(HttpStatusCode.OK).Object;

        Assert.Equal(future, Str(next["created"]));
        Assert.Equal(future, Str((await GetDialogueAsync(ns, id))["lastMessageCreated"]));
        Assert.Equal(2, Num((await GetDialogueAsync(ns, id))["totalMessages"]));
    }

    [Fact]
    public async Task ParallelCreates_SameClientId_ExactlyOneWins()
    {
        var ns = NewNamespace();
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            PostAsync($"dialogue?namespace={ns}", new { id = "contended", state = new { n = 1 } })));

        Assert.Single(responses, r => r.Status == HttpStatusCode.OK);
        Assert.All(responses.Where(r => r.Status != HttpStatusCode.OK), r => r.Expect(HttpStatusCode.Conflict, "DUPLICATE_ID"));
    }

    [Fact]
    public async Task ParallelStateMerges_DistinctKeys_NoUpdateLost()
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns))["id"]);

        await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
            (await PutAsync($"dialogue/{id}/state?namespace={ns}", new Dictionary<string, int> { [$"k{i}"] = i }))
                .Expect(HttpStatusCode.OK)));

        var state = (await GetDialogueAsync(ns, id))["state"]!.AsObject();
        Assert.Equal(12, state.Count);
        Assert.All(Enumerable.Range(0, 12), i => Assert.Equal(i, (int)state[$"k{i}"]!));
    }

    [Fact]
    public async Task DeleteWhileAppending_NoOrphanMessagesRemain()
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { id = "doomed" }))["id"]);

        var appends = Enumerable.Range(0, 20).Select(i =>
            PostAsync($"message?dialogueId={id}&namespace={ns}", new { role = "user", content = $"m{i}" }));
        var delete = DeleteAsync($"dialogue/{id}?namespace={ns}");
        var results = await Task.WhenAll(appends.Append(delete));

        Assert.All(results, r => Assert.True(r.Status is HttpStatusCode.OK or HttpStatusCode.NotFound, $"{(int)r.Status}: {r.Body}"));
        Assert.Equal(HttpStatusCode.OK, results[^1].Status);
        (await GetAsync($"messages?dialogueId={id}&namespace={ns}")).Expect(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND");

        // Re-creating the id starts empty: no message written during the delete survived it.
        await CreateDialogueAsync(ns, new { id = "doomed" });
        var page = (await GetAsync($"messages?dialogueId={id}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Empty(page["items"]!.AsArray());
    }
}

public sealed class ConcurrentWritesSqlite(SqliteApiFixture api) : ConcurrentWrites(api), IClassFixture<SqliteApiFixture>;

public sealed class ConcurrentWritesPostgres(PostgresApiFixture api) : ConcurrentWrites(api), IClassFixture<PostgresApiFixture>;
