namespace DialogueDb.Service.Summaries;

/// <summary>A summary job this worker holds until <see cref="LeaseUntil"/> (Unix ms); <see cref="Attempts"/> counts this claim.</summary>
internal sealed record ClaimedJob(long Id, string Namespace, string SummaryId, string DialogueId, int Attempts, long LeaseUntil);
