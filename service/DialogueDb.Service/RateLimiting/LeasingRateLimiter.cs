namespace DialogueDb.Service.RateLimiting;

/// <summary>
/// Takes a slice of the per-second allowance from the shared (Redis) limiter in one round trip and hands it out in this
/// process, so a busy replica asks Redis once per slice instead of once per request. Exact in total: a slice is counted
/// in Redis before any of it is used, so all replicas together never admit more than the limit; a slice not used within
/// <see cref="SliceLifetime"/> is dropped (a replica can at most refuse slightly early, never admit late). At low rates
/// the slice is one request, which is the exact per-request check; at the boundary (a slice refused) it falls back to it,
/// and a refused request is answered locally until a slice could have refilled.
/// </summary>
internal sealed class LeasingRateLimiter(IRateLimiter shared, TimeProvider time) : IRateLimiter
{
    /// <summary>How long a leased slice may be used: well inside the one-second window the limit is defined over.</summary>
    public static readonly TimeSpan SliceLifetime = TimeSpan.FromMilliseconds(100);

    /// <summary>A slice is a hundredth of the per-second rate, at most this many requests.</summary>
    public const int MaxSlice = 100;

    private readonly Dictionary<string, Slice> _slices = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public static int SliceOf(long ratePerSecond) => (int)Math.Clamp(ratePerSecond / 100, 1, MaxSlice);

    public async ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct)
    {
        var size = SliceOf(ratePerSecond);
        if (cost == 0 || size <= cost)
        {
            return await shared.AcquireAsync(key, ratePerSecond, cost, ct);
        }

        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (_slices.TryGetValue(key, out var slice) && slice.Rate == ratePerSecond && slice.ExpiresAt > now)
            {
                if (!slice.Decision.Allowed)
                {
                    return slice.Decision;
                }

                if (slice.Left >= cost)
                {
                    slice.Left -= cost;
                    return slice.Decision with { Remaining = Math.Max(0, slice.Decision.Remaining + slice.Left) };
                }
            }
        }

        var leased = await shared.AcquireAsync(key, ratePerSecond, size, ct);
        if (!leased.Allowed)
        {
            // Less than a slice left in this window: one request at a time, exactly as without slices. A refusal is kept
            // for the time one slice takes to refill, so an overloaded replica does not ask twice per refused request.
            var single = await shared.AcquireAsync(key, ratePerSecond, cost, ct);
            if (!single.Allowed)
            {
                lock (_lock)
                {
                    _slices[key] = new Slice(ratePerSecond, now + TimeSpan.FromSeconds((double)size / ratePerSecond), single);
                }
            }

            return single;
        }

        lock (_lock)
        {
            _slices[key] = new Slice(ratePerSecond, now + SliceLifetime, leased) { Left = size - cost };
        }

        return leased with { Remaining = leased.Remaining + size - cost };
    }

    private sealed class Slice(long rate, DateTimeOffset expiresAt, RateDecision decision)
    {
        public long Rate { get; } = rate;

        public DateTimeOffset ExpiresAt { get; } = expiresAt;

        public RateDecision Decision { get; } = decision;

        public int Left { get; set; }
    }
}
