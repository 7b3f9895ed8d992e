namespace DialogueDb.Service.Storage;

// Entities are storage rows only; they never go over the wire (each API folder writes its own JSON).
// Times are Unix milliseconds (the wire precision), which orders and compares the same on SQLite and PostgreSQL.
// The default namespace is stored as "" so it is part of every key like any other namespace.

/// <summary>Rows listed newest or oldest first: keyset pages over (created, id) within a namespace.</summary>
internal interface ICreatedRow
{
    string Id { get; }

    long Created { get; }
}

internal sealed class DialogueRow : ICreatedRow
{
    public required string Namespace { get; set; }
    public required string Id { get; set; }
    public required string Status { get; set; }

    /// <summary>Free text, encrypted like the state (<see cref="Security.ContentProtector.EncryptText"/>).</summary>
    public byte[]? Label { get; set; }
    public string? ThreadOf { get; set; }
    public required string Tags { get; set; }
    public required string Metadata { get; set; }
    /// <summary>The state object's JSON, encrypted (see <see cref="Security.ContentProtector"/>).</summary>
    public required byte[] State { get; set; }
    public long Created { get; set; }
    public long Modified { get; set; }
    public long? EndedAt { get; set; }
    public int TotalMessages { get; set; }
    public int ThreadCount { get; set; }
    public long? LastMessageCreated { get; set; }

    /// <summary>Sequence number of the dialogue's last appended message; messages are ordered by it.</summary>
    public long LastSeq { get; set; }
}

internal sealed class MessageRow
{
    public required string Namespace { get; set; }
    public required string DialogueId { get; set; }
    public long Seq { get; set; }
    public required string Id { get; set; }
    public required string Role { get; set; }

    /// <summary>Free text, encrypted like the content.</summary>
    public byte[]? Name { get; set; }

    /// <summary>The content as compact JSON text (a JSON string for text content), encrypted.</summary>
    public required byte[] Content { get; set; }
    public int ContentLength { get; set; }
    public required string Tags { get; set; }
    public required string Metadata { get; set; }
    public long Created { get; set; }
    public long Modified { get; set; }
}

internal sealed class MemoryRow : ICreatedRow
{
    public required string Namespace { get; set; }
    public required string Id { get; set; }

    /// <summary>The value as compact JSON text, encrypted.</summary>
    public required byte[] Value { get; set; }
    public required string Type { get; set; }
    public required string Term { get; set; }

    /// <summary>Free text, encrypted like the value.</summary>
    public byte[]? Label { get; set; }

    /// <summary>Free text, encrypted like the value.</summary>
    public byte[]? Description { get; set; }
    public required string Tags { get; set; }
    public required string Metadata { get; set; }
    public long Created { get; set; }
    public long Modified { get; set; }
}

/// <summary>
/// Quota usage of the project (not of a namespace, so not under row-level security): one row per period and kind,
/// e.g. ("2026-11", "messages") or ("stored", "memories"). Updated in the same transaction as the write it counts.
/// </summary>
internal sealed class PlanUsageRow
{
    public required string Period { get; set; }
    public required string Kind { get; set; }
    public long Used { get; set; }
}

/// <summary>
/// One stripe of a plan quota counter (see PlanQuotas): <see cref="Used"/> items counted here, at most
/// <see cref="Allowance"/>, where the allowances of a counter's stripes add up to the limit <see cref="Cap"/> they were
/// shared out for. Concurrent writers count on different stripes, so they do not wait for each other's commits.
/// </summary>
internal sealed class QuotaStripeRow
{
    public required string Period { get; set; }
    public required string Kind { get; set; }
    public int Stripe { get; set; }
    public long Used { get; set; }
    public long Allowance { get; set; }
    public long Cap { get; set; }
}

/// <summary>
/// An audit event waiting to be published (transactional outbox): written in the same transaction as the change it
/// describes, deleted by the relay once the event stream accepted it. The event (which carries the full item) is
/// encrypted like the content it contains. Ids follow commit order (see AuditOutbox).
/// </summary>
internal sealed class OutboxRow
{
    public long Id { get; set; }
    public required string EventId { get; set; }

    /// <summary>Namespace and dialogue (or memory) the event is about, so an erasure can remove pending events too.</summary>
    public required string Namespace { get; set; }
    public required string Subject { get; set; }
    public required byte[] Payload { get; set; }
    public long Occurred { get; set; }
}
