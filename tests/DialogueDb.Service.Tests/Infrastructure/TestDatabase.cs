using System.Security.Cryptography;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Storage;
using Npgsql;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// A throw-away PostgreSQL database on the server that tests/infra/start-services.sh starts (administrator connection
/// in DIALOGUEDB_TEST_POSTGRES), with the three roles production uses: an owner that runs migrations, the API role
/// (no BYPASSRLS, not the owner) and the maintenance role (BYPASSRLS). Tests connect as the API role, never as a
/// superuser, which would silently bypass row-level security.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    public const string AdminVariable = "DIALOGUEDB_TEST_POSTGRES";

    private readonly string _admin;

    private TestDatabase(string admin, string name, string password)
    {
        _admin = admin;
        Name = name;
        string Connect(string role) =>
            new NpgsqlConnectionStringBuilder(admin) { Database = name, Username = role, Password = password }.ConnectionString;
        OwnerConnectionString = Connect(OwnerRole);
        AppConnectionString = Connect(AppRole);
        MaintenanceConnectionString = Connect(MaintenanceRole);
        AdminConnectionString = new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }

    public string Name { get; }

    public string OwnerRole => Name + "_owner";

    public string AppRole => Name + "_app";

    public string MaintenanceRole => Name + "_maint";

    /// <summary>The owner: migrations run as it.</summary>
    public string OwnerConnectionString { get; }

    /// <summary>The API role: what the service connects as.</summary>
    public string AppConnectionString { get; }

    /// <summary>The maintenance role (BYPASSRLS): retention, re-encryption.</summary>
    public string MaintenanceConnectionString { get; }

    /// <summary>Superuser on this database: only for inspecting raw bytes in tests.</summary>
    public string AdminConnectionString { get; }

    /// <summary>
    /// Settings of a service on this database as production runs it: the API role for requests, the maintenance role for
    /// the relay and indexer, a key ring and an event key written into <paramref name="dataDir"/> (kept when already
    /// there, as in a replica's copy), listening on a free loopback port. <paramref name="adjust"/> sets what the test varies.
    /// </summary>
    internal ServiceOptions ServiceOptions(string dataDir, Action<ServiceOptions>? adjust = null)
    {
        var options = new ServiceOptions
        {
            DataDir = dataDir,
            Urls = "https://127.0.0.1:0",
            Postgres = AppConnectionString,
            RelayPostgres = MaintenanceConnectionString,
            EncryptionKeysFile = TestProject.WriteEncryptionKeys(dataDir),
            EventsKeyFile = TestProject.WriteEventKey(dataDir),
        };
        adjust?.Invoke(options);
        return options;
    }

    /// <summary>Why PostgreSQL tests cannot run here, or null when they can. Under CI a missing server is a failure, not a skip.</summary>
    public static string? UnavailableReason()
    {
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(AdminVariable)))
        {
            return null;
        }

        var reason = $"{AdminVariable} is not set: start PostgreSQL with tests/infra/start-services.sh (make test does this).";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException("CI must run the PostgreSQL tests: " + reason);
        }

        return reason;
    }

    /// <summary>
    /// Creates the roles and the database (owned by the owner role) on the shared server, or on the server of
    /// <paramref name="admin"/> (a superuser connection string); <paramref name="migrate"/> applies the schema and grants.
    /// </summary>
    public static async Task<TestDatabase> CreateAsync(bool migrate = true, string? admin = null)
    {
        admin ??= Environment.GetEnvironmentVariable(AdminVariable)
            ?? throw new InvalidOperationException(AdminVariable + " is not set.");
        var name = "ddbtest_" + Guid.NewGuid().ToString("N")[..16];
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var database = new TestDatabase(admin, name, password);
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            foreach (var sql in (string[])
                     [
                         $"CREATE ROLE \"{database.OwnerRole}\" LOGIN PASSWORD '{password}' NOSUPERUSER NOBYPASSRLS",
                         $"CREATE ROLE \"{database.AppRole}\" LOGIN PASSWORD '{password}' NOSUPERUSER NOBYPASSRLS",
                         $"CREATE ROLE \"{database.MaintenanceRole}\" LOGIN PASSWORD '{password}' NOSUPERUSER BYPASSRLS",
                         $"CREATE DATABASE \"{name}\" OWNER \"{database.OwnerRole}\"",
                     ])
            {
                await using var command = new NpgsqlCommand(sql, connection);
                await command.ExecuteNonQueryAsync();
            }
        }

        if (migrate)
        {
            await DatabaseMigrator.MigratePostgresAsync(database.OwnerConnectionString, database.AppRole, database.MaintenanceRole,
                CancellationToken.None);
        }

        return database;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(_admin);
        await connection.OpenAsync();
        foreach (var sql in (string[])
                 [
                     $"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)",
                     $"DROP ROLE IF EXISTS \"{AppRole}\"",
                     $"DROP ROLE IF EXISTS \"{MaintenanceRole}\"",
                     $"DROP ROLE IF EXISTS \"{OwnerRole}\"",
                 ])
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}
