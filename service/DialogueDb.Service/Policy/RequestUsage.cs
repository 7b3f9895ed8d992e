using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Policy;

/// <summary>
/// The monthly API-requests count. Counting every request in the database would put a write on every read, so each
/// instance counts in memory and adds its delta to the project's usage row every <see cref="FlushInterval"/>: the total
/// is exact and durable (instances add, never overwrite), and the check that blocks writes lags the other instances by
/// at most one interval.
/// </summary>
internal sealed partial class RequestUsage(IServiceScopeFactory scopes, TimeProvider time, ILogger<RequestUsage> logger) : BackgroundService
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(2);

    private long _pending;
    private long _stored;
    private string _period = PlanQuotas.MonthOf(time);

    /// <summary>Requests this month: the stored total (all instances, as of the last flush) plus this instance's unflushed ones.</summary>
    public long Used => Volatile.Read(ref _stored) + Interlocked.Read(ref _pending);

    public void Count() => Interlocked.Increment(ref _pending);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushInterval, time);
        do
        {
            try
            {
                await FlushAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is DbUpdateException or InvalidOperationException or System.Data.Common.DbException)
            {
                LogFlushFailed(logger, ex.GetType().Name);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is DbUpdateException or InvalidOperationException or System.Data.Common.DbException)
        {
            LogFlushFailed(logger, ex.GetType().Name);
        }
    }

    /// <summary>Adds this instance's count to the database and reads back the total of all instances.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        var period = PlanQuotas.MonthOf(time);
        if (period != _period)
        {
            // A new month: what was counted before it belongs to the old one, which no longer limits anything.
            _period = period;
            Interlocked.Exchange(ref _pending, 0);
            Volatile.Write(ref _stored, 0);
        }

        var delta = Interlocked.Exchange(ref _pending, 0);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
            const string kind = "requests";
            if (delta > 0)
            {
                if (await db.PlanUsage.Where(u => u.Period == period && u.Kind == kind)
                        .ExecuteUpdateAsync(s => s.SetProperty(u => u.Used, u => u.Used + delta), ct) == 0)
                {
                    await db.Database.ExecuteSqlAsync(
                        $"INSERT INTO plan_usage (period, kind, used) VALUES ({period}, {kind}, 0) ON CONFLICT DO NOTHING", ct);
                    await db.PlanUsage.Where(u => u.Period == period && u.Kind == kind)
                        .ExecuteUpdateAsync(s => s.SetProperty(u => u.Used, u => u.Used + delta), ct);
                }

                delta = 0;
            }

            var stored = await db.PlanUsage.Where(u => u.Period == period && u.Kind == kind).Select(u => (long?)u.Used).FirstOrDefaultAsync(ct);
            Volatile.Write(ref _stored, stored ?? 0);
        }
        finally
        {
            // Not written: count it again next time rather than lose it.
            Interlocked.Add(ref _pending, delta);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not store the API request count ({Error}); it is kept and retried")]
    private static partial void LogFlushFailed(ILogger logger, string error);
}
