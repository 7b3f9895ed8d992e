using System.Text.RegularExpressions;
using DialogueDb.Service.Security;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Storage;

/// <summary>
/// Schema management. PostgreSQL: <c>dialoguedb migrate</c> applies the migrations as the owner role and grants the
/// API role and the maintenance role what they need. SQLite: <c>serve</c> creates the embedded schema itself.
/// </summary>
internal static partial class DatabaseMigrator
{
    private static readonly string[] TenantTables = ["dialogues", "messages", "memories"];

    /// <summary>Every table the API and the maintenance jobs read and write (the tenant tables plus project-wide ones).</summary>
    private static readonly string[] DataTables = [.. TenantTables, "plan_usage", "quota_stripes", .. Summaries.SummaryRowConfigurations.Tables];

    /// <summary>Creates the embedded SQLite schema (no-op when it exists).</summary>
    public static async Task EnsureEmbeddedSchemaAsync(IServiceProvider services, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
        if (db.Database.IsNpgsql())
        {
            throw new InvalidOperationException("PostgreSQL schemas are applied by `dialoguedb migrate`, not at start.");
        }

        // The model's CREATE statements, made idempotent: a data folder from an older version gains the tables and
        // indexes added since (the embedded schema only ever grows by whole tables and indexes, or drops a search table
        // that the indexer can rebuild).
        await Search.SearchSchemaUpgrade.DropItemsKeyedByIdAsync(db, ct);
        var script = db.Database.GenerateCreateScript()
            .Replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", StringComparison.Ordinal)
            .Replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS ", StringComparison.Ordinal)
            .Replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", StringComparison.Ordinal);
        await db.Database.ExecuteSqlRawAsync(script, ct);
        await db.Database.ExecuteSqlRawAsync(MoveQuotaCountersToStripes, ct);
        await Search.SearchSchemaUpgrade.AddIdentityColumnsAsync(db, ct);
        await Search.SearchSchemaUpgrade.AddRetryColumnsAsync(db, ct);
        await Search.SearchSchemaUpgrade.MoveTermsIntoItemsAsync(db, ct);
        // WAL lets readers run while one writer commits; the setting is stored in the database file.
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);

