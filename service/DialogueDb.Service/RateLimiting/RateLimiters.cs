using DialogueDb.Service.Redis;
using StackExchange.Redis;

namespace DialogueDb.Service.RateLimiting;

/// <summary>The outcome of one check: whether the request may proceed and what the headers say.</summary>
internal readonly record struct RateDecision(bool Allowed, long Limit, long Remaining, long ResetAtUnixSeconds, int RetryAfterSeconds);

/// <summary>A per-project requests-per-second limiter. <c>cost</c> 0 only reports (for answers that consume nothing).</summary>
internal interface IRateLimiter
{
    ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct);
}

/// <summary>
/// GCRA (the generic cell rate algorithm): one number per key, the theoretical arrival time (TAT) of the next request.
/// Equivalent to a token bucket of <c>rate</c> tokens refilled at <c>rate</c>/s (one second of burst), exact under
/// concurrency when evaluated atomically, and needs no background refill.
/// </summary>
internal static class Gcra
{
    /// <summary>Evaluates a request at <paramref name="nowMs"/>; returns the new TAT to store (unchanged when denied or cost 0).</summary>
    public static (RateDecision Decision, double NewTat) Evaluate(double storedTat, double nowMs, long rate, int cost)
    {
        var interval = 1000.0 / rate;
        var burst = rate;
        var tat = Math.Max(storedTat, nowMs);
        var newTat = tat + interval * cost;
        var allowAt = newTat - interval * burst;
        if (nowMs < allowAt)
        {
            return (Decision(false, rate, 0, nowMs, tat, allowAt - nowMs), storedTat);
        }

        var remaining = (long)Math.Floor((nowMs - allowAt) / interval);
        return (Decision(true, rate, remaining, nowMs, newTat, 0), newTat);
    }

    public static RateDecision Decision(bool allowed, long rate, long remaining, double nowMs, double tat, double retryAfterMs) => new(
        allowed,
        rate,
        Math.Max(0, remaining),
        (long)Math.Ceiling(Math.Max(tat, nowMs) / 1000.0),
        allowed ? 0 : Math.Max(1, (int)Math.Ceiling(retryAfterMs / 1000.0)));
}

/// <summary>GCRA in this process (embedded mode, and the fallback while Redis is unreachable).</summary>
internal sealed class InProcessRateLimiter(TimeProvider time) : IRateLimiter
{
    private readonly Dictionary<string, double> _tats = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_lock)
        {
            var stored = _tats.GetValueOrDefault(key, now);
            var (decision, tat) = Gcra.Evaluate(stored, now, ratePerSecond, cost);
            _tats[key] = tat;
            return ValueTask.FromResult(decision);
        }
    }
}

/// <summary>
/// GCRA in one atomic Lua script on Redis: one round trip, shared by every replica, timed by Redis's own clock (TIME)
/// so the pods' clocks do not matter. The key carries the project's hash tag, so it works on Redis Cluster and under a
/// per-project ACL limited to the project's prefix.
/// </summary>
internal sealed class RedisRateLimiter(RedisConnection redis) : IRateLimiter
{
    private static readonly LuaScript Script = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local interval = 1000 / tonumber(@rate)
        local burst = tonumber(@rate)
        local cost = tonumber(@cost)
        local tat = tonumber(redis.call('GET', @key) or now)
        if tat < now then tat = now end
        local new_tat = tat + interval * cost
        local allow_at = new_tat - interval * burst
        if now < allow_at then
            return {0, 0, tostring(tat), tostring(allow_at - now), now}
        end
        if cost > 0 then
            redis.call('SET', @key, tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
        end
        return {1, math.floor((now - allow_at) / interval), tostring(new_tat), '0', now}
        """);

    public async ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct)
    {
        var db = await redis.DatabaseAsync();
        var result = (RedisResult[])(await db.ScriptEvaluateAsync(Script, new { key = (RedisKey)key, rate = ratePerSecond, cost }))!;
        var allowed = (long)result[0] == 1;
        var remaining = (long)result[1];
        var tat = double.Parse((string)result[2]!, System.Globalization.CultureInfo.InvariantCulture);
        var retryAfter = double.Parse((string)result[3]!, System.Globalization.CultureInfo.InvariantCulture);
        var now = (long)result[4];
        return Gcra.Decision(allowed, ratePerSecond, remaining, now, tat, retryAfter);
    }
}
