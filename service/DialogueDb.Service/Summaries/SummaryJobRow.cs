namespace DialogueDb.Service.Summaries;

/// <summary>
/// The durable job of a summary in processing, written in the request's transaction and deleted in the transaction
/// that completes or fails the summary. A worker claims it by setting a lease (<see cref="LeaseUntil"/>,
/// <see cref="ClaimedBy"/>); a job whose worker died is claimed again once the lease has run out.
/// </summary>
internal sealed class SummaryJobRow
{
    public long Id { get; set; }
    public required string Namespace { get; set; }
    public required string SummaryId { get; set; }
    public required string DialogueId { get; set; }

    /// <summary>Claims so far (a claim counts as an attempt, so a job that keeps killing its worker still ends).</summary>
    public int Attempts { get; set; }

    /// <summary>Not claimed before this time (Unix ms): the backoff after a transient failure.</summary>
    public long NotBefore { get; set; }
    public long? LeaseUntil { get; set; }
    public string? ClaimedBy { get; set; }
    public long Enqueued { get; set; }
}
