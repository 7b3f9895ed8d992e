using DialogueDb.Service.Redis;
using StackExchange.Redis;

namespace DialogueDb.Service.RateLimiting;

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
