using DialogueDb.Service.Security;

namespace DialogueDb.Service.Summaries;

/// <summary>
/// Works off the summary queue with at most <see cref="SummaryWorkerSettings.Concurrency"/> jobs at once. Each job ends
/// completed or failed with an error code: a transient failure (timeout, provider 5xx or 429, the lease running out)
/// is retried with exponential backoff until <see cref="SummaryWorkerSettings.MaxAttempts"/> claims; a worker that dies
/// leaves its job leased, and any worker claims it again once the lease has run out (a claim counts as an attempt, so
/// a job that kills its worker every time still ends, as failed). A job never runs longer than its lease: it is
/// cancelled at the lease's end, so no two workers run one job at the same time unless one stalled outside the code.
/// </summary>
internal sealed partial class SummaryWorker(
    SummaryJobs jobs,
    SummaryRunner runner,
    SummarySignal signal,
    SummaryWorkerSettings settings,
    TimeProvider time,
    ILogger<SummaryWorker> logger) : BackgroundService
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(5);

    private readonly SemaphoreSlim _slots = new(settings.Concurrency, settings.Concurrency);
    private readonly string _worker = Guid.NewGuid().ToString("N");
    private int _running;
    private int _mostRunning;

    /// <summary>Jobs running now.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>The most jobs this worker ran at the same time (the bound is <see cref="SummaryWorkerSettings.Concurrency"/>).</summary>
    public int MostRunning => Volatile.Read(ref _mostRunning);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _slots.WaitAsync(stoppingToken);
                var free = 1;
                while (free < settings.Concurrency && _slots.Wait(0, CancellationToken.None))
                {
                    free++;
                }

                List<ClaimedJob> claimed;
                try
                {
                    claimed = await jobs.ClaimAsync(_worker, free, settings.Lease, stoppingToken);
                }
                catch
                {
                    _slots.Release(free);
                    throw;
                }

                if (free > claimed.Count)
                {
                    _slots.Release(free - claimed.Count);
                }

                foreach (var job in claimed)
                {
                    _ = RunAsync(job, stoppingToken);
                }

                if (claimed.Count == 0)
                {
                    await signal.WaitAsync(Poll, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (IsStorageFailure(ex))
            {
                // Jobs stay queued; a claimed one is claimed again after its lease.
                LogClaimFailed(logger, ex.GetType().Name);
                await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
            }
        }
    }

    private async Task RunAsync(ClaimedJob job, CancellationToken stoppingToken)
    {
        var running = Interlocked.Increment(ref _running);
        InterlockedMax(ref _mostRunning, running);
        try
        {
            await RunJobAsync(job, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: the job is claimed again after its lease.
        }
        catch (Exception ex) when (IsStorageFailure(ex))
        {
            LogJobStorageFailed(logger, job.SummaryId, ex.GetType().Name);
        }
        finally
        {
            Interlocked.Decrement(ref _running);
            _slots.Release();
            signal.Nudge();
        }
    }

    private async Task RunJobAsync(ClaimedJob job, CancellationToken stoppingToken)
    {
        if (job.Attempts > settings.MaxAttempts)
        {
            await FailAsync(job, SummaryFailure.AttemptsExhausted,
                $"The summary was attempted {settings.MaxAttempts} times without finishing", stoppingToken);
            return;
        }

        // The job may run until shortly before its lease ends; then it is cancelled and retried.
        var remaining = DateTimeOffset.FromUnixTimeMilliseconds(job.LeaseUntil) - time.GetUtcNow() - settings.LeaseMargin;
        using var leaseEnd = new CancellationTokenSource(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, leaseEnd.Token);
        SummaryOutcome? outcome;
        try
        {
            outcome = await runner.RunAsync(job, linked.Token);
        }
        catch (OperationCanceledException) when (leaseEnd.IsCancellationRequested && !stoppingToken.IsCancellationRequested)
        {
            await RetryOrFailAsync(job, new SummaryFailure(SummaryFailure.Timeout, "The summary did not finish within the job's lease",
                transient: true), stoppingToken);
            return;
        }
        catch (SummaryFailure failure)
        {
            await RetryOrFailAsync(job, failure, stoppingToken);
            return;
        }
        catch (UnknownDataKeyException)
        {
            // A replica whose key ring lags behind another's: another attempt (maybe elsewhere) can read it.
            await RetryOrFailAsync(job, new SummaryFailure(SummaryFailure.ContentUnreadable, "A data key is not in this replica's key ring",
                transient: true), stoppingToken);
            return;
        }

        if (outcome is null)
        {
            // The summary (or its dialogue) was deleted meanwhile: the job ends without an event.
            await jobs.FailAsync(job, _worker, "DELETED", "The summary was deleted", stoppingToken);
            return;
        }

        if (await jobs.CompleteAsync(job, _worker, outcome, stoppingToken))
        {
            LogCompleted(logger, job.SummaryId, job.Attempts);
        }
        else
        {
            LogLeaseLost(logger, job.SummaryId);
        }
    }

    private async Task RetryOrFailAsync(ClaimedJob job, SummaryFailure failure, CancellationToken ct)
    {
        if (failure.Transient && job.Attempts < settings.MaxAttempts)
        {
            var backoff = Backoff(job.Attempts, failure.RetryAfter);
            LogRetrying(logger, job.SummaryId, failure.Code, job.Attempts, backoff.TotalSeconds);
            if (!await jobs.RetryLaterAsync(job, _worker, backoff, ct))
            {
                LogLeaseLost(logger, job.SummaryId);
            }

            return;
        }

        await FailAsync(job, failure.Code, failure.Message, ct);
    }

    private async Task FailAsync(ClaimedJob job, string code, string message, CancellationToken ct)
    {
        LogFailed(logger, job.SummaryId, code, job.Attempts);
        if (!await jobs.FailAsync(job, _worker, code, message, ct))
        {
            LogLeaseLost(logger, job.SummaryId);
        }
    }

    /// <summary>Exponential backoff with jitter from <see cref="SummaryWorkerSettings.FirstBackoff"/>, or the provider's Retry-After.</summary>
    private TimeSpan Backoff(int attempts, TimeSpan? retryAfter)
    {
        var exponential = settings.FirstBackoff * Math.Pow(2, Math.Min(attempts - 1, 16));
        var jittered = exponential * (0.75 + Random.Shared.NextDouble() * 0.5);
        var wait = jittered < MaxBackoff ? jittered : MaxBackoff;
        return retryAfter is { } after && after > wait ? after : wait;
    }

    private static bool IsStorageFailure(Exception ex) =>
        ex is Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or Microsoft.EntityFrameworkCore.DbUpdateException
            or InvalidOperationException or TimeoutException;

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    public override void Dispose()
    {
        _slots.Dispose();
        base.Dispose();
    }
}
