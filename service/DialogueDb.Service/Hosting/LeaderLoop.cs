using Npgsql;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// The outer loop of a background worker that one replica runs at a time. On PostgreSQL the worker runs while this
/// process holds the worker's session advisory lock on a dedicated connection (the others stand by and try again every
/// <see cref="StandbyRetry"/>). The leader checks its connection every <see cref="LeadCheck"/>: a lost connection has
/// released the lock, so the turn's work is cancelled (reported as a <see cref="LeadLostException"/>) and the process
/// stands by again, so two replicas do not work for long side by side. On the embedded database the
/// lock is an exclusively opened lock file when one is named (several processes may open one data folder, e.g.
/// <c>serve</c> and <c>dialoguedb index</c>; the OS releases it when the process ends), else the worker simply runs.
/// A failure the worker names as a database failure is reported and retried after <see cref="FailureRetry"/>; the work
/// it was doing stays where it was.
/// </summary>
internal sealed class LeaderLoop(NpgsqlDataSource? leaderSource, long lockKey, TimeProvider time, string? lockFile = null)
{
    /// <summary>A standby replica tries to take the lead this often.</summary>
    public static readonly TimeSpan StandbyRetry = TimeSpan.FromSeconds(2);

    /// <summary>How often the leader checks its lock's connection while it works (PostgreSQL).</summary>
    public static readonly TimeSpan LeadCheck = TimeSpan.FromSeconds(1);

    /// <summary>The pause after a database failure (or the loss of the leader connection) before trying again.</summary>
    public static readonly TimeSpan FailureRetry = TimeSpan.FromSeconds(1);

    /// <summary>Runs <paramref name="work"/> whenever this process leads, until <paramref name="stoppingToken"/> is cancelled.</summary>
    public async Task RunAsync(Func<CancellationToken, Task> work, Action onLeading, Func<Exception, bool> isDatabaseFailure,
        Action<Exception> onFailure, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var lost = false;
            try
            {
                if (leaderSource is null && lockFile is null)
                {
                    await work(stoppingToken);
                }
                else if (leaderSource is null)
                {
                    await using var held = TryLockFile(lockFile!);
                    if (held is null)
                    {
                        await Task.Delay(StandbyRetry, time, stoppingToken);
                        continue;
                    }

                    onLeading();
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
                    using var turn = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    var watch = WatchLeadAsync(leader, turn);
                    try
                    {
                        await work(turn.Token);
                    }
                    catch (OperationCanceledException) when (turn.IsCancellationRequested && !stoppingToken.IsCancellationRequested)
                    {
                        // The lead was lost: reported below.
                    }
                    finally
                    {
                        await turn.CancelAsync();
                        lost = await watch;
                        // The connection goes back to a pool that may keep it open: release the lock now, not at its reuse.
                        await ReleaseAsync(leader);
                    }

                    if (lost)
                    {
                        throw new LeadLostException();
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (lost || isDatabaseFailure(ex))
            {
                onFailure(ex);
                await Task.Delay(FailureRetry, time, stoppingToken);
            }
        }
    }

    /// <summary>
    /// Checks the leader connection every <see cref="LeadCheck"/> while the work runs; when it breaks, the session and so
    /// the lock are gone (another replica may lead now): cancels the turn and returns true. False when the turn ended
    /// otherwise.
    /// </summary>
    private async Task<bool> WatchLeadAsync(NpgsqlConnection leader, CancellationTokenSource turn)
    {
        try
        {
            while (true)
            {
                await Task.Delay(LeadCheck, time, turn.Token);
                await using var command = new NpgsqlCommand("SELECT 1", leader);
                await command.ExecuteScalarAsync(turn.Token);
            }
        }
        catch (OperationCanceledException) when (turn.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            await turn.CancelAsync();
            return true;
        }
    }

    /// <summary>The lock file opened for this process alone, or null when another process has it open.</summary>
    public static FileStream? TryLockFile(string path)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private async Task ReleaseAsync(NpgsqlConnection connection)
    {
        try
        {
            await using var command = new NpgsqlCommand($"SELECT pg_advisory_unlock({lockKey})", connection);
            await command.ExecuteScalarAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            // A broken connection: its session, and so the lock, ends with it.
        }
    }

    private async Task<bool> TryLeadAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT pg_try_advisory_lock({lockKey})", connection);
        return (bool)(await command.ExecuteScalarAsync(ct))!;
    }
}
