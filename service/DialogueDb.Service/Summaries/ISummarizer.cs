namespace DialogueDb.Service.Summaries;

/// <summary>Writes the text of one summary; a provider (extractive, an LLM endpoint) behind one seam.</summary>
internal interface ISummarizer
{
    /// <summary>The summary of <paramref name="input"/>'s messages (callers never pass an empty range).</summary>
    /// <exception cref="SummaryFailure">The provider cannot write it now (transient) or at all.</exception>
    Task<SummaryText> SummarizeAsync(SummaryInput input, CancellationToken ct);
}
