using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using DialogueDb.Service.Search;
using System.Text;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Tests.Conformance;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace DialogueDb.Service.Tests.Security;

/// <summary>What an attacker with the database (a dump, the SQLite file) sees: ciphertext, never the content.</summary>
public abstract class EncryptionAtRest(ApiFixture api) : ConformanceTest(api)
{
    /// <summary>Every stored byte of the database, as an attacker holding it would see them.</summary>
    protected abstract Task<byte[]> RawDatabaseBytesAsync();

    /// <summary>Overwrites the stored label of a dialogue, as someone with write access to the database could.</summary>
    protected abstract Task SetStoredLabelAsync(string ns, string dialogueId, byte[] stored);

    /// <summary>Events the marker test writes: dialogue and 2 messages, a thread, a memory, its update, the state merge.</summary>
    protected const int MarkerTestEvents = 7;

    [Fact]
    public async Task StoredLabel_InTheUpgradesPlaintextForm_RefusedLikeTamperingNeverShown()
    {
        // The upgrade's plaintext form (NUL, then the text) exists only until the sealer has run, which is before serving.
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { label = "sealed label" }))["id"]);
        var planted = "planted-" + Guid.NewGuid().ToString("N");
        await SetStoredLabelAsync(ns, id, [ContentProtector.LegacyPlaintext, .. Encoding.UTF8.GetBytes(planted)]);

        var one = await GetAsync($"dialogue/{id}?namespace={ns}");
        var list = await GetAsync($"dialogue?namespace={ns}");

        one.Expect(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        list.Expect(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        Assert.DoesNotContain(planted, one.Body + list.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoredContent_MessageMemoryAndState_NeverInPlaintext()
    {
        var marker = "marker-" + Guid.NewGuid().ToString("N");
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns, new
        {
            label = marker + "-label",
            state = new { secret = marker + "-state" },
            tags = new[] { "visible-tag" },
            messages = new object[]
            {
                new { role = "user", content = marker + "-text", name = marker + "-name" },
                new { role = "assistant", content = new[] { new { type = "text", text = marker + "-block" } } },
            },
        });
        var dialogueId = Str(dialogue["id"]);
        var thread = await CreateDialogueAsync(ns, new { threadOf = dialogueId, label = marker + "-thread" });
        var memory = (await PostAsync($"memory?namespace={ns}", new
        {
            value = new { note = marker + "-memory" },
            label = marker + "-memory-label",
            description = marker + "-description",
        })).Expect(HttpStatusCode.OK).Object;
        (await PutAsync($"memory/{Str(memory["id"])}?namespace={ns}", new { label = marker + "-relabelled" })).Expect(HttpStatusCode.OK);
        (await PutAsync($"dialogue/{dialogueId}/state?namespace={ns}", new { more = marker + "-merged" })).Expect(HttpStatusCode.OK);

        var bytes = await RawDatabaseBytesAsync();

        Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)));
        // Still readable through the API, in single reads and in lists.
        Assert.Equal(marker + "-label", Str((await GetDialogueAsync(ns, dialogueId))["label"]));
        Assert.Equal(marker + "-thread", Str(thread["label"]));
        var threads = (await GetAsync($"dialogue?namespace={ns}&threadOf={dialogueId}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(marker + "-thread", Str(threads["items"]![0]!["label"]));
        var messages = (await GetAsync($"messages?dialogueId={dialogueId}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(marker + "-name", Str(messages["items"]![0]!["name"]));
        var stored = (await GetAsync($"memory/{Str(memory["id"])}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(marker + "-relabelled", Str(stored["label"]));
        Assert.Equal(marker + "-description", Str(stored["description"]));
        // Tags stay plaintext (they are filters): proves the bytes searched really are the stored rows.
        Assert.NotEqual(-1, bytes.AsSpan().IndexOf("visible-tag"u8));
    }

    [Fact]
    public async Task SearchIndex_TermsTextAndVectors_NeverInPlaintext()
    {
        var marker = "marker" + Guid.NewGuid().ToString("N");
        var ns = NewNamespace();
        var text = $"Quarterly {marker} review with the finance team";
        var id = Str((await PostAsync($"memory?namespace={ns}", new { value = text, tags = new[] { "visible-tag" } }))
            .Expect(HttpStatusCode.OK).Object["id"]);
        // Searchable by the marker word (its postings are in the index tables), and by meaning (its vectors too).
        var deadline = DateTime.UtcNow.AddSeconds(60);
        foreach (var (query, mode) in (ValueTuple<string, string>[])[(marker, "keyword"), ("quarterly finance review", "semantic")])
        {
            while (!(await PostAsync($"search?namespace={ns}", new { query, @object = "memory", mode }))
                .Expect(HttpStatusCode.OK).Body.Contains(id, StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, $"the memory was not indexed ({mode}) in time");
                await Task.Delay(100, Ct);
            }
        }

        var vector = (await new MiniLmEmbedder().EmbedAsync([SearchText.OfMemory(JsonSerializer.Serialize(text), null, null)], Ct))[0][0];
        var bytes = await RawDatabaseBytesAsync();

        Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)));
        Assert.Equal(-1, bytes.AsSpan().IndexOf("finance"u8));
        Assert.False(ContainsVector(bytes, vector), "the embedding is readable in the stored bytes");
        // The scanner finds a plaintext vector where there is one (so the check above can fail).
        Assert.True(ContainsVector([.. new byte[3], .. MemoryMarshal.AsBytes(vector.AsSpan()).ToArray()], vector));
    }

    /// <summary>Eight consecutive float32 values (any alignment) within 1e-3 of the vector's first eight components.</summary>
    private static bool ContainsVector(byte[] bytes, float[] vector)
    {
        const int Run = 8;
        for (var offset = 0; offset + (Run * 4) <= bytes.Length; offset++)
        {
            var match = true;
            for (var i = 0; i < Run && match; i++)
            {
                match = Math.Abs(BitConverter.ToSingle(bytes, offset + (i * 4)) - vector[i]) < 1e-3f;
            }

            if (match)
            {
                return true;
            }
        }

        return false;
    }
}

public sealed class EncryptionAtRestSqlite(SqliteApiFixture api) : EncryptionAtRest(api), IClassFixture<SqliteApiFixture>
{
    protected override async Task<byte[]> RawDatabaseBytesAsync()
    {
        var options = new ServiceOptions { DataDir = Api.DataDir };
        var path = options.SqlitePath;
        await EventsPublishedAsync(options.EventsFilePath);
        var bytes = new List<byte>();
        string[] eventFiles = Directory.GetFiles(Api.DataDir, "events*.jsonl");
        Assert.NotEmpty(eventFiles);
        foreach (var file in (string[])[path, path + "-wal", .. eventFiles])
        {
            if (File.Exists(file))
            {
                await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var buffer = new MemoryStream();
                await stream.CopyToAsync(buffer, Ct);
                bytes.AddRange(buffer.ToArray());
            }
        }

        return [.. bytes];
    }

    protected override async Task SetStoredLabelAsync(string ns, string dialogueId, byte[] stored)
    {
        var path = new ServiceOptions { DataDir = Api.DataDir }.SqlitePath;
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync(Ct);
        await using var command = new SqliteCommand("UPDATE dialogues SET label = @label WHERE namespace = @ns AND id = @id", connection);
        command.Parameters.AddWithValue("label", stored);
        command.Parameters.AddWithValue("ns", ns);
        command.Parameters.AddWithValue("id", dialogueId);
        Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
    }

    /// <summary>Waits until the relay published the marker test's events.</summary>
    private static async Task EventsPublishedAsync(string path)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10)
               && (await EventsFile.WholeLinesAsync(path, Ct)).Count(l => l.Contains("\"keyId\"", StringComparison.Ordinal)) < MarkerTestEvents)
        {
            await Task.Delay(100, Ct);
        }
    }
}

