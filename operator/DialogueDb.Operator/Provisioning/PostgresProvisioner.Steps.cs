using Npgsql;
using static DialogueDb.Operator.Provisioning.PostgresSql;

namespace DialogueDb.Operator.Provisioning;

internal sealed partial class PostgresProvisioner
{
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

    private static void ValidatePassword(string? password, string name)
    {
        if (password is null || !Passwords.IsSupported(password))
        {
            throw new ArgumentException(Passwords.Rule, name);
        }
    }
}
