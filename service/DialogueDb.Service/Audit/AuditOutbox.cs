using System.Buffers;
using System.Security.Claims;
using System.Text.Json;
using DialogueDb.Service.Api;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Audit;

/// <summary>Who made a change: the acting API key's id (never the key) and the request, or a job.</summary>
internal readonly record struct Actor(string Id, string? RequestId)
{
    public static readonly Actor Retention = new("retention", null);

    public static Actor Of(HttpContext http) =>
        new(http.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? "unknown", http.TraceIdentifier);
}

/// <summary>
/// Contract §9 audit events, written to the transactional outbox in the same transaction as the change: a change
/// without its event, or an event of a rolled-back change, cannot exist. Each event carries the full item as the API
/// returns it and is stored encrypted (row identity: the event id). On PostgreSQL every writing transaction takes one
/// project-wide transaction lock just before its first event, so outbox ids follow commit order (SQLite has a single
/// writer anyway), and notifies the relay, which wakes at commit.
/// </summary>
internal sealed class AuditOutbox(ContentProtector protector, TimeProvider time, OutboxSignal signal)
{

    /// <param name="subject">The dialogue the event belongs to (for dialogues, state and messages) or the memory id.</param>
    public async Task AddAsync(DialogueDbContext db, Actor actor, string type, string entityType, string ns, string itemId,
        string subject, Action<Utf8JsonWriter>? writeItem, CancellationToken ct)
    {
        if (db.Database.CurrentTransaction is null)
        {
            throw new InvalidOperationException("Audit events are written inside the transaction of the change they describe.");
        }

        var now = time.GetUtcNow();
        var eventId = Ulid.NewUlid(now).ToString();
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, ApiJson.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("eventId", eventId);
            w.WriteString("type", type);
            w.WriteString("entityType", entityType);
            if (ns.Length > 0)
            {
                w.WriteString("namespace", ns);
            }
            else
            {
                w.WriteNull("namespace");
            }

            w.WriteString("itemId", itemId);
            w.WritePropertyName("item");
            if (writeItem is null)
            {
                w.WriteNullValue();
            }
            else
            {
                writeItem(w);
            }

            w.WriteString("actor", actor.Id);
            w.WriteOptional("requestId", actor.RequestId);
            w.WriteString("occurred", Timestamps.Format(now));
            w.WriteEndObject();
        }

        var payload = protector.Encrypt(buffer.WrittenSpan, RowIdentity.AuditEvent(eventId));
        var occurred = now.ToUnixTimeMilliseconds();

        // Plain INSERT without RETURNING: the API role may only append to the outbox, not read it.
        await db.Database.ExecuteSqlAsync(
            $"INSERT INTO outbox (event_id, namespace, subject, payload, occurred) VALUES ({eventId}, {ns}, {subject}, {payload}, {occurred})", ct);
        signal.Nudge();
    }
}