public sealed class EncryptionAtRestPostgres(PostgresWithJobsApiFixture api) : EncryptionAtRest(api), IClassFixture<PostgresWithJobsApiFixture>
{
    private readonly PostgresWithJobsApiFixture _postgres = api;

    protected override async Task SetStoredLabelAsync(string ns, string dialogueId, byte[] stored)
    {
        await using var connection = new NpgsqlConnection(_postgres.Database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("UPDATE dialogues SET label = @label WHERE namespace = @ns AND id = @id", connection);
        command.Parameters.AddWithValue("label", stored);
        command.Parameters.AddWithValue("ns", ns);
        command.Parameters.AddWithValue("id", dialogueId);
        Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
    }

    protected override async Task<byte[]> RawDatabaseBytesAsync()
    {
        // Every row of every table as text (bytea renders as hex, so decode it back too), read as a superuser.
        await using var connection = new NpgsqlConnection(_postgres.Database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        var text = new StringBuilder();
        foreach (var table in (string[])["dialogues", "messages", "memories", "outbox", .. SearchRowConfigurations.Tables])
        {
            await using var command = new NpgsqlCommand($"SELECT t::text FROM {table} t", connection);
            await using var reader = await command.ExecuteReaderAsync(Ct);
            while (await reader.ReadAsync(Ct))
            {
                text.AppendLine(reader.GetString(0));
            }
        }

        var all = text.ToString();
        var decodedHex = new List<byte>();
        foreach (var chunk in all.Split("\\\\x", StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var hex = new string(chunk.TakeWhile(Uri.IsHexDigit).ToArray());
            decodedHex.AddRange(Convert.FromHexString(hex.Length % 2 == 0 ? hex : hex[..^1]));
        }

        return [.. Encoding.UTF8.GetBytes(all), .. decodedHex, .. await RecentWalAsync(connection)];
    }

    /// <summary>The newest write-ahead log segments of the test server (the test runs beside it, as its owner or root).</summary>
    private static async Task<byte[]> RecentWalAsync(NpgsqlConnection connection)
    {
        await using (var flush = new NpgsqlCommand("SELECT pg_switch_wal()", connection))
        {
            await flush.ExecuteScalarAsync(Ct);
        }

        await using var command = new NpgsqlCommand("SELECT setting FROM pg_settings WHERE name = 'data_directory'", connection);
        var wal = new DirectoryInfo(Path.Combine((string)(await command.ExecuteScalarAsync(Ct))!, "pg_wal"));
        Assert.True(wal.Exists, $"the test server's WAL folder {wal.FullName} is not readable here");
        var bytes = new List<byte>();
        foreach (var segment in wal.GetFiles().Where(f => f.Name.Length == 24).OrderByDescending(f => f.LastWriteTimeUtc).Take(3))
        {
            bytes.AddRange(await File.ReadAllBytesAsync(segment.FullName, Ct));
        }

        return [.. bytes];
    }

    [Fact]
    public async Task StoredCiphertext_Tampered_ErrorNeverWrongPlaintext()
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { message = new { role = "user", content = "original content" } }))["id"]);
        await using var connection = new NpgsqlConnection(_postgres.Database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        await using (var tamper = new NpgsqlCommand(
            "UPDATE messages SET content = set_byte(content, 30, get_byte(content, 30) # 1) WHERE namespace = @ns", connection))
        {
            tamper.Parameters.AddWithValue("ns", ns);
            Assert.Equal(1, await tamper.ExecuteNonQueryAsync(Ct));
        }

        var response = await GetAsync($"messages?dialogueId={id}&namespace={ns}");

        response.Expect(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        Assert.DoesNotContain("original", response.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoredCiphertext_CopiedIntoAnotherRow_DoesNotDecryptThere()
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new
        {
            messages = new[] { new { id = "m-secret", role = "user", content = "for m-secret only" }, new { id = "m-other", role = "user", content = "other" } },
        }))["id"]);
        await using var connection = new NpgsqlConnection(_postgres.Database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        await using (var copy = new NpgsqlCommand("""
            UPDATE messages SET content = (SELECT content FROM messages WHERE namespace = @ns AND id = 'm-secret')
            WHERE namespace = @ns AND id = 'm-other'
            """, connection))
        {
            copy.Parameters.AddWithValue("ns", ns);
            Assert.Equal(1, await copy.ExecuteNonQueryAsync(Ct));
        }

        var moved = await GetAsync($"message/m-other?dialogueId={id}&namespace={ns}");
        moved.Expect(HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        Assert.DoesNotContain("m-secret only", moved.Body, StringComparison.Ordinal);
        var untouched = (await GetAsync($"message/m-secret?dialogueId={id}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal("for m-secret only", Str(untouched["content"]));
    }
}
