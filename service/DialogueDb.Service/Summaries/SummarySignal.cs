using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Summaries;

/// <summary>Wakes the local summary worker after a request queued a job.</summary>
internal sealed class SummarySignal : WakeSignal;
