using DialogueDb.Service.Redis;

namespace DialogueDb.Service.RateLimiting;

/// <summary>
/// While the limiter is degraded, pings Redis every couple of seconds and ends the degradation when it answers, so
/// readiness recovers on its own: otherwise only a rate-limited request would find out (never, on an unlimited plan).
/// </summary>
internal sealed class RedisRecoveryProbe(ResilientRateLimiter limiter, RedisConnection redis, TimeProvider time) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Interval, time, stoppingToken);
                if (limiter.Degraded)
                {
                    var db = await redis.DatabaseAsync();
                    await db.PingAsync().WaitAsync(Interval, time, stoppingToken);
                    limiter.MarkRecovered();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
            {
                // Still down: the limiter stays degraded; the next probe tries again.
            }
        }
    }
}
