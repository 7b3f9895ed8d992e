using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Audit;

/// <summary>Writers in this process nudge the relay after writing events, so it wakes at once instead of at its next poll.</summary>
internal sealed class OutboxSignal : WakeSignal;
