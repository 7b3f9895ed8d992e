using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DialogueDb.Operator.Provisioning;

/// <summary>
/// Creates, converges and removes a project's database and roles on the shared PostgreSQL server (15 or later).
/// </summary>
/// <remarks>
/// <para>The admin connection is a superuser, or a role with CREATEDB CREATEROLE. What only a superuser may do in
/// PostgreSQL 15: create a role with BYPASSRLS, or change a role's BYPASSRLS, SUPERUSER or REPLICATION attribute.
/// So with a CREATEDB CREATEROLE admin the maintenance role must be created once by a superuser (with the name
/// <see cref="ProjectIdentity"/> gives it and BYPASSRLS, and on PG16 <c>GRANT</c> it to the admin <c>WITH ADMIN
/// OPTION</c> so the admin can later drop it); everything else then works, because attributes that already have the
/// wanted value are not re-sent. Such an admin is made a member of the owner role (PG15 requires that to create a
/// database owned by it and to change its schema), and of every project role when it drops them.</para>
/// <para>Passwords are sent as SCRAM-SHA-256 verifiers computed here (see <see cref="ScramVerifier"/>), never in clear,
/// and never logged or put in exception messages.</para>
/// </remarks>
internal sealed partial class PostgresProvisioner(string adminConnectionString, ILogger<PostgresProvisioner> logger)
{
    /// <summary>
    /// Idempotently creates the three roles and the database, sets each role's password to the given one, and
    /// converges privileges: only the three roles may connect, only the owner may create in schema public.
    /// </summary>
    public async Task EnsureAsync(ProjectDatabase db, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        ValidateNames(db);
        ValidatePassword(db.OwnerPassword, nameof(db.OwnerPassword));
        ValidatePassword(db.ApiPassword, nameof(db.ApiPassword));
        ValidatePassword(db.MaintenancePassword, nameof(db.MaintenancePassword));

        await using (var admin = await OpenAsync(adminConnectionString, ct))
        {
            await EnsureRoleAsync(admin, db.OwnerRole, db.OwnerPassword, bypassRls: false, ct);
            await EnsureRoleAsync(admin, db.ApiRole, db.ApiPassword, bypassRls: false, ct);
            await EnsureRoleAsync(admin, db.MaintenanceRole, db.MaintenancePassword, bypassRls: true, ct);

            if (!await ScalarAsync<bool>(admin, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", ct)
                && !await ScalarAsync<bool>(admin, $"SELECT pg_has_role(current_user, {Literal(db.OwnerRole)}, 'MEMBER')", ct))
            {
                await ExecuteAsync(admin, $"GRANT {Quote(db.OwnerRole)} TO current_user", ct);
            }

            await EnsureDatabaseAsync(admin, db, ct);
        }

        // Pooling off: after a later DROP DATABASE ... (FORCE) a pooled connection to it would be dead.
        var inDatabase = new NpgsqlConnectionStringBuilder(adminConnectionString) { Database = db.Database, Pooling = false };
        await using var connection = await OpenAsync(inDatabase.ConnectionString, ct);
        // PG15 already leaves PUBLIC without CREATE on public; older templates (or a hand-made grant) may not.
        await ExecuteAsync(connection,
            $"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {Quote(db.ApiRole)}, {Quote(db.MaintenanceRole)}", ct);
        // PG15's default owner of public is pg_database_owner, i.e. whoever owns the database: the owner role. A
        // database from an older template has public owned by the bootstrap superuser instead; hand it to the owner.
        var schemaOwner = await ScalarAsync<string>(connection,
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'", ct);
        if (schemaOwner != "pg_database_owner" && schemaOwner != db.OwnerRole)
        {
            await ExecuteAsync(connection, $"ALTER SCHEMA public OWNER TO {Quote(db.OwnerRole)}", ct);
        }
    }

    /// <summary>
    /// Removes the database (ending its sessions) and the three roles; a no-op for what is already gone, so a deletion
    /// interrupted at any point resumes where it stopped. Objects the roles own in other databases than the admin
    /// connection's make DROP ROLE fail: that is left to a human.
    /// </summary>
    /// <remarks>
    /// A CREATEDB CREATEROLE admin may end a session, drop a database with FORCE and DROP OWNED only with the
    /// privileges of the session's or owner's role, so it first grants itself membership of the project's roles
    /// (PG15: CREATEROLE may grant any non-superuser role; PG16: it needs ADMIN OPTION, which it has on the roles it
    /// created and which the bootstrap of the maintenance role grants it). Granting before terminating also matters
    /// for the order: the API's pods must be stopped first, or they reconnect between the steps.
    /// </remarks>
    public async Task DropAsync(ProjectDatabase db, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        ValidateNames(db);
        await using var admin = await OpenAsync(adminConnectionString, ct);
        var roles = new List<string>();
        foreach (var role in (string[])[db.ApiRole, db.MaintenanceRole, db.OwnerRole])
        {
            if (await RoleExistsAsync(admin, role, ct))
            {
                roles.Add(role);
            }
        }

        await JoinRolesAsync(admin, roles, ct);
        if (await ExistsAsync(admin, db.Database, ct))
        {
            await TerminateAsync(admin, "datname", db.Database, ct);
            // FORCE (PG13+) also ends sessions that connected after the termination above.
            await ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {Quote(db.Database)} WITH (FORCE)", ct);
            LogDatabaseDropped(logger, db.Database);
        }

        foreach (var role in roles)
        {
            // Sessions in other databases (e.g. "postgres", which PUBLIC may connect to) outlive the role otherwise.
            await TerminateAsync(admin, "usename", role, ct);
            // Privileges on shared objects and anything the role created in the admin's database.
            await ExecuteAsync(admin, $"DROP OWNED BY {Quote(role)}", ct);
            await ExecuteAsync(admin, $"DROP ROLE IF EXISTS {Quote(role)}", ct);
            LogRoleDropped(logger, role);
        }
    }

    /// <summary>What of the project is still on the server: its database and which of its roles exist.</summary>
    public async Task<IReadOnlyList<string>> RemainingAsync(ProjectDatabase db, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        ValidateNames(db);
        await using var admin = await OpenAsync(adminConnectionString, ct);
        var left = new List<string>();
        if (await ExistsAsync(admin, db.Database, ct))
        {
            left.Add("database " + db.Database);
        }

        foreach (var role in (string[])[db.OwnerRole, db.ApiRole, db.MaintenanceRole])
        {
            if (await RoleExistsAsync(admin, role, ct))
            {
                left.Add("role " + role);
            }
        }

        return left;
    }

    /// <summary>A non-superuser admin becomes a member of each role (see <see cref="DropAsync"/>); a superuser needs none.</summary>
    private static async Task JoinRolesAsync(NpgsqlConnection admin, List<string> roles, CancellationToken ct)
    {
        if (roles.Count == 0 || await ScalarAsync<bool>(admin, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", ct))
        {
            return;
        }

        foreach (var role in roles)
        {
            if (!await ScalarAsync<bool>(admin, $"SELECT pg_has_role(current_user, {Literal(role)}, 'USAGE')", ct))
            {
                await ExecuteAsync(admin, $"GRANT {Quote(role)} TO current_user", ct);
            }
        }
    }

    /// <summary>Whether the project's database exists.</summary>
    public async Task<bool> ExistsAsync(string database, CancellationToken ct)
    {
        ValidateIdentifier(database, nameof(database));
        await using var admin = await OpenAsync(adminConnectionString, ct);
        return await ExistsAsync(admin, database, ct);
    }

    private async Task EnsureRoleAsync(NpgsqlConnection admin, string role, string password, bool bypassRls, CancellationToken ct)
    {
        var verifier = Literal(ScramVerifier.Create(password));
        var bypass = bypassRls ? "BYPASSRLS" : "NOBYPASSRLS";
        if (!await RoleExistsAsync(admin, role, ct))
        {
            try
            {
                await ExecuteAsync(admin,
                    $"CREATE ROLE {Quote(role)} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION {bypass} PASSWORD {verifier}",
                    ct);
                LogRoleCreated(logger, role);
                return;
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.DuplicateObject or PostgresErrorCodes.UniqueViolation)
            {
                // Created concurrently: converge it below like any existing role.
            }
        }

        // Only attributes that differ: changing BYPASSRLS/SUPERUSER/REPLICATION at all needs a superuser (see remarks).
        await using var command = new NpgsqlCommand(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = @role",
            admin);
        command.Parameters.AddWithValue("role", role);
        var changes = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct))
            {
                throw new InvalidOperationException($"The PostgreSQL role '{role}' disappeared while it was being provisioned.");
            }

            AddIfDifferent(changes, reader.GetBoolean(0), true, "LOGIN");
            AddIfDifferent(changes, reader.GetBoolean(1), false, "SUPERUSER");
            AddIfDifferent(changes, reader.GetBoolean(2), false, "CREATEDB");
            AddIfDifferent(changes, reader.GetBoolean(3), false, "CREATEROLE");
            AddIfDifferent(changes, reader.GetBoolean(4), false, "REPLICATION");
            AddIfDifferent(changes, reader.GetBoolean(5), bypassRls, "BYPASSRLS");
        }

        await ExecuteAsync(admin, $"ALTER ROLE {Quote(role)} WITH {string.Join(' ', changes)} PASSWORD {verifier}", ct);
    }

    private static void AddIfDifferent(List<string> changes, bool actual, bool wanted, string attribute)
    {
        if (actual != wanted)
        {
            changes.Add(wanted ? attribute : "NO" + attribute);
        }
    }

    private async Task EnsureDatabaseAsync(NpgsqlConnection admin, ProjectDatabase db, CancellationToken ct)
    {
        await using (var command = new NpgsqlCommand("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = @db", admin))
        {
            command.Parameters.AddWithValue("db", db.Database);
            var owner = (string?)await command.ExecuteScalarAsync(ct);
            if (owner is null)
            {
                try
                {
                    await ExecuteAsync(admin, $"CREATE DATABASE {Quote(db.Database)} OWNER {Quote(db.OwnerRole)}", ct);
                    LogDatabaseCreated(logger, db.Database, db.OwnerRole);
                }
                catch (PostgresException ex)
                    when (ex.SqlState is PostgresErrorCodes.DuplicateDatabase or PostgresErrorCodes.UniqueViolation)
                {
                    // Created concurrently with the same name: the ALTER below makes sure of its owner.
                    await ExecuteAsync(admin, $"ALTER DATABASE {Quote(db.Database)} OWNER TO {Quote(db.OwnerRole)}", ct);
                }
            }
            else if (owner != db.OwnerRole)
            {
                await ExecuteAsync(admin, $"ALTER DATABASE {Quote(db.Database)} OWNER TO {Quote(db.OwnerRole)}", ct);
            }
        }

        // Only the three roles may connect: no PUBLIC, and no grant someone added by hand to another role.
        var strays = new List<string>();
        await using (var command = new NpgsqlCommand("""
            SELECT DISTINCT r.rolname
            FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee
            WHERE d.datname = @db AND a.grantee <> d.datdba AND NOT r.rolname = ANY(@ours)
            """, admin))
        {
            command.Parameters.AddWithValue("db", db.Database);
            command.Parameters.AddWithValue("ours", new[] { db.OwnerRole, db.ApiRole, db.MaintenanceRole });
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                strays.Add(reader.GetString(0));
            }
        }

        var database = Quote(db.Database);
        await ExecuteAsync(admin, $"REVOKE ALL ON DATABASE {database} FROM PUBLIC", ct);
        foreach (var stray in strays)
        {
            await ExecuteAsync(admin, $"REVOKE ALL ON DATABASE {database} FROM {QuoteAny(stray)}", ct);
        }

        // The API and maintenance roles get CONNECT only (no CREATE, no TEMPORARY); the owner has all as owner.
        await ExecuteAsync(admin, $"REVOKE CREATE, TEMPORARY ON DATABASE {database} FROM {Quote(db.ApiRole)}, {Quote(db.MaintenanceRole)}",
            ct);
        await ExecuteAsync(admin,
            $"GRANT CONNECT ON DATABASE {database} TO {Quote(db.OwnerRole)}, {Quote(db.ApiRole)}, {Quote(db.MaintenanceRole)}",
            ct);
    }

