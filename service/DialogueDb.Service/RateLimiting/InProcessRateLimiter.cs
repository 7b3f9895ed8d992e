namespace DialogueDb.Service.RateLimiting;

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
