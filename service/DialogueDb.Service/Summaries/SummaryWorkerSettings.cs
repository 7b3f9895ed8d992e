using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Summaries;

/// <summary>How a summary worker runs jobs (from <see cref="ServiceOptions"/>; tests set their own).</summary>
internal sealed record SummaryWorkerSettings(int Concurrency, TimeSpan Lease, int MaxAttempts)
{
    /// <summary>Backoff after the first transient failure; it doubles with every attempt (at most 5 minutes).</summary>
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A job is cancelled this long before its lease ends, so its retry is written while it still holds it.</summary>
    public TimeSpan LeaseMargin => Lease / 10;

    public static SummaryWorkerSettings From(ServiceOptions options) =>
        new(options.SummaryConcurrency, TimeSpan.FromSeconds(options.SummaryLeaseSeconds), options.SummaryMaxAttempts);
}
