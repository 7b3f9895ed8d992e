using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Tests.Storage;

/// <summary>
/// Namespace isolation enforced by PostgreSQL itself: raw SQL over the API role's connection, with no C# filter in the
/// way, cannot see, change or probe another namespace's rows, and sees nothing at all without a namespace.
/// </summary>
public sealed class RowLevelSecurityTests : IAsyncLifetime
{
    private TestDatabase _database = null!;
    private NpgsqlDataSource _app = null!;
    private NpgsqlDataSource _maintenance = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        _database = await TestDatabase.CreateAsync();
        _app = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(_database.AppConnectionString) { MaxPoolSize = 1 }.ConnectionString);
        _maintenance = NpgsqlDataSource.Create(_database.MaintenanceConnectionString);
        await InsertDialogueAsync("tenant-a", "a-1");
        await InsertDialogueAsync("tenant-b", "b-1");
        await InsertDialogueAsync("tenant-b", "shared-name");
        await InsertDialogueAsync("", "default-1");
    }

    public async ValueTask DisposeAsync()
    {
        if (_database is null)
        {
            return;
        }

        await _app.DisposeAsync();
        await _maintenance.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task RawSql_NamespaceA_CannotReadUpdateOrDeleteB()
    {
        await using var connection = await OpenAsAppAsync("tenant-a");

        Assert.Equal(0L, await ScalarAsync(connection, "SELECT count(*) FROM dialogues WHERE namespace = 'tenant-b'"));
        Assert.Equal(1L, await ScalarAsync(connection, "SELECT count(*) FROM dialogues"));
        Assert.Equal(0, await ExecuteAsync(connection, "UPDATE dialogues SET label = 'stolen' WHERE namespace = 'tenant-b'"));
        Assert.Equal(0, await ExecuteAsync(connection, "DELETE FROM dialogues WHERE id = 'b-1'"));
        Assert.Equal(0, await ExecuteAsync(connection, "UPDATE dialogues SET namespace = 'tenant-a' WHERE id = 'b-1'"));

        await using var maintenance = await _maintenance.OpenConnectionAsync(Ct);
        Assert.Equal(2L, await ScalarAsync(maintenance, "SELECT count(*) FROM dialogues WHERE namespace = 'tenant-b' AND label IS NULL"));
    }

    [Fact]
    public async Task RawSql_NamespaceA_CannotWriteRowsIntoB()
    {
        await using var connection = await OpenAsAppAsync("tenant-a");

        var ex = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, InsertSql("tenant-b", "planted")));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, ex.SqlState);
        var moved = await Assert.ThrowsAsync<PostgresException>(() =>
            ExecuteAsync(connection, "UPDATE dialogues SET namespace = 'tenant-b' WHERE id = 'a-1'"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, moved.SqlState);
    }

    [Fact]
    public async Task RawSql_SameIdInAnotherNamespace_NoConflictRevealsIt()
    {
        // Unique keys include the namespace: creating "shared-name" in A succeeds although B has one.
        await using var connection = await OpenAsAppAsync("tenant-a");

        Assert.Equal(1, await ExecuteAsync(connection, InsertSql("tenant-a", "shared-name")));
        Assert.Equal(0L, await ScalarAsync(connection, "SELECT count(*) FROM dialogues WHERE id = 'shared-name' AND namespace <> 'tenant-a'"));
    }

    [Theory]
    [InlineData(null)]           // never set
    [InlineData("")]             // RESET leaves an empty string
    [InlineData("tenant-a")]     // malformed: missing the ns: prefix
    public async Task RawSql_NoValidNamespace_ReadsNothing(string? setting)
    {
        await using var connection = await _app.OpenConnectionAsync(Ct);
        if (setting is not null)
        {
            await ExecuteAsync(connection, $"SELECT set_config('{DialogueDbContext.NamespaceSetting}', '{setting}', false)");
        }

        Assert.Equal(0L, await ScalarAsync(connection, "SELECT count(*) FROM dialogues"));
        Assert.Equal(0, await ExecuteAsync(connection, "DELETE FROM dialogues"));
    }

    [Fact]
    public async Task RawSql_DefaultNamespace_IsItsOwnNamespace()
    {
        await using var connection = await OpenAsAppAsync("");

        Assert.Equal(1L, await ScalarAsync(connection, "SELECT count(*) FROM dialogues"));
        Assert.Equal(0L, await ScalarAsync(connection, "SELECT count(*) FROM dialogues WHERE namespace <> ''"));
    }

    [Fact]
    public async Task PooledConnection_Reused_DoesNotCarryTheNamespace()
    {
        // Pool size 1: the second open is the same physical connection, reset by Npgsql on reuse.
        int pid;
        await using (var first = await OpenAsAppAsync("tenant-a"))
        {
            pid = first.ProcessID;
            Assert.Equal(1L, await ScalarAsync(first, "SELECT count(*) FROM dialogues"));
        }

        await using var second = await _app.OpenConnectionAsync(Ct);
        Assert.Equal(pid, second.ProcessID);
        Assert.Equal(0L, await ScalarAsync(second, "SELECT count(*) FROM dialogues"));
    }

    [Fact]
    public async Task NamespaceBatch_NoResetPool_NamespaceEndsWithItsTransaction()
    {
        // The hot paths' pool skips the reset on reuse: the namespace must live only as long as the batch's transaction.
        await using var batches = NamespaceBatches.Create(
            new NpgsqlConnectionStringBuilder(_database.AppConnectionString) { MaxPoolSize = 1 }.ConnectionString, multiplexedReads: false);
        int pid;
        await using (var first = await batches.OpenAsync(Ct))
        {
            pid = first.ProcessID;
            await using var batch = NamespaceBatches.Create(first, "tenant-a");
            batch.BatchCommands.Add(NamespaceBatches.Command("SELECT count(*) FROM dialogues"));
            await using var reader = await batch.ExecuteReaderAsync(Ct);
            await reader.NextResultAsync(Ct);
            Assert.True(await reader.ReadAsync(Ct));
            Assert.Equal(1L, reader.GetInt64(0));
        }

        await using var second = await batches.OpenAsync(Ct);
        Assert.Equal(pid, second.ProcessID);
        Assert.Equal(0L, await ScalarAsync(second, "SELECT count(*) FROM dialogues"));
        Assert.Equal(0, await ExecuteAsync(second, "UPDATE dialogues SET label = 'stolen'"));
    }

    [Fact]
    public async Task MultiplexedReads_ManyNamespacesInterleavedOnOneConnection_EachSeesOnlyItsOwn()
    {
        // One physical connection for the read pool: every batch is written behind others' on it, each with its own Sync.
        // A namespace bound by one batch must end with that batch, never reach the next one in the pipe.
        await using var batches = NamespaceBatches.Create(
            new NpgsqlConnectionStringBuilder(_database.AppConnectionString) { MaxPoolSize = 1 }.ConnectionString, multiplexedReads: true);
        string[] namespaces = ["tenant-a", "tenant-b", "", "tenant-none"];
        var expected = new Dictionary<string, string>
        {
            ["tenant-a"] = "a-1", ["tenant-b"] = "b-1,shared-name", [""] = "default-1", ["tenant-none"] = "",
        };

        var appRole = new NpgsqlConnectionStringBuilder(_database.AppConnectionString).Username;
        var sessions = $"SELECT count(*) FROM pg_stat_activity WHERE usename = '{appRole}' AND datname = current_database()";
        await using var check = await _maintenance.OpenConnectionAsync(Ct);
        var before = await ScalarAsync(check, sessions);

        var reads = Enumerable.Range(0, 400).Select(async i =>
        {
            var ns = namespaces[i % namespaces.Length];
            await using var batch = batches.Read(ns);
            batch.BatchCommands.Add(NamespaceBatches.Command("SELECT coalesce(string_agg(id, ',' ORDER BY id), '') FROM dialogues"));
            await using var reader = await batch.ExecuteReaderAsync(Ct);
            await reader.NextResultAsync(Ct);
            Assert.True(await reader.ReadAsync(Ct));
            return (ns, ids: reader.GetString(0));
        });

        var results = await Task.WhenAll(reads);

        Assert.Equal(400, results.Length);
        Assert.All(results, r => Assert.Equal(expected[r.ns], r.ids));
        // They did share one connection: the read pool added exactly one session of the API role.
        Assert.Equal(before + 1, await ScalarAsync(check, sessions));
    }

    [Fact]
    public async Task DbContext_OverBypassingRole_QueryFiltersStillIsolate()
    {
        // The second layer: even a connection that bypasses RLS (the maintenance role) sees one namespace through
        // a request context bound to it.
        var options = new DbContextOptionsBuilder<DialogueDbContext>();
        StorageSetup.Configure(options, _maintenance);
        await using var db = new DialogueDbContext(options.Options);
        await db.UseNamespaceAsync("tenant-a", Ct);

        var ids = await db.Dialogues.Select(d => d.Id).ToListAsync(Ct);

        Assert.Equal(["a-1"], ids);
    }

    [Fact]
    public async Task DbContext_NoNamespaceBound_SeesNothing()
    {
        var options = new DbContextOptionsBuilder<DialogueDbContext>();
        StorageSetup.Configure(options, _app);
        await using var db = new DialogueDbContext(options.Options);

        Assert.Equal(0, await db.Dialogues.CountAsync(Ct));
    }

    [Fact]
    public async Task Policy_NamespaceFilteredQuery_UsesTheIndex()
    {
        await using var connection = await OpenAsAppAsync("tenant-a");
        await ExecuteAsync(connection, "SET enable_seqscan = off");
        await using var command = new NpgsqlCommand(
            "EXPLAIN SELECT * FROM dialogues ORDER BY created DESC, id DESC LIMIT 21", connection);
        var plan = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct))
            {
                plan.Add(reader.GetString(0));
            }
        }

        Assert.Contains(plan, line => line.Contains("IX_dialogues_namespace_created_id", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ServeGuard_SuperuserOrOwnerConnection_Refused()
    {
        await using var owner = NpgsqlDataSource.Create(_database.OwnerConnectionString);
        await using var admin = NpgsqlDataSource.Create(_database.AdminConnectionString);
        await using var maintenance = NpgsqlDataSource.Create(_database.MaintenanceConnectionString);

        await Assert.ThrowsAsync<InvalidOperationException>(() => DatabaseMigrator.EnsureApiRoleIsolatedAsync(owner, Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => DatabaseMigrator.EnsureApiRoleIsolatedAsync(admin, Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => DatabaseMigrator.EnsureApiRoleIsolatedAsync(maintenance, Ct));
        await DatabaseMigrator.EnsureApiRoleIsolatedAsync(_app, Ct);
    }

    private async Task<NpgsqlConnection> OpenAsAppAsync(string ns)
    {
        var connection = await _app.OpenConnectionAsync(Ct);
        await ExecuteAsync(connection, $"SELECT set_config('{DialogueDbContext.NamespaceSetting}', '{DialogueDbContext.NamespacePrefix}{ns}', false)");
        return connection;
    }

    private async Task InsertDialogueAsync(string ns, string id)
    {
        await using var connection = await OpenAsAppAsync(ns);
        await ExecuteAsync(connection, InsertSql(ns, id));
    }

    private static string InsertSql(string ns, string id) => $"""
        INSERT INTO dialogues (namespace, id, status, tags, metadata, state, created, modified, total_messages, thread_count, last_seq)
        VALUES ('{ns}', '{id}', 'active', '[]', '{"{}"}', '\x00'::bytea, 1, 1, 0, 0, 0)
        """;

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
