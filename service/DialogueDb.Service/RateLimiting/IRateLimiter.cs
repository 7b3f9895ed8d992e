namespace DialogueDb.Service.RateLimiting;

/// <summary>A per-project requests-per-second limiter. <c>cost</c> 0 only reports (for answers that consume nothing).</summary>
internal interface IRateLimiter
{
    ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct);
}
