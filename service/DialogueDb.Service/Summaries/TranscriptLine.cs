namespace DialogueDb.Service.Summaries;

/// <summary>One message of the range, as text (image parts and block plumbing left out).</summary>
internal sealed record TranscriptLine(string Role, string? Name, string Text);
