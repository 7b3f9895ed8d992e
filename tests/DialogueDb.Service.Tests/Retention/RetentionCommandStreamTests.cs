using System.Diagnostics;
using System.Net.Http.Json;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Tests.Infrastructure;
using Npgsql;
using StackExchange.Redis;

namespace DialogueDb.Service.Tests.Retention;

/// <summary>
/// <c>dialoguedb retention</c> end to end, as the operator's CronJob runs it (its own process, PostgreSQL on the
/// maintenance role, the project's Redis stream): the dialogue past its retention period goes from the database and
/// its events go from the stream; a younger dialogue and its events stay. Redis stamps each entry with its own clock,
/// so the events of the past are added with the ids they would have got then.
/// </summary>
public sealed class RetentionCommandStreamTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly RetentionOverrides Periods = new() { DialogueDays = 30, ShortTermMemoryDays = 30, LongTermMemoryDays = 60 };

    [Fact]
    public async Task Retention_ExpiredDialogue_GoneWithItsEventsFromTheStream_YoungerKept()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        var redisConfiguration = TestRedis.Shared();
        await using var database = await TestDatabase.CreateAsync();
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "retention-stream", p => p with { Retention = Periods }).ReadWrite;
        var encryptionKeys = TestProject.WriteEncryptionKeys(dataDir.Path);
        await using (var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", Postgres = database.AppConnectionString, EncryptionKeysFile = encryptionKeys,
        }))
        {
            using var client = host.CreateClient(key);
            foreach (var id in (string[])["expired", "younger"])
            {
                using var created = await client.PostAsJsonAsync("api/v1/dialogue?namespace=ns",
                    new { id, messages = new[] { new { role = "user", content = "hello" } } }, Ct);
                Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync(Ct));
            }
        }

        var now = DateTimeOffset.UtcNow;
        var expiredAt = now - TimeSpan.FromDays(31);
        var youngerAt = now - TimeSpan.FromDays(29);
        await SetLastActivityAsync(database, "expired", expiredAt);
        await SetLastActivityAsync(database, "younger", youngerAt);

        await using var redis = new RedisConnection(redisConfiguration);
        var prefix = $"ddb:{{retention-{Guid.NewGuid():N}}}:";
        var stream = new RedisKeys(prefix).Events;
        var db = await redis.DatabaseAsync();
        try
        {
            // As the relay published them back then: the dialogue and its message, sealed, with ids of that time.
            var sealer = new EventSealer(() => EventKeyRing.New(TimeProvider.System));
            await AddAsync(db, stream, sealer, expiredAt, "expired");
            await AddAsync(db, stream, sealer, youngerAt, "younger");
            await db.StreamAddAsync(stream, RedisStreamSink.Fields(sealer.Seal(Event("dialogue.created", "just-now", 0))));
            Assert.Equal(5, await db.StreamLengthAsync(stream));

            var (exitCode, output) = await RunRetentionAsync(dataDir.Path, database.MaintenanceConnectionString, redisConfiguration, prefix,
                encryptionKeys);

            Assert.True(exitCode == 0, output);
            Assert.Contains($"trimmed from Redis stream {stream}", output, StringComparison.Ordinal);
            var left = await db.StreamRangeAsync(stream);
            Assert.Equal(["younger", "younger", "just-now"], left.Select(e => (string)e["itemId"]!).ToArray());
            Assert.Equal(0L, await CountAsync(database, "SELECT count(*) FROM dialogues WHERE id = 'expired'"));
            Assert.Equal(0L, await CountAsync(database, "SELECT count(*) FROM messages WHERE dialogue_id = 'expired'"));
            Assert.Equal(1L, await CountAsync(database, "SELECT count(*) FROM dialogues WHERE id = 'younger'"));
            Assert.Equal(1L, await CountAsync(database, "SELECT count(*) FROM messages WHERE dialogue_id = 'younger'"));
        }
        finally
        {
            await db.KeyDeleteAsync(stream);
        }
    }

    private static byte[] Event(string type, string itemId, int n) => System.Text.Encoding.UTF8.GetBytes(
        $$"""
        {"eventId":"{{itemId}}-{{n}}","type":"{{type}}","entityType":"dialogue","namespace":"ns","itemId":"{{itemId}}",
        "item":{"id":"{{itemId}}"},"actor":"k1","occurred":"2026-12-03T12:00:00.000Z"}
        """);

    private static async Task AddAsync(IDatabase db, string stream, EventSealer sealer, DateTimeOffset at, string dialogue)
    {
        var ms = at.ToUnixTimeMilliseconds();
        await db.StreamAddAsync(stream, RedisStreamSink.Fields(sealer.Seal(Event("dialogue.created", dialogue, 0))), messageId: $"{ms}-0");
        await db.StreamAddAsync(stream, RedisStreamSink.Fields(sealer.Seal(Event("message.created", dialogue, 1))), messageId: $"{ms}-1");
    }

    private static async Task SetLastActivityAsync(TestDatabase database, string id, DateTimeOffset at)
    {
        await using var connection = new NpgsqlConnection(database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("UPDATE dialogues SET modified = $1 WHERE namespace = 'ns' AND id = $2", connection);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = at.ToUnixTimeMilliseconds() });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
        Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
    }

    private static async Task<long> CountAsync(TestDatabase database, string sql)
    {
        await using var connection = new NpgsqlConnection(database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    /// <summary><c>dialoguedb retention</c> in its own process, configured as the CronJob is: command line and environment.</summary>
    private static async Task<(int ExitCode, string Output)> RunRetentionAsync(string dataDir, string postgres, string redis, string prefix,
        string encryptionKeys)
    {
        var start = CliProcess.StartInfo(["retention", "--data-dir", dataDir, "--postgres", postgres]);
        start.Environment["DIALOGUEDB_REDIS"] = redis;
        start.Environment["DIALOGUEDB_REDIS_KEY_PREFIX"] = prefix;
        start.Environment["DIALOGUEDB_ENCRYPTION_KEYS_FILE"] = encryptionKeys;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("dialoguedb retention did not start");
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var errors = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return (process.ExitCode, await output + await errors);
    }
}
