namespace DialogueDb.Service.RateLimiting;

/// <summary>GCRA in this process (embedded mode, and the fallback while Redis is unreachable).</summary>
internal sealed class InProcessRateLimiter(TimeProvider time) : IRateLimiter
{
    private readonly Dictionary<string, double> _tats = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct)
    {
        TryAcquireNow(key, ratePerSecond, cost, out var decision);
        return ValueTask.FromResult(decision);
    }

    public bool TryAcquireNow(string key, long ratePerSecond, int cost, out RateDecision decision)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_lock)
        {
            var stored = _tats.GetValueOrDefault(key, now);
            (decision, var tat) = Gcra.Evaluate(stored, now, ratePerSecond, cost);
            _tats[key] = tat;
            return true;
        }
    }
}
