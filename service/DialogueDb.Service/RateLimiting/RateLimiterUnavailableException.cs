namespace DialogueDb.Service.RateLimiting;

/// <summary>Thrown in <see cref="RateLimitFailureMode.Closed"/> while the shared limiter is unreachable.</summary>
internal sealed class RateLimiterUnavailableException() : Exception("The shared rate limiter is unavailable.");
