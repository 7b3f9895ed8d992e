using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Summaries;

/// <summary>
/// One summary of a dialogue's message range. Additive: it never changes a message. The range is fixed by sequence
/// numbers when the summary is accepted, so messages appended later are not part of it. The content is encrypted like
/// message content (see <see cref="Security.RowIdentity.SummaryContent"/>).
/// </summary>
internal sealed class SummaryRow : ICreatedRow
{
    public required string Namespace { get; set; }
    public required string Id { get; set; }
    public required string DialogueId { get; set; }

    /// <summary><see cref="SummaryStatus"/>: processing, completed or failed.</summary>
    public required string Status { get; set; }
    public required string Provider { get; set; }
    public string? Model { get; set; }
    public required string Template { get; set; }

    /// <summary>First and last sequence number of the range (inclusive); FromSeq &gt; ToSeq is an empty range.</summary>
    public long FromSeq { get; set; }
    public long ToSeq { get; set; }

    /// <summary>The summary text, encrypted; null until completed, or when there was nothing to summarise.</summary>
    public byte[]? Content { get; set; }
    public int? ContentTokenCount { get; set; }
    public long? FromCreated { get; set; }
    public long? ToCreated { get; set; }
    public int? MessageCount { get; set; }
    public int? SummarizedCount { get; set; }
    public int? SkippedCount { get; set; }
    public string? ErrorCode { get; set; }
    public string? ErrorMessage { get; set; }
    public long Created { get; set; }
    public long Modified { get; set; }
}
