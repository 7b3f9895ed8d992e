namespace DialogueDb.Service.Summaries;

/// <summary>
/// Why a summary could not be written: an error code for the summary's <c>error</c> and whether trying again later may
/// succeed (a timeout, a 5xx, a 429). The message names the problem, never a key or content.
/// </summary>
internal sealed class SummaryFailure : Exception
{
    public const string ProviderUnavailable = "PROVIDER_UNAVAILABLE";
    public const string ProviderRateLimited = "PROVIDER_RATE_LIMITED";
    public const string ProviderRejected = "PROVIDER_REJECTED";
    public const string ProviderBadResponse = "PROVIDER_BAD_RESPONSE";
    public const string ProviderKeyMissing = "PROVIDER_KEY_MISSING";
    public const string Timeout = "TIMEOUT";
    public const string AttemptsExhausted = "ATTEMPTS_EXHAUSTED";
    public const string ContentUnreadable = "CONTENT_UNREADABLE";

    public SummaryFailure(string code, string message, bool transient, TimeSpan? retryAfter = null)
        : base(message)
    {
        Code = code;
        Transient = transient;
        RetryAfter = retryAfter;
    }

    public SummaryFailure()
        : this(ProviderUnavailable, "The summary provider failed", transient: true)
    {
    }

    public SummaryFailure(string message)
        : this(ProviderUnavailable, message, transient: true)
    {
    }

    public SummaryFailure(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = ProviderUnavailable;
        Transient = true;
    }

    public string Code { get; }

    public bool Transient { get; }

    /// <summary>When the provider said to come back (429 Retry-After), if later than the job's own backoff.</summary>
    public TimeSpan? RetryAfter { get; }
}
