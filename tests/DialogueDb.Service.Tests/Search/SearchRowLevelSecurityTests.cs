using DialogueDb.Service.Search;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Npgsql;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// The search tables are isolated by PostgreSQL like the data tables: the API role sees and queues only its
/// namespace's index rows, and cannot write the index at all (only the indexer, as the maintenance role, does); the
/// vector queue is the indexer's alone, and under the same policy.
/// </summary>
public sealed class SearchRowLevelSecurityTests : IAsyncLifetime
{
    private TestDatabase _database = null!;
    private NpgsqlDataSource _app = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        _database = await TestDatabase.CreateAsync();
        _app = NpgsqlDataSource.Create(_database.AppConnectionString);
        await using var maintenance = new NpgsqlConnection(_database.MaintenanceConnectionString);
        await maintenance.OpenAsync(Ct);
        foreach (var ns in (string[])["tenant-a", "tenant-b"])
        {
            await ExecuteAsync(maintenance, $"""
                INSERT INTO search_items (namespace, kind, item_id, version, vectors, terms, length) VALUES ('{ns}', 'memory', 'm1', 1, '\x01', '\x0102', 3);
                INSERT INTO search_namespaces (namespace, kind, version, floor, items, total_length) VALUES ('{ns}', 'memory', 1, 0, 1, 3);
                INSERT INTO search_queue (namespace, kind, item_id, enqueued) VALUES ('{ns}', 'memory', 'm1', 1);
                INSERT INTO search_vector_queue (namespace, kind, item_id, version, enqueued, failed) VALUES ('{ns}', 'memory', 'm1', 1, 1, false);
                """);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_database is null)
        {
            return;
        }

        await _app.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task Catalog_EverySearchTable_ForcesRowLevelSecurity()
    {
        await using var connection = await _app.OpenConnectionAsync(Ct);
        foreach (var table in SearchRowConfigurations.Tables)
        {
            Assert.Equal(1L, await ScalarAsync(connection,
                $"SELECT count(*) FROM pg_class WHERE relname = '{table}' AND relrowsecurity AND relforcerowsecurity"));
        }
    }

    [Fact]
    public async Task Catalog_EverySearchTable_HasTheNamespacePolicy()
    {
        await using var connection = await _app.OpenConnectionAsync(Ct);
        foreach (var table in SearchRowConfigurations.Tables)
        {
            Assert.Equal(1L, await ScalarAsync(connection, $"""
                SELECT count(*) FROM pg_policies WHERE tablename = '{table}' AND policyname = 'namespace_isolation'
                    AND qual = '((namespace)::text = dialoguedb_request_namespace())'
                    AND with_check = '((namespace)::text = dialoguedb_request_namespace())'
                """));
        }
    }

    [Fact]
    public async Task RawSql_RoleUnderRowLevelSecurity_SeesOnlyItsNamespacesVectorQueue()
    {
        // The API role is never granted the vector queue; were it granted, the policy would still confine it.
        await using (var admin = new NpgsqlConnection(_database.AdminConnectionString))
        {
            await admin.OpenAsync(Ct);
            await ExecuteAsync(admin, $"GRANT SELECT, INSERT ON search_vector_queue TO \"{_database.AppRole}\"");
        }

        await using var connection = await OpenAsAppAsync("tenant-a");

        Assert.Equal(1L, await ScalarAsync(connection, "SELECT count(*) FROM search_vector_queue"));
        Assert.Equal(0L, await ScalarAsync(connection, "SELECT count(*) FROM search_vector_queue WHERE namespace = 'tenant-b'"));
        var planted = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection,
            "INSERT INTO search_vector_queue (namespace, kind, item_id, version, enqueued, failed) VALUES ('tenant-b', 'memory', 'm2', 1, 1, false)"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, planted.SqlState);
    }

    [Fact]
    public async Task RawSql_ApiRole_CannotTouchTheVectorQueue()
    {
        await using var connection = await OpenAsAppAsync("tenant-a");

        foreach (var sql in (string[])[
            "SELECT count(*) FROM search_vector_queue",
            "INSERT INTO search_vector_queue (namespace, kind, item_id, version, enqueued, failed) VALUES ('tenant-a', 'memory', 'm2', 1, 1, false)",
            "DELETE FROM search_vector_queue",
        ])
        {
            var ex = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, sql));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, ex.SqlState);
        }
    }

    [Fact]
    public async Task RawSql_ApiRole_ReadsOnlyItsNamespacesIndex()
    {
        await using var connection = await OpenAsAppAsync("tenant-a");

        Assert.Equal(1L, await ScalarAsync(connection, "SELECT count(*) FROM search_items"));
        Assert.Equal(0L, await ScalarAsync(connection, "SELECT count(*) FROM search_items WHERE namespace = 'tenant-b'"));
        Assert.Equal(1L, await ScalarAsync(connection, "SELECT count(*) FROM search_items WHERE terms IS NOT NULL"));
        Assert.Equal(1L, await ScalarAsync(connection, "SELECT count(*) FROM search_namespaces"));
    }

    [Fact]
    public async Task RawSql_ApiRole_QueuesOnlyIntoItsNamespace()
    {
        await using var connection = await OpenAsAppAsync("tenant-a");

        Assert.Equal(1, await ExecuteAsync(connection, "INSERT INTO search_queue (namespace, kind, item_id, enqueued) VALUES ('tenant-a', 'memory', 'm2', 2)"));
        var planted = await Assert.ThrowsAsync<PostgresException>(() =>
            ExecuteAsync(connection, "INSERT INTO search_queue (namespace, kind, item_id, enqueued) VALUES ('tenant-b', 'memory', 'm2', 2)"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, planted.SqlState);
        // Appending is all the API may do with the queue.
        var read = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync(connection, "SELECT count(*) FROM search_queue"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, read.SqlState);
    }

    [Fact]
    public async Task RawSql_ApiRole_CannotWriteTheIndex()
    {
        await using var connection = await OpenAsAppAsync("tenant-a");

        foreach (var sql in (string[])[
            "UPDATE search_items SET length = 0",
            "DELETE FROM search_items",
            "INSERT INTO search_namespaces (namespace, kind, version, floor, items, total_length) VALUES ('tenant-a', 'message', 1, 0, 0, 0)",
        ])
        {
            var ex = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, sql));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, ex.SqlState);
        }
    }

    private async Task<NpgsqlConnection> OpenAsAppAsync(string ns)
    {
        var connection = await _app.OpenConnectionAsync(Ct);
        await ExecuteAsync(connection, $"SELECT set_config('{DialogueDbContext.NamespaceSetting}', '{DialogueDbContext.NamespacePrefix}{ns}', false)");
        return connection;
    }

    private static async Task<int> ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }
}
