namespace DialogueDb.Service.Audit;

/// <summary>One audit event, sealed for the outbox (its payload encrypted under the event's own row identity).</summary>
internal readonly record struct SealedEvent(string EventId, byte[] Payload, long Occurred);
