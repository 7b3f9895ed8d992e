using Npgsql;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// The outer loop of a background worker that one replica runs at a time. On PostgreSQL the worker runs while this
/// process holds the worker's session advisory lock on a dedicated connection (the others stand by and try again every
/// <see cref="StandbyRetry"/>; a lost connection ends the turn and releases the lock). Without a leader source (the
/// embedded database, one process) the worker simply runs. A failure the worker names as a database failure is reported
/// and retried after <see cref="FailureRetry"/>; the work it was doing stays where it was.
/// </summary>
internal sealed class LeaderLoop(NpgsqlDataSource? leaderSource, long lockKey, TimeProvider time)
{
    /// <summary>A standby replica tries to take the lead this often.</summary>
    public static readonly TimeSpan StandbyRetry = TimeSpan.FromSeconds(2);

    /// <summary>The pause after a database failure (or the loss of the leader connection) before trying again.</summary>
    public static readonly TimeSpan FailureRetry = TimeSpan.FromSeconds(1);

    /// <summary>Runs <paramref name="work"/> whenever this process leads, until <paramref name="stoppingToken"/> is cancelled.</summary>
    public async Task RunAsync(Func<CancellationToken, Task> work, Action onLeading, Func<Exception, bool> isDatabaseFailure,
        Action<Exception> onFailure, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (leaderSource is null)
                {
                    await work(stoppingToken);
                }
                else
                {
                    await using var leader = await leaderSource.OpenConnectionAsync(stoppingToken);
                    if (!await TryLeadAsync(leader, stoppingToken))
                    {
                        await Task.Delay(StandbyRetry, time, stoppingToken);
                        continue;
                    }

                    onLeading();
                    await work(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (isDatabaseFailure(ex))
            {
                onFailure(ex);
                await Task.Delay(FailureRetry, time, stoppingToken);
            }
        }
    }

    private async Task<bool> TryLeadAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT pg_try_advisory_lock({lockKey})", connection);
        return (bool)(await command.ExecuteScalarAsync(ct))!;
    }
}
