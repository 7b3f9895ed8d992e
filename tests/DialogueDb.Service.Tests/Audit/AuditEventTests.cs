using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Tests.Infrastructure;
using Npgsql;
using StackExchange.Redis;

namespace DialogueDb.Service.Tests.Audit;

/// <summary>§9 audit events: one per change, from the transactional outbox, in commit order, never lost.</summary>
public sealed class AuditEventTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Embedded_EveryChange_OneEventInOrderWithActorRequestAndItem()
    {
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "audit").ReadWrite;
        var keyId = key.Split('_')[1];
        await using var host = await ServiceHost.StartAsync(new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0" });
        using var client = host.CreateClient(key);

        using var created = await client.PostAsJsonAsync("api/v1/dialogue?namespace=a1", new
        {
            id = "d1", state = new { step = 1 }, messages = new[] { new { role = "user", content = "hi" }, new { role = "assistant", content = "hello" } },
        }, Ct);
        var requestId = created.Headers.GetValues("X-Request-Id").Single();
        var messageId = (string)JsonNode.Parse(await created.Content.ReadAsStringAsync(Ct))!["messages"]![0]!["id"]!;
        await Ok(client.PutAsJsonAsync("api/v1/dialogue/d1?namespace=a1", new { label = "renamed" }, Ct));
        await Ok(client.PutAsJsonAsync("api/v1/dialogue/d1/state?namespace=a1", new { step = 2 }, Ct));
        await Ok(client.PutAsJsonAsync($"api/v1/message/{messageId}?dialogueId=d1&namespace=a1", new { tags = new[] { "t" } }, Ct));
        await Ok(client.DeleteAsync($"api/v1/message/{messageId}?dialogueId=d1&namespace=a1", Ct));
        await Ok(client.PostAsync("api/v1/dialogue/d1/end?namespace=a1", null, Ct));
        await Ok(client.PostAsync("api/v1/dialogue/d1/end?namespace=a1", null, Ct)); // no-op: no event
        using (var rejected = await client.PostAsJsonAsync("api/v1/message?dialogueId=d1&namespace=a1", new { role = "user", content = "late" }, Ct))
        {
            Assert.Equal(HttpStatusCode.Conflict, rejected.StatusCode); // failed writes leave no event
        }

        await Ok(client.PostAsJsonAsync("api/v1/memory?namespace=a1", new { id = "m1", value = new { likes = "tea" } }, Ct));
        await Ok(client.PutAsJsonAsync("api/v1/memory/m1?namespace=a1", new { term = "short" }, Ct));
        await Ok(client.DeleteAsync("api/v1/memory/m1?namespace=a1", Ct));
        await Ok(client.DeleteAsync("api/v1/dialogue/d1?namespace=a1", Ct));

        string[] expected =
        [
            "dialogue.created", "message.created", "message.created", "dialogue.updated", "state.updated", "message.updated",
            "message.deleted", "dialogue.ended", "memory.created", "memory.updated", "memory.deleted", "dialogue.deleted",
        ];
        var events = await EventsFileAsync(dataDir.Path, expected.Length);

        Assert.Equal(expected, events.Select(e => (string)e["type"]!));
        Assert.Equal(events.Count, events.Select(e => (string)e["eventId"]!).Distinct().Count());
        Assert.All(events, e =>
        {
            Assert.Equal(keyId, (string)e["actor"]!);
            Assert.Equal("a1", (string)e["namespace"]!);
            Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", (string)e["occurred"]!);
        });
        Assert.DoesNotContain(events, e => e.ToJsonString().Contains(key, StringComparison.Ordinal));
        Assert.Equal(requestId, (string)events[0]["requestId"]!);
        Assert.Equal(1, (int)events[0]["item"]!["state"]!["step"]!);
        Assert.Equal("hello", (string)events[2]["item"]!["content"]!);
        Assert.Equal(2, (int)events[4]["item"]!["step"]!);
        Assert.Equal("renamed", (string)events[11]["item"]!["label"]!); // after a delete: the last state
        Assert.Equal("tea", (string)events[10]["item"]!["value"]!["likes"]!);
    }

    [Fact]
    public async Task Embedded_BatchAppend_OneEventPerMessage_InRequestOrder()
    {
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "audit-batch").ReadWrite;
        await using var host = await ServiceHost.StartAsync(new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0" });
        using var client = host.CreateClient(key);
        await Ok(client.PostAsJsonAsync("api/v1/dialogue", new { id = "b1" }, Ct));

        var batch = Enumerable.Range(0, 5).Select(i => new { role = "user", content = $"m{i}" }).ToArray();
        using var appended = await client.PostAsJsonAsync("api/v1/messages?dialogueId=b1", batch, Ct);
        Assert.Equal(HttpStatusCode.OK, appended.StatusCode); // creates answer 200 (contract §1)
        var ids = JsonNode.Parse(await appended.Content.ReadAsStringAsync(Ct))!.AsArray().Select(m => (string)m!["id"]!).ToArray();

        var events = await EventsFileAsync(dataDir.Path, 1 + batch.Length);
        var created = events.Skip(1).ToList();
        Assert.All(created, e => Assert.Equal("message.created", (string)e["type"]!));
        Assert.Equal(ids, created.Select(e => (string)e["itemId"]!));
        Assert.Equal(batch.Select(m => m.content), created.Select(e => (string)e["item"]!["content"]!));
        Assert.Equal(created.Count, created.Select(e => (string)e["eventId"]!).Distinct().Count());
    }

    [Fact]
    public async Task RolledBackWrite_OverQuota_LeavesNoEvent()
    {
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "audit-quota", p => p with { Limits = new LimitOverrides { DialoguesPerMonth = 1 } }).ReadWrite;
        await using var host = await ServiceHost.StartAsync(new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0" });
        using var client = host.CreateClient(key);

        await Ok(client.PostAsJsonAsync("api/v1/dialogue", new { id = "first" }, Ct));
        using (var over = await client.PostAsJsonAsync("api/v1/dialogue", new { id = "second" }, Ct))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, over.StatusCode);
        }

        await Ok(client.PostAsJsonAsync("api/v1/memory", new { value = 1 }, Ct));
        var events = await EventsFileAsync(dataDir.Path, 2);
        Assert.Equal(["dialogue.created", "memory.created"], events.Select(e => (string)e["type"]!));
        Assert.Equal("first", (string)events[0]["itemId"]!);
    }

    [Fact]
    public async Task Postgres_RedisStoppedDuringWrites_EveryEventArrivesOnceInCommitOrder()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        await using var redis = await TestRedis.StartPrivateAsync();
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "audit-pg").ReadWrite;
        var options = database.ServiceOptions(dataDir.Path, o => o.Redis = redis.Configuration);
        // Two replicas, both able to relay: exactly one is active, so nothing is published twice.
        using var replica = ServiceHost.ReplicaOf(dataDir.Path);

        await using var first = await ServiceHost.StartAsync(options);
        await using var second = await ServiceHost.StartAsync(database.ServiceOptions(replica.Path, o => o.Redis = redis.Configuration));
        using var a = first.CreateClient(key);
        using var b = second.CreateClient(key);
        await Ok(a.PostAsJsonAsync("api/v1/dialogue?namespace=pg", new { id = "load" }, Ct));

        var marker = "secret-" + Guid.NewGuid().ToString("N");
        async Task WriteAsync(int from, int count)
        {
            for (var i = from; i < from + count; i++)
            {
                await Ok((i % 2 == 0 ? a : b).PostAsJsonAsync("api/v1/message?dialogueId=load&namespace=pg",
                    new { role = "user", content = $"{marker} {i}" }, Ct));
            }
        }

        await WriteAsync(0, 20);
        await redis.StopAsync();
        await WriteAsync(20, 20);

        // While Redis is down the events wait in the outbox, encrypted like the content they carry.
        await using (var admin = new NpgsqlConnection(database.AdminConnectionString))
        {
            await admin.OpenAsync(Ct);
            await using var command = new NpgsqlCommand("SELECT count(*), string_agg(encode(payload, 'escape'), '') FROM outbox", admin);
            await using var reader = await command.ExecuteReaderAsync(Ct);
            await reader.ReadAsync(Ct);
            Assert.True(reader.GetInt64(0) > 0, "events should be waiting in the outbox while Redis is down");
            Assert.DoesNotContain(marker, reader.GetString(1), StringComparison.Ordinal);
        }

        await redis.StartAsync();
        await WriteAsync(40, 20);

        var stream = "ddb:{audit-pg}:events";
        var db = (await ConnectionMultiplexer.ConnectAsync(DialogueDb.Service.Redis.RedisConnection.Parse(redis.Configuration))).GetDatabase();
        // At least once: a batch that Redis partly accepted before it went down is sent again, so consumers
        // deduplicate by eventId (as the README's consumer does). After deduplication: all of them, in commit order.
        List<StreamEntry> unique = [];
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            var entries = await db.StreamRangeAsync(stream);
            unique = [.. entries.DistinctBy(e => (string)e["eventId"]!)];
            if (unique.Count >= 61)
            {
                break;
            }

            await Task.Delay(200, Ct);
        }

        Assert.Equal(61, unique.Count);
        Assert.Equal("dialogue.created", (string)unique[0]["type"]!);
        // Sealed in the stream and in Redis's append-only file: the marker only appears once opened with the event key.
        Assert.DoesNotContain(unique, e => e.Values.Any(v => ((string?)v.Value ?? "").Contains(marker, StringComparison.Ordinal)));
        var onDisk = Directory.GetFiles(redis.DataDirectory, "*", SearchOption.AllDirectories);
        Assert.Contains(onDisk, f => f.Contains("appendonly", StringComparison.Ordinal));
        foreach (var file in onDisk)
        {
            var bytes = await File.ReadAllBytesAsync(file, Ct);
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)));
        }
        var ring = EventKeyRing.Parse(await File.ReadAllTextAsync(options.EventsKeyPath, Ct), options.EventsKeyPath);
        var streamed = unique.Skip(1).Select(e =>
        {
            var json = System.Text.Json.JsonSerializer.Serialize(e.Values.ToDictionary(v => (string)v.Name!, v => (string?)v.Value));
            var opened = EventSealer.Open(Encoding.UTF8.GetBytes(json), ring);
            Assert.NotNull(opened);
            return (string)JsonNode.Parse(opened)!["item"]!["content"]!;
        }).ToList();
        Assert.Equal(Enumerable.Range(0, 60).Select(i => $"{marker} {i}"), streamed);
        Assert.Equal(1, new[] { first, second }.Count(h => h.Logs.All.Contains("Audit relay active", StringComparison.Ordinal)));
    }

    private static JsonNode Opened(string sealedJson, EventKeyRing ring)
    {
        var published = JsonNode.Parse(sealedJson)!;
        if (published["item"] is not null)
        {
            Assert.Equal(ring.ActiveKeyId, (string?)published["keyId"]);
            Assert.Equal(System.Text.Json.JsonValueKind.String, published["item"]!.GetValueKind());
        }

        var opened = EventSealer.Open(Encoding.UTF8.GetBytes(sealedJson), ring);
        Assert.NotNull(opened);
        return JsonNode.Parse(opened)!;
    }

    private static async Task Ok(Task<HttpResponseMessage> request)
    {
        using var response = await request;
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(Ct)}");
    }

    /// <summary>
    /// The events of the embedded events file, opened with the data folder's event key; every event with an item
    /// must be sealed in the file (a string item and a key id), and the file readable by its owner only.
    /// </summary>
    private static async Task<List<JsonNode>> EventsFileAsync(string dataDir, int expected)
    {
        var options = new ServiceOptions { DataDir = dataDir };
        var path = options.EventsFilePath;
        var watch = Stopwatch.StartNew();
        List<JsonNode> events = [];
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (File.Exists(path))
            {
                if (!OperatingSystem.IsWindows())
                {
                    Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
                }

                var ring = EventKeyRing.Parse(await File.ReadAllTextAsync(options.EventsKeyPath, Ct), options.EventsKeyPath);
                events = [.. (await EventsFile.WholeLinesAsync(path, Ct)).Select(l => Opened(l, ring))];
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
