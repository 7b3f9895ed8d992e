using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace DialogueDb.Service.RateLimiting;

/// <summary>
/// The shared Redis limiter behind a circuit breaker. A Redis failure (connection lost, or no answer within the short
/// command timeout) opens the breaker for a few seconds: requests neither block nor hang, the in-process limiter
/// enforces the plan rate per instance (or, fail-closed, the API answers 503), the degradation is logged, counted and
/// shown in readiness, and the next try after the pause returns to Redis when it answers again.
/// </summary>
internal sealed partial class ResilientRateLimiter(
    IRateLimiter shared,
    InProcessRateLimiter local,
    RateLimitFailureMode failureMode,
    TimeProvider time,
    ILogger<ResilientRateLimiter> logger) : IRateLimiter, IHealthCheck, IDisposable
{
    private static readonly TimeSpan BreakFor = TimeSpan.FromSeconds(2);

    private readonly Meter _meter = new("DialogueDb.RateLimiting");
    private long _openUntilTicks;
    private int _degraded;

    public bool Degraded => Volatile.Read(ref _degraded) == 1;

    public async ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcTicks;
        if (now >= Interlocked.Read(ref _openUntilTicks))
        {
            try
            {
                var decision = await shared.AcquireAsync(key, ratePerSecond, cost, ct);
                // Read first: an exchange on every request would write the shared flag from every core.
                if (Volatile.Read(ref _degraded) == 1 && Interlocked.Exchange(ref _degraded, 0) == 1)
                {
                    LogRecovered(logger);
                }

                return decision;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                Interlocked.Exchange(ref _openUntilTicks, now + BreakFor.Ticks);
                Failures.Add(1);
                if (Interlocked.Exchange(ref _degraded, 1) == 0)
                {
                    LogDegraded(logger, ex.GetType().Name, failureMode.ToString().ToLowerInvariant());
                }
            }
        }

        return failureMode == RateLimitFailureMode.Closed
            ? throw new RateLimiterUnavailableException()
            : await local.AcquireAsync(key, ratePerSecond, cost, ct);
    }

    /// <summary>
    /// The shared limiter's immediate answer (a leased slice) while the breaker is closed and nothing is degraded; otherwise
    /// false, and <see cref="AcquireAsync"/> decides (and logs a recovery or a failure) as before.
    /// </summary>
    public bool TryAcquireNow(string key, long ratePerSecond, int cost, out RateDecision decision)
    {
        decision = default;
        return Volatile.Read(ref _degraded) == 0 && time.GetUtcNow().UtcTicks >= Interlocked.Read(ref _openUntilTicks)
            && shared.TryAcquireNow(key, ratePerSecond, cost, out decision);
    }

    /// <summary>Redis answered a probe (<see cref="RedisRecoveryProbe"/>): back to the shared limiter without waiting for a request.</summary>
    public void MarkRecovered()
    {
        Interlocked.Exchange(ref _openUntilTicks, 0);
        if (Interlocked.Exchange(ref _degraded, 0) == 1)
        {
            LogRecovered(logger);
        }
    }

    private Counter<long> Failures => field ??= _meter.CreateCounter<long>("dialoguedb.ratelimit.redis_failures",
        description: "Rate-limit checks that could not reach Redis and fell back to the in-process limiter (or 503)");

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Degraded
            ? HealthCheckResult.Degraded($"Redis unreachable: rate limits enforced per instance (failure mode {failureMode.ToString().ToLowerInvariant()})")
            : HealthCheckResult.Healthy());

    public void Dispose() => _meter.Dispose();

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Rate limiting degraded: Redis is unreachable ({Error}); failure mode {Mode}: enforcing the plan rate in this instance")]
    private static partial void LogDegraded(ILogger logger, string error, string mode);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rate limiting recovered: Redis answers again")]
    private static partial void LogRecovered(ILogger logger);
}
