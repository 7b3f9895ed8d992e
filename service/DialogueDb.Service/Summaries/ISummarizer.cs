using DialogueDb.Service.Policy;

namespace DialogueDb.Service.Summaries;

/// <summary>Writes the text of one summary; a provider (extractive, an LLM endpoint) behind one seam.</summary>
internal interface ISummarizer
{
    /// <summary>The summary of <paramref name="input"/>'s messages (callers never pass an empty range).</summary>
    /// <exception cref="SummaryFailure">The provider cannot write it now (transient) or at all.</exception>
    Task<SummaryText> SummarizeAsync(SummaryInput input, CancellationToken ct);
}

/// <summary>A provider's summary and the model that wrote it.</summary>
internal sealed record SummaryText(string Content, string Model);

/// <summary>One message of the range, as text (image parts and block plumbing left out).</summary>
internal sealed record TranscriptLine(string Role, string? Name, string Text);

/// <summary>What a provider summarises: the range's text messages in order, the template's prompt and the settings.</summary>
internal sealed record SummaryInput(IReadOnlyList<TranscriptLine> Lines, string Prompt, SummarySettings Settings);
