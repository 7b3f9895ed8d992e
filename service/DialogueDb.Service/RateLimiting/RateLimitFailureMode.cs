namespace DialogueDb.Service.RateLimiting;

/// <summary>What the API does while Redis is unreachable (DIALOGUEDB_RATE_LIMIT_FAILURE_MODE).</summary>
internal enum RateLimitFailureMode
{
    /// <summary>Keep serving; each instance enforces the plan rate in-process until Redis is back (default).</summary>
    Open,

    /// <summary>Answer 503 SERVICE_UNAVAILABLE until Redis is back.</summary>
    Closed,
}
