using DialogueDb.Service.Hosting;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DialogueDb.Service.Tests.Storage;

public sealed class EmbeddedSchemaTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DataFolderFromAnOlderVersion_MissingTableAndIndex_AddedAndRowsKept()
    {
        using var dataDir = new TestFolder();
        var (host, options) = await NewEmbeddedDatabaseAsync(dataDir.Path);
        using var owned = host;

        await using (var connection = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False"))
        {
            await connection.OpenAsync(Ct);
            await Execute(connection, """
                INSERT INTO memories (namespace, id, value, type, term, tags, metadata, created, modified)
                VALUES ('n', 'kept', x'00', 'number', 'long', '[]', '{}', 1, 1);
                DROP TABLE plan_usage;
                DROP INDEX IX_memories_namespace_created_id;
                """);
        }

        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);
        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);

        await using var check = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False");
        await check.OpenAsync(Ct);
        Assert.Equal(1L, await Scalar(check, "SELECT count(*) FROM sqlite_master WHERE name = 'plan_usage'"));
        Assert.Equal(1L, await Scalar(check, "SELECT count(*) FROM sqlite_master WHERE name = 'IX_memories_namespace_created_id'"));
        Assert.Equal(1L, await Scalar(check, "SELECT count(*) FROM memories WHERE id = 'kept'"));
    }

    [Fact]
    public async Task QuotaCountsOfAnOlderVersion_MoveToStripeZero_OnceAndKeepTheirUsage()
    {
        using var dataDir = new TestFolder();
        var (host, options) = await NewEmbeddedDatabaseAsync(dataDir.Path);
        using var owned = host;
        await using (var connection = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False"))
        {
            await connection.OpenAsync(Ct);
            await Execute(connection, """
                INSERT INTO plan_usage (period, kind, used) VALUES ('2026-11', 'messages', 42), ('2026-11', 'requests', 7);
                """);
        }

        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);
        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);

        await using var check = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False");
        await check.OpenAsync(Ct);
        Assert.Equal(42L, await Scalar(check, "SELECT sum(used) FROM quota_stripes WHERE period = '2026-11' AND kind = 'messages'"));
        Assert.Equal(0L, await Scalar(check, "SELECT count(*) FROM plan_usage WHERE kind = 'messages'"));
        Assert.Equal(7L, await Scalar(check, "SELECT used FROM plan_usage WHERE kind = 'requests'"));
    }

    [Fact]
    public async Task SearchNamespacesOfAnOlderVersion_GainTheIndexIdentityColumns_MarkedAsTheFirstAnalysis()
    {
        using var dataDir = new TestFolder();
        var (host, options) = await NewEmbeddedDatabaseAsync(dataDir.Path);
        using var owned = host;
        await using (var connection = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False"))
        {
            await connection.OpenAsync(Ct);
            await Execute(connection, """
                DROP TABLE search_namespaces;
                CREATE TABLE search_namespaces (namespace TEXT NOT NULL, kind TEXT NOT NULL, version INTEGER NOT NULL,
                    floor INTEGER NOT NULL, items INTEGER NOT NULL, total_length INTEGER NOT NULL, PRIMARY KEY (namespace, kind));
                INSERT INTO search_namespaces VALUES ('n', 'memory', 7, 0, 3, 30);
                """);
        }

        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);
        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);

        await using var check = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False");
        await check.OpenAsync(Ct);
        await using var command = check.CreateCommand();
        command.CommandText = "SELECT model, format, rebuild_cursor, version, items FROM search_namespaces";
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal(Service.Search.SearchSchemaUpgrade.LegacyIdentity, reader.GetString(0));
        Assert.Equal(Service.Search.SearchSchemaUpgrade.LegacyFormat, reader.GetInt32(1));
        Assert.True(reader.IsDBNull(2));
        Assert.Equal((7L, 3L), (reader.GetInt64(3), reader.GetInt64(4)));
    }

    [Fact]
    public async Task VectorQueueOfAnOlderVersion_GainsTheRetryColumns_FailedEntriesDueAtOnce()
    {
        using var dataDir = new TestFolder();
        var (host, options) = await NewEmbeddedDatabaseAsync(dataDir.Path);
        using var owned = host;
        await using (var connection = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False"))
        {
            await connection.OpenAsync(Ct);
            await Execute(connection, """
                DROP TABLE search_vector_queue;
                CREATE TABLE search_vector_queue (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL,
                    kind TEXT NOT NULL, item_id TEXT NOT NULL, dialogue_id TEXT NULL, version INTEGER NOT NULL,
                    enqueued INTEGER NOT NULL, failed INTEGER NOT NULL);
                INSERT INTO search_vector_queue (namespace, kind, item_id, version, enqueued, failed) VALUES ('n', 'memory', 'm1', 3, 1, 1);
                """);
        }

        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);
        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);

        await using var check = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False");
        await check.OpenAsync(Ct);
        Assert.Equal(1L, await Scalar(check,
            "SELECT count(*) FROM search_vector_queue WHERE item_id = 'm1' AND failed = 1 AND version = 3 AND attempts = 0 AND next_attempt = 0"));
    }

    [Fact]
    public async Task SearchItemsOfAnOlderVersion_KeyedByIdAlone_RecreatedKeyedByDialogue_TheTermsTableGoes()
    {
        using var dataDir = new TestFolder();
        var (host, options) = await NewEmbeddedDatabaseAsync(dataDir.Path);
        using var owned = host;
        await using (var connection = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False"))
        {
            await connection.OpenAsync(Ct);
            await Execute(connection, """
                DROP TABLE search_items;
                CREATE TABLE search_items (namespace TEXT NOT NULL, kind TEXT NOT NULL, item_id TEXT NOT NULL, dialogue_id TEXT NULL,
                    version INTEGER NOT NULL, vectors BLOB NULL, length INTEGER NOT NULL, PRIMARY KEY (namespace, kind, item_id));
                CREATE INDEX IX_search_items_namespace_kind_version ON search_items (namespace, kind, version);
                CREATE TABLE search_terms (namespace TEXT NOT NULL, kind TEXT NOT NULL, token BLOB NOT NULL, item_id TEXT NOT NULL,
                    frequency INTEGER NOT NULL, PRIMARY KEY (namespace, kind, token, item_id));
                INSERT INTO search_items VALUES ('n', 'memory', 'm1', NULL, 3, x'01', 4);
                INSERT INTO search_terms VALUES ('n', 'memory', x'0102', 'm1', 1);
                """);
        }

        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);
        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);

        await using var check = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False");
        await check.OpenAsync(Ct);
        // SQLite cannot change a primary key in place: the table is created anew (the indexer rebuilds what it held).
        Assert.Equal(0L, await Scalar(check, "SELECT count(*) FROM search_items"));
        Assert.Equal(4L, await Scalar(check,
            "SELECT count(*) FROM pragma_table_info('search_items') WHERE pk > 0 AND name IN ('namespace', 'kind', 'dialogue_id', 'item_id')"));
        Assert.Equal(1L, await Scalar(check, "SELECT count(*) FROM pragma_table_info('search_items') WHERE name = 'terms'"));
        Assert.Equal(0L, await Scalar(check, "SELECT count(*) FROM sqlite_master WHERE name = 'search_terms'"));
        Assert.Equal(0L, await Scalar(check, "SELECT count(*) FROM sqlite_master WHERE name = 'IX_search_items_namespace_kind_version'"));
        Assert.Equal(1L, await Scalar(check, "SELECT count(*) FROM sqlite_master WHERE name = 'IX_search_items_namespace_version'"));
    }

    /// <summary>A host with the embedded storage of an empty data folder, its schema created once.</summary>
    private static async Task<(IHost Host, ServiceOptions Options)> NewEmbeddedDatabaseAsync(string dataDir)
    {
        var options = new ServiceOptions { DataDir = dataDir };
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddStorage(options);
        var host = builder.Build();
        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, Ct);
        return (host, options);
    }

    private static async Task Execute(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<long> Scalar(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }
}
