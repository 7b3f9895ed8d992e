namespace DialogueDb.Service.Summaries;

/// <summary>A provider's summary and the model that wrote it.</summary>
internal sealed record SummaryText(string Content, string Model);
