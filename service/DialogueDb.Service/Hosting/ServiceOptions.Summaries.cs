using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace DialogueDb.Service.Hosting;

/// <summary>The settings of the summary worker and its LLM provider.</summary>
internal sealed partial class ServiceOptions
{
    /// <summary>Summary jobs one process runs at once (0: this process runs no summary worker).</summary>
    [ConfigurationKeyName("SUMMARY_CONCURRENCY")]
    [Range(0, 256)]
    public int SummaryConcurrency { get; set; } = 2;

    /// <summary>How long a claimed summary job is a worker's; a job still running then is cancelled and retried, and
    /// one whose worker died is claimed again.</summary>
    [ConfigurationKeyName("SUMMARY_LEASE_SECONDS")]
    [Range(5, 86_400)]
    public int SummaryLeaseSeconds { get; set; } = 300;

    /// <summary>Attempts (claims) of a summary job before it fails for good.</summary>
    [ConfigurationKeyName("SUMMARY_MAX_ATTEMPTS")]
    [Range(1, 100)]
    public int SummaryMaxAttempts { get; set; } = 5;

    /// <summary>The LLM provider's API key (a mounted Secret); read at each job, so a rotated key applies at once.</summary>
    [ConfigurationKeyName("SUMMARY_API_KEY_FILE")]
    public string? SummaryApiKeyFile { get; set; }
}
