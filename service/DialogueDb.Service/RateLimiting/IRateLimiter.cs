namespace DialogueDb.Service.RateLimiting;

/// <summary>A per-project requests-per-second limiter. <c>cost</c> 0 only reports (for answers that consume nothing).</summary>
internal interface IRateLimiter
{
    ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct);

    /// <summary>
    /// Answers at once when this process already holds the answer (the in-process limiter always; the leasing limiter from
    /// a leased slice), so the common request spends no asynchronous machinery on its check. False: nothing was taken and
    /// only <see cref="AcquireAsync"/> can answer.
    /// </summary>
    bool TryAcquireNow(string key, long ratePerSecond, int cost, out RateDecision decision)
    {
        decision = default;
        return false;
    }
}