        // Labels, descriptions and names an older version stored as text are encrypted before anything serves them.
        if (services.GetService<ContentProtector>() is { } protector)
        {
            await db.Database.OpenConnectionAsync(ct);
            await new FreeTextSealer(protector).SealSqliteAsync(db.Database.GetDbConnection(), ct);
        }
    }

    /// <summary>
    /// After the migrations: encrypts the labels, descriptions and names the SealFreeText migration kept as plaintext.
    /// Only then are the key ring and the project id needed (<paramref name="protector"/> is asked for lazily), so a new
    /// or already sealed database migrates without them. Returns the number of values sealed.
    /// </summary>
    public static async Task<long> SealFreeTextAsync(string ownerConnection, Func<ContentProtector> protector, CancellationToken ct)
    {
        await using var dataSource = NpgsqlDataSource.Create(ownerConnection);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await FreeTextSealer.IsPendingAsync(connection, ct)
            ? await new FreeTextSealer(protector()).SealPostgresAsync(connection, ct)
            : 0;
    }

    /// <summary>
    /// Quota counters of an older version (one plan_usage row per kind) become stripe 0 of the striped counter, with an
    /// allowance equal to what they counted and no cap, so the next write shares out the rest. Idempotent.
    /// </summary>
    public const string MoveQuotaCountersToStripes = """
        INSERT INTO quota_stripes (period, kind, stripe, used, allowance, cap)
        SELECT period, kind, 0, used, used, 0 FROM plan_usage WHERE kind IN ('dialogues', 'messages', 'memories')
        ON CONFLICT DO NOTHING;
        DELETE FROM plan_usage WHERE kind IN ('dialogues', 'messages', 'memories');
        """;

    /// <summary>
    /// Applies the PostgreSQL migrations over <paramref name="ownerConnection"/> (the role that owns the tables), then
    /// grants data access to the API role (subject to row-level security) and the maintenance role (must be BYPASSRLS).
    /// </summary>
    public static async Task MigratePostgresAsync(string ownerConnection, string? appRole, string? maintenanceRole,
        CancellationToken ct)
    {
        await using var dataSource = NpgsqlDataSource.Create(ownerConnection);
        var builder = new DbContextOptionsBuilder<DialogueDbContext>();
        StorageSetup.Configure(builder, dataSource);
        await using (var db = new DialogueDbContext(builder.Options))
        {
            await db.Database.MigrateAsync(ct);
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        if (appRole is not null)
        {
            var role = await DescribeRoleAsync(connection, appRole, ct);
            if (role.BypassesSecurity)
            {
                throw new InvalidOperationException(
                    $"The API role '{appRole}' is a superuser or has BYPASSRLS: row-level security would not apply to it.");
            }

            if (role.OwnsTables)
            {
                throw new InvalidOperationException(
                    $"The API role '{appRole}' owns the tables; run migrations as a separate owner role so the API role is not the owner.");
            }

            await GrantAsync(connection, appRole, ct);
            // The API only appends audit events: it can neither read nor remove another namespace's (or its own).
            await ExecuteAsync(connection, $"GRANT INSERT ON outbox TO \"{appRole}\"", ct);
            // Search: the API appends index work and reads its namespace's index; only the indexer writes the index.
            await ExecuteAsync(connection, $"""
                GRANT INSERT ON search_queue TO "{appRole}";
                GRANT SELECT ON search_items, search_namespaces TO "{appRole}";
                """, ct);
        }

        if (maintenanceRole is not null)
        {
            var role = await DescribeRoleAsync(connection, maintenanceRole, ct);
            if (!role.BypassesSecurity)
            {
                throw new InvalidOperationException(
                    $"The maintenance role '{maintenanceRole}' needs BYPASSRLS to see every namespace (ALTER ROLE ... BYPASSRLS, as a superuser).");
            }

            await GrantAsync(connection, maintenanceRole, ct);
            await ExecuteAsync(connection, $"GRANT SELECT, INSERT, DELETE ON outbox TO \"{maintenanceRole}\"", ct);
            await ExecuteAsync(connection,
                $"GRANT SELECT, INSERT, UPDATE, DELETE ON search_queue, search_items, search_namespaces, search_vector_queue TO \"{maintenanceRole}\"", ct);
            // The indexer's place in the stream of new messages (SearchMessageFollower); the API role has no access.
            await ExecuteAsync(connection, $"GRANT SELECT, UPDATE ON search_message_cursor TO \"{maintenanceRole}\"", ct);
        }
    }

    /// <summary>
    /// Refuses to serve over a connection whose role bypasses row-level security (a superuser, BYPASSRLS, or the
    /// table owner): namespace isolation must hold in the database, not only in C#.
    /// </summary>
    public static async Task EnsureApiRoleIsolatedAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var command = new NpgsqlCommand("SELECT current_user", connection);
        var user = (string)(await command.ExecuteScalarAsync(ct))!;
        var role = await DescribeRoleAsync(connection, user, ct);
        if (role.BypassesSecurity || role.OwnsTables)
        {
            throw new InvalidOperationException(
                $"The API connects to PostgreSQL as '{user}', which {(role.OwnsTables ? "owns the tables" : "is a superuser or BYPASSRLS")}: " +
                "row-level security would not isolate namespaces. Connect as the API role (see README, \"PostgreSQL roles\").");
        }
    }

    /// <summary>
    /// The maintenance jobs (re-encryption, retention) must see every namespace; over the API role they would silently
    /// see none, so they refuse to run without BYPASSRLS.
    /// </summary>
    public static async Task EnsureSeesAllNamespacesAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var command = new NpgsqlCommand("SELECT current_user", connection);
        var user = (string)(await command.ExecuteScalarAsync(ct))!;
        if (!(await DescribeRoleAsync(connection, user, ct)).BypassesSecurity)
        {
            throw new InvalidOperationException(
                $"This job must see every namespace, but '{user}' is subject to row-level security: connect as the maintenance role.");
        }
    }

    private static async Task<(bool BypassesSecurity, bool OwnsTables)> DescribeRoleAsync(NpgsqlConnection connection, string role,
        CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("""
            SELECT r.rolsuper OR r.rolbypassrls,
                   EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = 'public' AND t.tablename = ANY(@tables) AND t.tableowner = r.rolname)
            FROM pg_roles r WHERE r.rolname = @role
            """, connection);
        command.Parameters.AddWithValue("role", role);
        command.Parameters.AddWithValue("tables", TenantTables);
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            throw new InvalidOperationException($"The PostgreSQL role '{role}' does not exist.");
        }

        return (reader.GetBoolean(0), reader.GetBoolean(1));
    }

    private static async Task GrantAsync(NpgsqlConnection connection, string role, CancellationToken ct)
    {
        if (!RoleName().IsMatch(role))
        {
            throw new InvalidOperationException($"'{role}' is not a plain PostgreSQL role name.");
        }

        await using var command = new NpgsqlCommand($"""
            GRANT USAGE ON SCHEMA public TO "{role}";
            GRANT SELECT, INSERT, UPDATE, DELETE ON {string.Join(", ", DataTables)} TO "{role}";
            """, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex RoleName();
}
