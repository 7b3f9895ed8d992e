using System.Net;
using System.Text;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Conformance;
using DialogueDb.Service.Tests.Infrastructure;
using Npgsql;

namespace DialogueDb.Service.Tests.Security;

/// <summary>What an attacker with the database (a dump, the SQLite file) sees: ciphertext, never the content.</summary>
public abstract class EncryptionAtRest(ApiFixture api) : ConformanceTest(api)
{
    /// <summary>Every stored byte of the database, as an attacker holding it would see them.</summary>
    protected abstract Task<byte[]> RawDatabaseBytesAsync();

    [Fact]
    public async Task StoredContent_MessageMemoryAndState_NeverInPlaintext()
    {
        var marker = "marker-" + Guid.NewGuid().ToString("N");
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns, new
        {
            state = new { secret = marker + "-state" },
            tags = new[] { "visible-tag" },
            messages = new object[]
            {
                new { role = "user", content = marker + "-text" },
                new { role = "assistant", content = new[] { new { type = "text", text = marker + "-block" } } },
            },
        });
        (await PostAsync($"memory?namespace={ns}", new { value = new { note = marker + "-memory" } })).Expect(HttpStatusCode.OK);
        (await PutAsync($"dialogue/{Str(dialogue["id"])}/state?namespace={ns}", new { more = marker + "-merged" })).Expect(HttpStatusCode.OK);

        var bytes = await RawDatabaseBytesAsync();

        Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)));
        // Tags stay plaintext (they are filters): proves the bytes searched really are the stored rows.
        Assert.NotEqual(-1, bytes.AsSpan().IndexOf("visible-tag"u8));
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

    /// <summary>Waits until the relay published the test's five events (3 on create, the memory, the state merge).</summary>
    private static async Task EventsPublishedAsync(string path)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10)
               && (!File.Exists(path) || (await File.ReadAllLinesAsync(path, Ct)).Count(l => l.Contains("\"keyId\"", StringComparison.Ordinal)) < 5))
        {
            await Task.Delay(100, Ct);
        }
    }
}

public sealed class EncryptionAtRestPostgres(PostgresApiFixture api) : EncryptionAtRest(api), IClassFixture<PostgresApiFixture>
{
    private readonly PostgresApiFixture _postgres = api;

    protected override async Task<byte[]> RawDatabaseBytesAsync()
    {
        // Every row of every table as text (bytea renders as hex, so decode it back too), read as a superuser.
        await using var connection = new NpgsqlConnection(_postgres.Database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        var text = new StringBuilder();
        foreach (var table in (string[])["dialogues", "messages", "memories", "outbox"])
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

        return [.. Encoding.UTF8.GetBytes(all), .. decodedHex];
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
