using System.Diagnostics;
using Npgsql;

namespace DialogueDb.Service.Tests.Storage;

/// <summary>
/// An administrator's transaction a test holds open against the service's, on a connection of its own (unpooled, so
/// closing it ends its backend). It cannot outlive the test: disposing it rolls it back when the connection is free,
/// ends its backend with <c>pg_terminate_backend</c> when a statement still runs, closes the connection, and then
/// terminates the backend if it is still there. Should the test process hang instead, the server ends it itself:
/// a lock wait gives up after <see cref="ServerBound"/> (<c>lock_timeout</c>), and so does a session left idle in
/// the transaction (<c>idle_in_transaction_session_timeout</c>) — an open transaction holds back the xmin that the
/// outbox relay of every later test waits for.
/// </summary>
internal sealed class HeldTransaction : IAsyncDisposable
{
    /// <summary>How long the server lets this transaction wait for a lock or sit idle before it ends it.</summary>
    public static readonly TimeSpan ServerBound = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan CleanupBound = TimeSpan.FromSeconds(10);

    private readonly string _adminConnectionString;
    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;
    private Task? _running;

    private HeldTransaction(string adminConnectionString, NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        _adminConnectionString = adminConnectionString;
        _connection = connection;
        _transaction = transaction;
        ProcessId = connection.ProcessID;
    }

    /// <summary>The transaction's backend (as <c>pg_stat_activity.pid</c> and <c>pg_blocking_pids</c> show it).</summary>
    public int ProcessId { get; }

    public static async Task<HeldTransaction> BeginAsync(string adminConnectionString, CancellationToken ct)
    {
        var bound = ((long)ServerBound.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(adminConnectionString)
        {
            Pooling = false,
            Options = $"-c lock_timeout={bound} -c idle_in_transaction_session_timeout={bound}",
        }.ConnectionString);
        try
        {
            await connection.OpenAsync(ct);
            return new HeldTransaction(adminConnectionString, connection, await connection.BeginTransactionAsync(ct));
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs <paramref name="sql"/> in the transaction; the rows it changed. One statement at a time.</summary>
    public Task<int> ExecuteAsync(string sql, CancellationToken ct, params object[] values)
    {
        if (_running is { IsCompleted: false })
        {
            throw new InvalidOperationException("A statement of this transaction is still running.");
        }

        var command = new NpgsqlCommand(sql, _connection, _transaction);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        var running = RunAsync(command, ct);
        _running = running;
        return running;
    }

    public async Task RollbackAsync(CancellationToken ct) => await _transaction.RollbackAsync(ct);

    public async ValueTask DisposeAsync()
    {
        var ended = false;
        if (_running is null or { IsCompleted: true } && _connection.State == System.Data.ConnectionState.Open)
        {
            try
            {
                using var bound = new CancellationTokenSource(CleanupBound);
                await _transaction.RollbackAsync(bound.Token);
                ended = true;
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or OperationCanceledException)
            {
                // Already rolled back, or the connection broke: the backend is ended below.
            }
        }

        if (!ended)
        {
            // A statement still waits (or the rollback failed): end the backend, which ends the statement with it.
            await TerminateIfStillThereAsync();
        }

        if (_running is not null)
        {
            try
            {
                await _running.WaitAsync(CleanupBound);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or OperationCanceledException or InvalidOperationException)
            {
                // The statement's own failure was the test's to see; here it only has to be over.
            }
        }

        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
        await TerminateIfStillThereAsync();
    }

    private static async Task<int> RunAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using (command)
        {
            return await command.ExecuteNonQueryAsync(ct);
        }
    }

    /// <summary>Ends this transaction's backend, from a connection of its own, if the server still has it (waits until it is gone).</summary>
    private async Task TerminateIfStillThereAsync()
    {
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_adminConnectionString) { Pooling = false }.ConnectionString);
        using var bound = new CancellationTokenSource(CleanupBound * 2);
        await admin.OpenAsync(bound.Token);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using var command = new NpgsqlCommand(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid = $1", admin);
            command.Parameters.Add(new NpgsqlParameter { Value = ProcessId });
            if (Convert.ToInt64(await command.ExecuteScalarAsync(bound.Token), System.Globalization.CultureInfo.InvariantCulture) == 0)
            {
                return;
            }

            if (clock.Elapsed > CleanupBound)
            {
                throw new TimeoutException($"The test's backend {ProcessId} was still there {CleanupBound.TotalSeconds} s after pg_terminate_backend.");
            }

            await Task.Delay(50, bound.Token);
        }
    }
}
