using DialogueDb.Service.Hosting;
using Npgsql;

namespace DialogueDb.Service.Retention;

/// <summary>
/// One retention run at a time per project: a PostgreSQL session advisory lock (released when the run's connection
/// closes, also on a kill), or an exclusively opened lock file in embedded mode (released by the OS on exit).
/// </summary>
internal sealed class RetentionLock : IAsyncDisposable
{
    private const long LockKey = 0x6464_625F_7265_746E; // "ddb_retn"

    private readonly NpgsqlConnection? _connection;
    private readonly FileStream? _file;

    private RetentionLock(NpgsqlConnection? connection, FileStream? file)
    {
        _connection = connection;
        _file = file;
    }

    /// <summary>The lock, or null when another run holds it.</summary>
    public static async Task<RetentionLock?> TryAcquireAsync(ServiceOptions options, NpgsqlDataSource? postgres, CancellationToken ct)
    {
        if (postgres is not null)
        {
            var connection = await postgres.OpenConnectionAsync(ct);
            await using var command = new NpgsqlCommand($"SELECT pg_try_advisory_lock({LockKey})", connection);
            if ((bool)(await command.ExecuteScalarAsync(ct))!)
            {
                return new RetentionLock(connection, null);
            }

            await connection.DisposeAsync();
            return null;
        }

        try
        {
            Directory.CreateDirectory(options.FullDataDir);
            var file = new FileStream(Path.Combine(options.FullDataDir, "retention.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite,
                FileShare.None, 1, FileOptions.DeleteOnClose);
            return new RetentionLock(null, file);
        }
        catch (IOException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        if (_file is not null)
        {
            await _file.DisposeAsync();
        }
    }
}
