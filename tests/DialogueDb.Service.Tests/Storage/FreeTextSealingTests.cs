using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace DialogueDb.Service.Tests.Storage;

/// <summary>
/// Labels, descriptions and names an older version stored as plaintext (issue 14 §2) are encrypted by the upgrade:
/// PostgreSQL by <c>dialoguedb migrate</c> (the SealFreeText migration, then the sealer), SQLite at the embedded start.
/// </summary>
public sealed class FreeTextSealingTests
{
    private const string Project = "sealing";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly (string Table, string Column, Func<string, RowIdentity> Identity, string Text)[] Stored =
    [
        ("dialogues", "label", ns => RowIdentity.DialogueLabel(ns, "d1"), "old dialogue label"),
        ("memories", "label", ns => RowIdentity.MemoryLabel(ns, "m1"), "old memory label"),
        ("memories", "description", ns => RowIdentity.MemoryDescription(ns, "m1"), "old description, ünïcode"),
        ("messages", "name", ns => RowIdentity.MessageName(ns, "d1", "msg1"), "old name"),
    ];

    [Fact]
    public async Task Postgres_PlaintextFromBeforeTheMigration_ReadableAfterItAndEncryptedByMigrate()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync(migrate: false);
        await using (var owner = NpgsqlDataSource.Create(database.OwnerConnectionString))
        {
            var options = new DbContextOptionsBuilder<DialogueDbContext>();
            StorageSetup.Configure(options, owner);
            await using var db = new DialogueDbContext(options.Options);
            await db.GetService<IMigrator>().MigrateAsync("20261203120035_SearchIndex", cancellationToken: Ct);
        }

        await using var admin = new NpgsqlConnection(database.AdminConnectionString);
        await admin.OpenAsync(Ct);
        await ExecuteAsync(admin, """
            INSERT INTO dialogues (namespace, id, status, label, tags, metadata, state, created, modified, total_messages,
                thread_count, last_seq)
            VALUES ('ns', 'd1', 'active', 'old dialogue label', '[]', '{}', '\x01', 1, 1, 1, 0, 1),
                   ('ns', 'd2', 'active', NULL, '[]', '{}', '\x01', 1, 1, 0, 0, 0);
            INSERT INTO memories (namespace, id, value, type, term, label, description, tags, metadata, created, modified)
            VALUES ('ns', 'm1', '\x01', 'string', 'long', 'old memory label', 'old description, ünïcode', '[]', '{}', 1, 1);
            INSERT INTO messages (namespace, dialogue_id, seq, id, role, name, content, content_length, tags, metadata, created, modified)
            VALUES ('ns', 'd1', 1, 'msg1', 'user', 'old name', '\x01', 1, '[]', '{}', 1, 1);
            """);

        await DatabaseMigrator.MigratePostgresAsync(database.OwnerConnectionString, database.AppRole, database.MaintenanceRole, Ct);

        // Migrated, not yet sealed: kept as a NUL byte and the text, which only the sealer reads (migrate runs it next,
        // before any server of this version serves); read as content, that form is refused like a failed tag.
        var protector = new ContentProtector(EncryptionKeyRing.NewRing(), Project);
        foreach (var (table, column, identity, text) in Stored)
        {
            var stored = await ValueAsync(admin, table, column);
            Assert.Equal(ContentProtector.LegacyPlaintext, stored[0]);
            Assert.Equal(text, ContentProtector.LegacyText(stored));
            Assert.Throws<ContentDecryptionException>(() => protector.DecryptText(stored, identity("ns")));
        }

        var sealedValues = await DatabaseMigrator.SealFreeTextAsync(database.OwnerConnectionString, () => protector, Ct);

        Assert.Equal(Stored.Length, sealedValues);
        foreach (var (table, column, identity, text) in Stored)
        {
            var stored = await ValueAsync(admin, table, column);
            Assert.Equal(ContentProtector.FormatVersion, stored[0]);
            Assert.Equal(-1, stored.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(text)));
            Assert.Equal(text, protector.DecryptText(stored, identity("ns")));
        }

        Assert.Equal(0L, await ScalarAsync(admin, "SELECT count(*) FROM pending_backfills"));
        Assert.Equal(1L, await ScalarAsync(admin, "SELECT count(*) FROM dialogues WHERE id = 'd2' AND label IS NULL"));
        // The forced row-level security is back on for the owner.
        Assert.Equal(3L, await ScalarAsync(admin,
            "SELECT count(*) FROM pg_class WHERE relname IN ('dialogues', 'memories', 'messages') AND relforcerowsecurity"));
        // Nothing left: the next migrate needs no key ring at all.
        Assert.Equal(0, await DatabaseMigrator.SealFreeTextAsync(database.OwnerConnectionString,
            () => throw new InvalidOperationException("the key ring was asked for"), Ct));
    }

    [Fact]
    public async Task Postgres_NewDatabase_MigrateNeedsNoKeyRing()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();

        Assert.Equal(0, await DatabaseMigrator.SealFreeTextAsync(database.OwnerConnectionString,
            () => throw new InvalidOperationException("the key ring was asked for"), Ct));
    }

    [Fact]
    public async Task Sqlite_TextStoredByAnOlderVersion_EncryptedAtStart()
    {
        using var dataDir = new TestFolder();
        var options = new ServiceOptions { DataDir = dataDir.Path };
        var protector = new ContentProtector(EncryptionKeyRing.NewRing(), Project);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddStorage(options);
        builder.Services.AddSingleton(protector);
        using var host = builder.Build();
        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);
        await using (var connection = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False"))
        {
            await connection.OpenAsync(Ct);
            await ExecuteAsync(connection, """
                INSERT INTO dialogues (namespace, id, status, label, tags, metadata, state, created, modified, total_messages,
                    thread_count, last_seq)
                VALUES ('ns', 'd1', 'active', 'old dialogue label', '[]', '{}', x'01', 1, 1, 1, 0, 1);
                INSERT INTO memories (namespace, id, value, type, term, label, description, tags, metadata, created, modified)
                VALUES ('ns', 'm1', x'01', 'string', 'long', 'old memory label', 'old description, ünïcode', '[]', '{}', 1, 1);
                INSERT INTO messages (namespace, dialogue_id, seq, id, role, name, content, content_length, tags, metadata, created, modified)
                VALUES ('ns', 'd1', 1, 'msg1', 'user', 'old name', x'01', 1, '[]', '{}', 1, 1);
                """);
        }

        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);

        await using var check = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False");
        await check.OpenAsync(Ct);
        foreach (var (table, column, identity, text) in Stored)
        {
            await using var command = check.CreateCommand();
            command.CommandText = $"SELECT typeof({column}), {column} FROM {table}";
            await using var reader = await command.ExecuteReaderAsync(Ct);
            Assert.True(await reader.ReadAsync(Ct));
            Assert.Equal("blob", reader.GetString(0));
            Assert.Equal(text, protector.DecryptText(reader.GetFieldValue<byte[]>(1), identity("ns")));
        }
    }

    private static async Task<byte[]> ValueAsync(NpgsqlConnection connection, string table, string column)
    {
        await using var command = new NpgsqlCommand($"SELECT {column} FROM {table} WHERE {column} IS NOT NULL", connection);
        return (byte[])(await command.ExecuteScalarAsync(Ct))!;
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    private static async Task ExecuteAsync(System.Data.Common.DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(Ct);
    }
}
