using Microsoft.Extensions.Logging;
using Npgsql;
using static DialogueDb.Operator.Provisioning.PostgresSql;

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

    /// <summary>Whether the project's database exists.</summary>
    public async Task<bool> ExistsAsync(string database, CancellationToken ct)
    {
        ValidateIdentifier(database, nameof(database));
        await using var admin = await OpenAsync(adminConnectionString, ct);
        return await ExistsAsync(admin, database, ct);
    }
}