    private static async Task<bool> ExistsAsync(NpgsqlConnection admin, string database, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = @db)", admin);
        command.Parameters.AddWithValue("db", database);
        return (bool)(await command.ExecuteScalarAsync(ct))!;
    }

    private static async Task<bool> RoleExistsAsync(NpgsqlConnection admin, string role, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = @role)", admin);
        command.Parameters.AddWithValue("role", role);
        return (bool)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Ends every other session whose <paramref name="column"/> (datname or usename) is <paramref name="value"/>.</summary>
    private static async Task TerminateAsync(NpgsqlConnection admin, string column, string value, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {column} = @value AND pid <> pg_backend_pid()", admin);
        command.Parameters.AddWithValue("value", value);
        await command.ExecuteScalarAsync(ct);
    }

    private static async Task<NpgsqlConnection> OpenAsync(string connectionString, CancellationToken ct)
    {
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync(ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(ct))!;
    }

    private static void ValidateNames(ProjectDatabase db)
    {
        ValidateIdentifier(db.Database, nameof(db.Database));
        ValidateIdentifier(db.OwnerRole, nameof(db.OwnerRole));
        ValidateIdentifier(db.ApiRole, nameof(db.ApiRole));
        ValidateIdentifier(db.MaintenanceRole, nameof(db.MaintenanceRole));
        if (db.OwnerRole == db.ApiRole || db.OwnerRole == db.MaintenanceRole || db.ApiRole == db.MaintenanceRole)
        {
            throw new ArgumentException("The owner, API and maintenance roles must be three different roles.", nameof(db));
        }
    }

    /// <summary>Contract: names used in SQL text are plain lower-case identifiers, so quoting them can never go wrong.</summary>
    private static void ValidateIdentifier(string? value, string name)
    {
        if (value is null || !Identifier().IsMatch(value))
        {
            throw new ArgumentException($"'{value}' is not a valid name: use ^[a-z_][a-z0-9_]{{0,62}}$.", name);
        }
    }

    private static void ValidatePassword(string? password, string name)
    {
        if (password is null || !Passwords.IsSupported(password))
        {
            throw new ArgumentException(Passwords.Rule, name);
        }
    }

    private static string Quote(string identifier) => "\"" + identifier + "\"";

    /// <summary>Quotes any role name (one found in the catalog, not one of ours): double quotes are doubled.</summary>
    private static string QuoteAny(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>A string literal (standard_conforming_strings is on since PG 9.1, so only quotes need doubling).</summary>
    private static string Literal(string value)
    {
        if (value.Contains('\\', StringComparison.Ordinal) || value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("Literal values must not contain backslashes or NUL.", nameof(value));
        }

        return "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex Identifier();

    [LoggerMessage(Level = LogLevel.Information, Message = "Created PostgreSQL role {Role}")]
    private static partial void LogRoleCreated(ILogger logger, string role);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created PostgreSQL database {Database} owned by {Owner}")]
    private static partial void LogDatabaseCreated(ILogger logger, string database, string owner);

    [LoggerMessage(Level = LogLevel.Information, Message = "Dropped PostgreSQL database {Database}")]
    private static partial void LogDatabaseDropped(ILogger logger, string database);

    [LoggerMessage(Level = LogLevel.Information, Message = "Dropped PostgreSQL role {Role}")]
    private static partial void LogRoleDropped(ILogger logger, string role);
}
