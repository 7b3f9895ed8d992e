using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Search;

/// <summary>Wakes the local indexer after a write queued work.</summary>
internal sealed class SearchSignal : WakeSignal;
