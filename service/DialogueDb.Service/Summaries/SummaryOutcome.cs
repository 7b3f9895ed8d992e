namespace DialogueDb.Service.Summaries;

/// <summary>A finished summary: its text (null when the range had no text to summarise) and what it covered.</summary>
internal sealed record SummaryOutcome(string? Content, string? Model, long? FromCreated, long? ToCreated, int MessageCount,
    int SummarizedCount);
