using DialogueDb.Operator.Provisioning;
using DialogueDb.Service.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace DialogueDb.Operator.Tests.Provisioning;

/// <summary>
/// The provisioner against a real PostgreSQL 15, logging in as the roles it creates: what they can and cannot do is
/// what PostgreSQL enforces, not what the catalog says. Every test uses projects of its own and drops them.
/// </summary>
public sealed class PostgresProvisionerTests : IAsyncLifetime
{
    private readonly List<ProjectDatabase> _created = [];
    private string _admin = "";
    private PostgresProvisioner _provisioner = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _admin = ProvisioningServers.PostgresAdmin();
        _provisioner = new PostgresProvisioner(_admin, NullLogger<PostgresProvisioner>.Instance);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (_provisioner is null)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        foreach (var db in _created)
        {
            await _provisioner.DropAsync(db, CancellationToken.None);
        }
    }

    [Fact]
    public async Task EnsureAsync_NewProject_CreatesDatabaseOwnedByOwnerAndThreeLoginRoles()
    {
        var db = NewProject();
        Assert.False(await _provisioner.ExistsAsync(db.Database, Ct));

        await _provisioner.EnsureAsync(db, Ct);

        Assert.True(await _provisioner.ExistsAsync(db.Database, Ct));
        var state = await StateAsync(db);
        Assert.Equal(db.OwnerRole, state.DatabaseOwner);
        Assert.Equal($"{db.OwnerRole}: login nosuper nocreatedb nocreaterole norepl nobypassrls", state.Roles[0]);
        Assert.Equal($"{db.ApiRole}: login nosuper nocreatedb nocreaterole norepl nobypassrls", state.Roles[1]);
        Assert.Equal($"{db.MaintenanceRole}: login nosuper nocreatedb nocreaterole norepl bypassrls", state.Roles[2]);
        // No PUBLIC entry; the API and maintenance roles may only connect; the owner has everything as owner.
        Assert.Equal(
            [$"{db.ApiRole}=c", $"{db.MaintenanceRole}=c", $"{db.OwnerRole}=CTc"],
            state.DatabaseAcl);
        Assert.Equal("pg_database_owner", state.PublicSchemaOwner);
        Assert.True(state.AllPasswordsScram);
        foreach (var (role, password) in Logins(db))
        {
            Assert.Equal(role, await WhoAmIAsync(db.Database, role, password));
        }
    }

    [Fact]
    public async Task EnsureAsync_Rerun_SameStateAndChangedPasswordApplied()
    {
        var db = NewProject();
        await _provisioner.EnsureAsync(db, Ct);
        var before = await StateAsync(db);

        await _provisioner.EnsureAsync(db, Ct);
        Assert.Equal(before, await StateAsync(db));

        var rotated = db with { ApiPassword = ProvisioningServers.NewPassword() };
        await _provisioner.EnsureAsync(rotated, Ct);

        Assert.Equal(before, await StateAsync(rotated));
        var refused = await Assert.ThrowsAsync<PostgresException>(() => WhoAmIAsync(db.Database, db.ApiRole, db.ApiPassword));
        Assert.Equal(PostgresErrorCodes.InvalidPassword, refused.SqlState);
        Assert.Equal(db.ApiRole, await WhoAmIAsync(db.Database, db.ApiRole, rotated.ApiPassword));
        Assert.Equal(db.OwnerRole, await WhoAmIAsync(db.Database, db.OwnerRole, db.OwnerPassword));
    }

    [Fact]
    public async Task EnsureAsync_RolesAndGrantsChangedByHand_ConvergesBack()
    {
        var db = NewProject();
        await _provisioner.EnsureAsync(db, Ct);
        var before = await StateAsync(db);
        var stranger = NewProject();
        await _provisioner.EnsureAsync(stranger, Ct);
        await AdminExecuteAsync(null,
            $"ALTER ROLE \"{db.ApiRole}\" CREATEDB BYPASSRLS",
            $"ALTER ROLE \"{db.MaintenanceRole}\" NOBYPASSRLS",
            $"ALTER ROLE \"{db.OwnerRole}\" NOLOGIN",
            $"GRANT ALL ON DATABASE \"{db.Database}\" TO PUBLIC",
            $"GRANT CONNECT ON DATABASE \"{db.Database}\" TO \"{stranger.ApiRole}\"");
        await AdminExecuteAsync(db.Database, $"GRANT CREATE ON SCHEMA public TO PUBLIC, \"{db.ApiRole}\"");

        await _provisioner.EnsureAsync(db, Ct);

        Assert.Equal(before, await StateAsync(db));
        await AssertCannotCreateTableAsync(db.Database, db.ApiRole, db.ApiPassword);
    }

    [Fact]
    public async Task OwnerRole_CreateTable_SucceedsWhileApiAndMaintenanceRolesCannotCreate()
    {
        var db = NewProject();
        await _provisioner.EnsureAsync(db, Ct);

        await using (var owner = await OpenAsync(db.Database, db.OwnerRole, db.OwnerPassword))
        {
            await ExecuteAsync(owner, "CREATE TABLE public.owned_by_owner (id int)");
        }

        await AssertCannotCreateTableAsync(db.Database, db.ApiRole, db.ApiPassword);
        await AssertCannotCreateTableAsync(db.Database, db.MaintenanceRole, db.MaintenancePassword);
        await using var api = await OpenAsync(db.Database, db.ApiRole, db.ApiPassword);
        var schema = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(api, "CREATE SCHEMA mine"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, schema.SqlState);
        var temp = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(api, "CREATE TEMP TABLE scratch (id int)"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, temp.SqlState);
    }

    [Fact]
    public async Task ApiRole_AnotherProjectsDatabase_ConnectionRefused()
    {
        var mine = NewProject();
        var theirs = NewProject();
        await _provisioner.EnsureAsync(mine, Ct);
        await _provisioner.EnsureAsync(theirs, Ct);

        Assert.Equal(mine.ApiRole, await WhoAmIAsync(mine.Database, mine.ApiRole, mine.ApiPassword));
        foreach (var (role, password) in Logins(mine))
        {
            var refused = await Assert.ThrowsAsync<PostgresException>(() => WhoAmIAsync(theirs.Database, role, password));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, refused.SqlState);
        }
    }

    [Fact]
    public async Task ServiceMigrations_OnProvisionedDatabase_ApiRoleSeesOnlyItsNamespaceAndMaintenanceSeesAll()
    {
        var db = NewProject();
        await _provisioner.EnsureAsync(db, Ct);

        // As `dialoguedb migrate` runs in the operator's migration Job: as the owner, granting the other two roles.
        await DatabaseMigrator.MigratePostgresAsync(ConnectionString(db.Database, db.OwnerRole, db.OwnerPassword), db.ApiRole,
            db.MaintenanceRole, Ct);

        await using (var apiSource = NpgsqlDataSource.Create(ConnectionString(db.Database, db.ApiRole, db.ApiPassword)))
        {
            // The service's own start-up checks accept the provisioned roles.
            await DatabaseMigrator.EnsureApiRoleIsolatedAsync(apiSource, Ct);
        }

        await using (var maintenanceSource =
                     NpgsqlDataSource.Create(ConnectionString(db.Database, db.MaintenanceRole, db.MaintenancePassword)))
        {
            await DatabaseMigrator.EnsureSeesAllNamespacesAsync(maintenanceSource, Ct);
        }

        await using (var a = await OpenAsApiInNamespaceAsync(db, "team-a"))
        {
            Assert.Equal(1, await ExecuteAsync(a, InsertDialogueSql("team-a", "a-1")));
        }

        await using (var b = await OpenAsApiInNamespaceAsync(db, "team-b"))
        {
            Assert.Equal(1, await ExecuteAsync(b, InsertDialogueSql("team-b", "b-1")));
            Assert.Equal(1L, await ScalarAsync<long>(b, "SELECT count(*) FROM dialogues"));
            Assert.Equal(0L, await ScalarAsync<long>(b, "SELECT count(*) FROM dialogues WHERE namespace = 'team-a'"));
            Assert.Equal(0, await ExecuteAsync(b, "DELETE FROM dialogues WHERE id = 'a-1'"));
            var planted = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(b, InsertDialogueSql("team-a", "planted")));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, planted.SqlState);
        }

        await using var maintenance = await OpenAsync(db.Database, db.MaintenanceRole, db.MaintenancePassword);
        Assert.Equal(2L, await ScalarAsync<long>(maintenance, "SELECT count(*) FROM dialogues"));
        Assert.Equal(1L, await ScalarAsync<long>(maintenance, "SELECT count(*) FROM dialogues WHERE namespace = 'team-a'"));
    }

    [Fact]
    public async Task DropAsync_ProjectWithOpenSession_RemovesDatabaseAndRolesOnlyAndRerunIsNoOp()
    {
        var db = NewProject();
        var other = NewProject();
        await _provisioner.EnsureAsync(db, Ct);
        await _provisioner.EnsureAsync(other, Ct);
        await using var open = await OpenAsync(db.Database, db.ApiRole, db.ApiPassword);

        await _provisioner.DropAsync(db, Ct);

        Assert.False(await _provisioner.ExistsAsync(db.Database, Ct));
        await using (var admin = await OpenAsync(null, null, null))
        {
            await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_roles WHERE rolname = ANY(@roles)", admin);
            command.Parameters.AddWithValue("roles", new[] { db.OwnerRole, db.ApiRole, db.MaintenanceRole });
            Assert.Equal(0L, (long)(await command.ExecuteScalarAsync(Ct))!);
        }

        await Assert.ThrowsAnyAsync<NpgsqlException>(() => ExecuteAsync(open, "SELECT 1"));
        await _provisioner.DropAsync(db, Ct);
        Assert.False(await _provisioner.ExistsAsync(db.Database, Ct));
        Assert.True(await _provisioner.ExistsAsync(other.Database, Ct));
        Assert.Equal(other.ApiRole, await WhoAmIAsync(other.Database, other.ApiRole, other.ApiPassword));
    }

    [Fact]
    public async Task EnsureAsync_CreateDbCreateRoleAdmin_NeedsSuperuserOnlyForTheBypassRlsRole()
    {
        var db = NewProject();
        var adminRole = "ddb_test_admin_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(5));
        var adminPassword = ProvisioningServers.NewPassword();
        await AdminExecuteAsync(null, $"CREATE ROLE \"{adminRole}\" LOGIN CREATEDB CREATEROLE PASSWORD '{adminPassword}'");
        try
        {
            var limited = new PostgresProvisioner(ConnectionString("postgres", adminRole, adminPassword),
                NullLogger<PostgresProvisioner>.Instance);

            // PG15: only a superuser may create a BYPASSRLS role.
            var refused = await Assert.ThrowsAsync<PostgresException>(() => limited.EnsureAsync(db, Ct));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, refused.SqlState);

            // Once a superuser has created it, the limited admin provisions (and re-provisions) everything else.
            await AdminExecuteAsync(null, $"CREATE ROLE \"{db.MaintenanceRole}\" LOGIN BYPASSRLS");
            await limited.EnsureAsync(db, Ct);
            await limited.EnsureAsync(db with { MaintenancePassword = ProvisioningServers.NewPassword() }, Ct);
            await limited.EnsureAsync(db, Ct);

            var state = await StateAsync(db);
            Assert.Equal(db.OwnerRole, state.DatabaseOwner);
            Assert.EndsWith("bypassrls", state.Roles[2], StringComparison.Ordinal);
            Assert.DoesNotContain("nobypassrls", state.Roles[2], StringComparison.Ordinal);
            Assert.Equal("pg_database_owner", state.PublicSchemaOwner);
            Assert.True(state.AllPasswordsScram);
            foreach (var (role, password) in Logins(db))
            {
                Assert.Equal(role, await WhoAmIAsync(db.Database, role, password));
            }
        }
        finally
        {
            await _provisioner.DropAsync(db, CancellationToken.None);
            await AdminExecuteAsync(null, $"DROP OWNED BY \"{adminRole}\"", $"DROP ROLE \"{adminRole}\"");
        }
    }

    [Fact]
    public async Task DropAsync_CreateDbCreateRoleAdmin_WithSessionsOfEveryRole_DropsEverythingAndRerunIsNoOp()
    {
        var db = NewProject();
        var adminRole = "ddb_test_admin_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(5));
        var adminPassword = ProvisioningServers.NewPassword();
        await AdminExecuteAsync(null, $"CREATE ROLE \"{adminRole}\" LOGIN CREATEDB CREATEROLE PASSWORD '{adminPassword}'",
            $"CREATE ROLE \"{db.MaintenanceRole}\" LOGIN BYPASSRLS");
        try
        {
            var limited = new PostgresProvisioner(ConnectionString("postgres", adminRole, adminPassword),
                NullLogger<PostgresProvisioner>.Instance);
            await limited.EnsureAsync(db, Ct);
            await DatabaseMigrator.MigratePostgresAsync(ConnectionString(db.Database, db.OwnerRole, db.OwnerPassword), db.ApiRole,
                db.MaintenanceRole, Ct);
            // As the project's pods and jobs would hold them: sessions of every role, in its database and in "postgres".
            await using var api = await OpenAsync(db.Database, db.ApiRole, db.ApiPassword);
            await using var maintenance = await OpenAsync(db.Database, db.MaintenanceRole, db.MaintenancePassword);
            await using var elsewhere = await OpenAsync("postgres", db.OwnerRole, db.OwnerPassword);

            await limited.DropAsync(db, Ct);

            Assert.Empty(await limited.RemainingAsync(db, Ct));
            await limited.DropAsync(db, Ct);
            Assert.Empty(await _provisioner.RemainingAsync(db, Ct));
        }
        finally
        {
            await _provisioner.DropAsync(db, CancellationToken.None);
            await AdminExecuteAsync(null, $"DROP OWNED BY \"{adminRole}\"", $"DROP ROLE \"{adminRole}\"");
        }
    }

    [Theory]
    [InlineData("Upper_case")]
    [InlineData("with-dash")]
    [InlineData("1starts_with_digit")]
    [InlineData("quote\"injection")]
    [InlineData("this_name_is_far_too_long_for_postgresql_because_it_has_64_bytes")]
    public async Task EnsureAsync_InvalidIdentifier_ThrowsArgumentException(string name)
    {
        var db = NewProject();

        await Assert.ThrowsAsync<ArgumentException>(() => _provisioner.EnsureAsync(db with { Database = name }, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => _provisioner.EnsureAsync(db with { ApiRole = name }, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => _provisioner.DropAsync(db with { OwnerRole = name }, Ct));
        Assert.False(await _provisioner.ExistsAsync(db.Database, Ct));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("non-ascii-\u00e9")]
    public async Task EnsureAsync_UnsupportedPassword_ThrowsWithoutShowingIt(string password)
    {
        var db = NewProject() with { MaintenancePassword = password };

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => _provisioner.EnsureAsync(db, Ct));

        Assert.Equal(nameof(ProjectDatabase.MaintenancePassword), ex.ParamName);
        if (password.Length > 0)
        {
            Assert.DoesNotContain(password, ex.Message, StringComparison.Ordinal);
        }
    }

    private ProjectDatabase NewProject()
    {
        var names = ProjectIdentity.For(ProvisioningServers.UniqueNamespace(), "support");
        var db = ProjectDatabase.For(names, ProvisioningServers.NewPassword(), ProvisioningServers.NewPassword(),
            ProvisioningServers.NewPassword());
        _created.Add(db);
        return db;
    }

    private static (string Role, string Password)[] Logins(ProjectDatabase db) =>
        [(db.OwnerRole, db.OwnerPassword), (db.ApiRole, db.ApiPassword), (db.MaintenanceRole, db.MaintenancePassword)];

    /// <summary>Everything the provisioner is responsible for, as comparable text.</summary>
    private sealed record State(string DatabaseOwner, IReadOnlyList<string> Roles, IReadOnlyList<string> DatabaseAcl,
        string PublicSchemaOwner, bool AllPasswordsScram)
    {
        public bool Equals(State? other) => other is not null && DatabaseOwner == other.DatabaseOwner
            && Roles.SequenceEqual(other.Roles) && DatabaseAcl.SequenceEqual(other.DatabaseAcl)
            && PublicSchemaOwner == other.PublicSchemaOwner && AllPasswordsScram == other.AllPasswordsScram;

        public override int GetHashCode() => DatabaseOwner.GetHashCode(StringComparison.Ordinal);
    }

    private async Task<State> StateAsync(ProjectDatabase db)
    {
        await using var admin = await OpenAsync(null, null, null);
        var owner = await ScalarAsync<string>(admin,
            $"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db.Database}'");
        var roles = new List<string>();
        foreach (var role in (string[])[db.OwnerRole, db.ApiRole, db.MaintenanceRole])
        {
            roles.Add(await ScalarAsync<string>(admin, $"""
                SELECT rolname || ': ' || CASE WHEN rolcanlogin THEN 'login' ELSE 'nologin' END
                    || CASE WHEN rolsuper THEN ' super' ELSE ' nosuper' END
                    || CASE WHEN rolcreatedb THEN ' createdb' ELSE ' nocreatedb' END
                    || CASE WHEN rolcreaterole THEN ' createrole' ELSE ' nocreaterole' END
                    || CASE WHEN rolreplication THEN ' repl' ELSE ' norepl' END
                    || CASE WHEN rolbypassrls THEN ' bypassrls' ELSE ' nobypassrls' END
                FROM pg_roles WHERE rolname = '{role}'
                """));
        }

        // One "grantee=privileges" entry per grantee, without the grantor, sorted ("" is PUBLIC).
        var acl = new List<string>();
        await using (var command = new NpgsqlCommand($"""
            SELECT entry FROM (
                SELECT coalesce(pg_get_userbyid(NULLIF(a.grantee, 0)), '') || '=' ||
                       string_agg(CASE a.privilege_type WHEN 'CONNECT' THEN 'c' WHEN 'CREATE' THEN 'C' ELSE 'T' END, ''
                                  ORDER BY CASE a.privilege_type WHEN 'CONNECT' THEN 'c' WHEN 'CREATE' THEN 'C' ELSE 'T' END COLLATE "C") AS entry
                FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a
                WHERE d.datname = '{db.Database}'
                GROUP BY a.grantee) AS entries
            ORDER BY entry COLLATE "C"
            """, admin))
        {
            await using var reader = await command.ExecuteReaderAsync(Ct);
            while (await reader.ReadAsync(Ct))
            {
                acl.Add(reader.GetString(0));
            }
        }

        var scram = await ScalarAsync<bool>(admin, $"""
            SELECT bool_and(rolpassword LIKE 'SCRAM-SHA-256$4096:%') AND count(*) = 3
            FROM pg_authid WHERE rolname IN ('{db.OwnerRole}', '{db.ApiRole}', '{db.MaintenanceRole}')
            """);
        await using var inDatabase = await OpenAsync(db.Database, null, null);
        var schemaOwner = await ScalarAsync<string>(inDatabase,
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'");
        var publicCanCreate = await ScalarAsync<bool>(inDatabase, "SELECT has_schema_privilege('public', 'public', 'CREATE')");
        Assert.False(publicCanCreate);
        return new State(owner, roles, acl, schemaOwner, scram);
    }

    private async Task AssertCannotCreateTableAsync(string database, string role, string password)
    {
        await using var connection = await OpenAsync(database, role, password);
        var ex = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, "CREATE TABLE public.sneaky (id int)"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, ex.SqlState);
    }

    private async Task<NpgsqlConnection> OpenAsApiInNamespaceAsync(ProjectDatabase db, string ns)
    {
        var connection = await OpenAsync(db.Database, db.ApiRole, db.ApiPassword);
        await ExecuteAsync(connection,
            $"SELECT set_config('{DialogueDbContext.NamespaceSetting}', '{DialogueDbContext.NamespacePrefix}{ns}', false)");
        return connection;
    }

    private static string InsertDialogueSql(string ns, string id) => $"""
        INSERT INTO dialogues (namespace, id, status, tags, metadata, state, created, modified, total_messages, thread_count, last_seq)
        VALUES ('{ns}', '{id}', 'active', '[]', '{"{}"}', '\x00'::bytea, 1, 1, 0, 0, 0)
        """;

    /// <summary>A connection string for <paramref name="role"/> (the admin when null) to <paramref name="database"/>.</summary>
    private string ConnectionString(string? database, string? role, string? password)
    {
        var builder = new NpgsqlConnectionStringBuilder(_admin) { Pooling = false };
        if (database is not null)
        {
            builder.Database = database;
        }

        if (role is not null)
        {
            builder.Username = role;
            builder.Password = password;
        }

        return builder.ConnectionString;
    }

    private async Task<NpgsqlConnection> OpenAsync(string? database, string? role, string? password)
    {
        var connection = new NpgsqlConnection(ConnectionString(database, role, password));
        await connection.OpenAsync(Ct);
        return connection;
    }

    private async Task<string> WhoAmIAsync(string database, string role, string password)
    {
        await using var connection = await OpenAsync(database, role, password);
        return await ScalarAsync<string>(connection, "SELECT current_user");
    }

    private async Task AdminExecuteAsync(string? database, params string[] statements)
    {
        await using var admin = await OpenAsync(database, null, null);
        foreach (var sql in statements)
        {
            await ExecuteAsync(admin, sql);
        }
    }

    private static async Task<int> ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(Ct))!;
    }
}
