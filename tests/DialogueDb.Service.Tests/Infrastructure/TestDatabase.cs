using Npgsql;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// A throw-away PostgreSQL database on the server that tests/infra/start-services.sh starts
/// (connection in DIALOGUEDB_TEST_POSTGRES, an administrator connection string).
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    public const string AdminVariable = "DIALOGUEDB_TEST_POSTGRES";

    private readonly string _admin;

    private TestDatabase(string admin, string name, string connectionString)
    {
        _admin = admin;
        Name = name;
        ConnectionString = connectionString;
    }

    public string Name { get; }

    public string ConnectionString { get; }

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

    public static async Task<TestDatabase> CreateAsync()
    {
        var admin = Environment.GetEnvironmentVariable(AdminVariable)
            ?? throw new InvalidOperationException(AdminVariable + " is not set.");
        var name = "ddbtest_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(admin) { Database = name };
        return new TestDatabase(admin, name, builder.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(_admin);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
