using DialogueDb.Service.Policy;

namespace DialogueDb.Service.Summaries;

/// <summary>What a provider summarises: the range's text messages in order, the template's prompt and the settings.</summary>
internal sealed record SummaryInput(IReadOnlyList<TranscriptLine> Lines, string Prompt, SummarySettings Settings);
