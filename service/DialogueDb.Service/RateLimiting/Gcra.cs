namespace DialogueDb.Service.RateLimiting;

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
