namespace DialogueDb.Service.RateLimiting;

/// <summary>The outcome of one check: whether the request may proceed and what the headers say.</summary>
internal readonly record struct RateDecision(bool Allowed, long Limit, long Remaining, long ResetAtUnixSeconds, int RetryAfterSeconds);
