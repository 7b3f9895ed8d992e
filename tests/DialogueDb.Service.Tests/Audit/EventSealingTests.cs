using System.Text;
using System.Text.Json.Nodes;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace DialogueDb.Service.Tests.Audit;

/// <summary>Published events: the item sealed under the event key, the stream and the events files trimmed by retention.</summary>
public sealed class EventSealingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static byte[] Event(string eventId, string content) => Encoding.UTF8.GetBytes(
        $$"""{"eventId":"{{eventId}}","type":"message.created","entityType":"message","namespace":null,"itemId":"m1","item":{"id":"m1","content":"{{content}}"},"actor":"k1","occurred":"2026-12-03T12:00:00.000Z"}""");

    [Fact]
    public void Seal_ItemHiddenOtherFieldsClear_OpensWithTheKey()
    {
        var ring = EventKeyRing.New(TimeProvider.System);
        var sealer = new EventSealer(() => ring);

        var sealedEvent = sealer.Seal(Event("01A", "secret-content"));

        var published = JsonNode.Parse(sealedEvent)!;
        Assert.DoesNotContain("secret-content", Encoding.UTF8.GetString(sealedEvent), StringComparison.Ordinal);
        Assert.Equal(ring.ActiveKeyId, (string?)published["keyId"]);
        Assert.Equal("message.created", (string?)published["type"]);
        Assert.Equal("m1", (string?)published["itemId"]);
        var opened = JsonNode.Parse(EventSealer.Open(sealedEvent, ring)!)!;
        Assert.Equal("secret-content", (string?)opened["item"]!["content"]);
        Assert.Null(opened["keyId"]);
    }

    [Fact]
    public void Open_ItemMovedIntoAnotherEvent_DoesNotOpen()
    {
        var ring = EventKeyRing.New(TimeProvider.System);
        var sealedEvent = new EventSealer(() => ring).Seal(Event("01A", "c"));

        var moved = Encoding.UTF8.GetString(sealedEvent).Replace("\"01A\"", "\"01B\"", StringComparison.Ordinal);

        Assert.Null(EventSealer.Open(Encoding.UTF8.GetBytes(moved), ring));
    }

    [Fact]
    public void Open_KeyNotInTheFile_DoesNotOpen()
    {
        var ring = EventKeyRing.New(TimeProvider.System);
        var sealedEvent = new EventSealer(() => ring).Seal(Event("01A", "c"));

        Assert.Null(EventSealer.Open(sealedEvent, EventKeyRing.New(TimeProvider.System)));
    }

    [Fact]
    public void Rotate_NewEventsUseTheNewKey_OlderEventsStillOpen()
    {
        var ring = EventKeyRing.New(TimeProvider.System);
        var current = ring;
        var sealer = new EventSealer(() => current);
        var before = sealer.Seal(Event("01A", "before"));

        current = EventKeyRing.Parse(ring.Rotate(TimeProvider.System).ToJson(), "rotated");
        var after = sealer.Seal(Event("01B", "after"));

        Assert.NotEqual(ring.ActiveKeyId, current.ActiveKeyId);
        Assert.Equal(current.ActiveKeyId, (string?)JsonNode.Parse(after)!["keyId"]);
        Assert.Equal("before", (string?)JsonNode.Parse(EventSealer.Open(before, current)!)!["item"]!["content"]);
        Assert.Equal("after", (string?)JsonNode.Parse(EventSealer.Open(after, current)!)!["item"]!["content"]);
        Assert.Null(EventSealer.Open(after, ring));
    }

    [Fact]
    public void TailReader_WithTheKeyFile_OpensItems_WithoutIt_PrintsSealedAndSaysSo()
    {
        var ring = EventKeyRing.New(TimeProvider.System);
        var sealedEvent = Encoding.UTF8.GetString(new EventSealer(() => ring).Seal(Event("01A", "secret-content")));
        using var dir = new TestFolder();
        var keyFile = Path.Combine(dir.Path, "events-key.json");
        var otherKeyFile = Path.Combine(dir.Path, "other-key.json");
        File.WriteAllText(keyFile, ring.ToJson());
        File.WriteAllText(otherKeyFile, EventKeyRing.New(TimeProvider.System).ToJson());
        var withKeyNotes = new StringWriter();
        var missingNotes = new StringWriter();
        var wrongNotes = new StringWriter();

        var opened = SealedEventReader.Open(keyFile, withKeyNotes).Format(sealedEvent);
        var withoutKey = SealedEventReader.Open(Path.Combine(dir.Path, "absent.json"), missingNotes).Format(sealedEvent);
        var wrongKey = SealedEventReader.Open(otherKeyFile, wrongNotes);
        var wrong = (wrongKey.Format(sealedEvent), wrongKey.Format(sealedEvent));

        Assert.Equal("secret-content", (string?)JsonNode.Parse(opened)!["item"]!["content"]);
        Assert.Contains("Opening sealed items with the event key", withKeyNotes.ToString(), StringComparison.Ordinal);
        Assert.Equal(sealedEvent, withoutKey);
        Assert.Contains("No event key at", missingNotes.ToString(), StringComparison.Ordinal);
        Assert.Equal((sealedEvent, sealedEvent), wrong);
        Assert.Single(wrongNotes.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries),
            l => l.Contains($"sealed with key {ring.ActiveKeyId} do not open", StringComparison.Ordinal));
    }

    [Fact]
    public void Seal_EventWithoutItem_LeftAsItIs()
    {
        var deleted = """{"eventId":"01A","type":"memory.deleted","item":null}"""u8.ToArray();

        Assert.Equal(deleted, new EventSealer(() => EventKeyRing.New(TimeProvider.System)).Seal(deleted));
    }

    [Fact]
    public async Task RedisStream_EventsOlderThanTheRetentionWindow_Trimmed_YoungerKept()
    {
        await using var redis = new RedisConnection(TestRedis.Shared());
        var stream = $"ddb:{{trim-{Guid.NewGuid():N}}}:events";
        // Redis gives each entry its id from its own clock; the trim point comes from the sink's (fake) clock. The test
        // reads the ids Redis gave and sets the fake clock from them, so each trim point is exact.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var window = TimeSpan.FromDays(30);
        var sink = new RedisStreamSink(redis, stream, maxLength: 1000, retention: () => window, time);
        var db = await redis.DatabaseAsync();
        try
        {
            await sink.PublishAsync([Event("01A", "a"), Event("01B", "b")], Ct);
            var older = await EntryTimesAsync(db, stream);
            Assert.Equal(2, older.Count);
            // A later millisecond for the third, so that a trim point can fall between the two and it.
            while (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() <= older.Max().ToUnixTimeMilliseconds())
            {
                await Task.Delay(1, Ct);
            }

            time.SetUtcNow(older.Min() + window); // a publication trims too: here, nothing
            await sink.PublishAsync([Event("01C", "c")], Ct);
            var younger = (await EntryTimesAsync(db, stream)).Except(older).Single();
            Assert.True(younger > older.Max());

            // The window reaches back exactly to the older ones: nothing is older than it, all three stay.
            time.SetUtcNow(older.Min() + window);
            await sink.TrimAsync(Ct);
            Assert.Equal(3, await db.StreamLengthAsync(stream));

            // The window reaches back exactly to the younger one: the two older are past theirs and go, it stays.
            time.SetUtcNow(younger + window);
            await sink.TrimAsync(Ct);
            Assert.Equal(younger, Assert.Single(await EntryTimesAsync(db, stream)));
            Assert.Equal("01C", (string?)(await db.StreamRangeAsync(stream)).Single()["eventId"]);

            // A millisecond later it is past its window too, and goes.
            time.Advance(TimeSpan.FromMilliseconds(1));
            await sink.TrimAsync(Ct);
            Assert.Equal(0, await db.StreamLengthAsync(stream));
        }
        finally
        {
            await db.KeyDeleteAsync(stream);
        }
    }

    /// <summary>When Redis added each entry: the millisecond part of its id.</summary>
    private static async Task<List<DateTimeOffset>> EntryTimesAsync(IDatabase db, string stream) =>
        [.. (await db.StreamRangeAsync(stream)).Select(e => DateTimeOffset.FromUnixTimeMilliseconds(
            long.Parse(((string)e.Id!).Split('-')[0], System.Globalization.CultureInfo.InvariantCulture)))];

    [Fact]
    public async Task EventsFile_OwnerOnly_RotatedBySize_RotatedFilesPastTheWindowDeleted()
    {
        using var dir = new TestFolder();
        var path = Path.Combine(dir.Path, "events.jsonl");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var sink = new FileSink(path, maxBytes: 4096, maxAge: TimeSpan.FromHours(24), retention: () => TimeSpan.FromDays(30), time);
        var filler = new string('x', 1000);

        for (var i = 0; i < 10; i++)
        {
            await sink.PublishAsync([Event($"01{i}", filler)], Ct);
        }

        var rotated = sink.Rotated().ToList();
        Assert.NotEmpty(rotated);
        Assert.All(rotated.Append(path), f =>
        {
            Assert.True(new FileInfo(f).Length <= 4096 + 2048, $"{f} has {new FileInfo(f).Length} bytes");
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f));
            }
        });
        Assert.Equal(10, rotated.Append(path).Sum(f => File.ReadAllLines(f).Length));

        // Files are trimmed by their newest event (the file's write time): kept inside the window, deleted past it.
        var written = time.GetUtcNow().UtcDateTime;
        foreach (var file in rotated.Append(path))
        {
            File.SetLastWriteTimeUtc(file, written);
        }

        time.Advance(TimeSpan.FromDays(29));
        await sink.TrimAsync(Ct);
        Assert.Equal(rotated, sink.Rotated());
        Assert.True(File.Exists(path));

        time.Advance(TimeSpan.FromDays(2));
        await sink.TrimAsync(Ct);
        Assert.Empty(sink.Rotated());
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task EventsFile_FirstEventOlderThanMaxAge_Rotated()
    {
        using var dir = new TestFolder();
        var path = Path.Combine(dir.Path, "events.jsonl");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var sink = new FileSink(path, maxBytes: 1 << 20, maxAge: TimeSpan.FromHours(24), retention: () => null, time);

        await sink.PublishAsync([Event("01A", "a")], Ct);
        time.Advance(TimeSpan.FromHours(23));
        await sink.PublishAsync([Event("01B", "b")], Ct);
        Assert.Empty(sink.Rotated());

        time.Advance(TimeSpan.FromHours(2));
        await sink.PublishAsync([Event("01C", "c")], Ct);

        var rotated = Assert.Single(sink.Rotated());
        Assert.Equal(2, File.ReadAllLines(rotated).Length);
        Assert.Single(File.ReadAllLines(path));
    }
}
