using System.Buffers;
using System.Globalization;
using System.Security.Claims;
using System.Text;
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
internal sealed class AuditOutbox(ContentProtector protector, TimeProvider time, OutboxSignal signal, Search.SearchQueue searchQueue)
{

    /// <param name="subject">The dialogue the event belongs to (for dialogues, state and messages) or the memory id.</param>
    public async Task AddAsync(DialogueDbContext db, Actor actor, string type, string entityType, string ns, string itemId,
        string subject, Action<Utf8JsonWriter>? writeItem, CancellationToken ct)
    {
        RequireTransaction(db);
        var (eventId, payload, occurred) = Build(actor, type, entityType, ns, itemId, writeItem);

        // Plain INSERT without RETURNING: the API role may only append to the outbox, not read it.
        await db.Database.ExecuteSqlAsync(
            $"INSERT INTO outbox (event_id, namespace, subject, payload, occurred) VALUES ({eventId}, {ns}, {subject}, {payload}, {occurred})", ct);
        await searchQueue.EnqueueAsync(db, type, ns, subject, [itemId], ct);
        signal.Nudge();
    }

    /// <summary>
    /// The events of one change that touched several items (a batch append), in one multi-row INSERT: one round trip
    /// instead of one per item inside the writing transaction. Rows get their outbox ids in list order, as separate
    /// INSERTs would.
    /// </summary>
    public async Task AddManyAsync(DialogueDbContext db, Actor actor, string type, string entityType, string ns, string subject,
        IReadOnlyList<(string ItemId, Action<Utf8JsonWriter>? WriteItem)> items, CancellationToken ct)
    {
        RequireTransaction(db);
        if (items.Count == 0)
        {
            return;
        }

        const int Columns = 5;
        var sql = new StringBuilder("INSERT INTO outbox (event_id, namespace, subject, payload, occurred) VALUES ");
        var parameters = new object[items.Count * Columns];
        for (var i = 0; i < items.Count; i++)
        {
            var (eventId, payload, occurred) = Build(actor, type, entityType, ns, items[i].ItemId, items[i].WriteItem);
            var p = i * Columns;
            parameters[p] = eventId;
            parameters[p + 1] = ns;
            parameters[p + 2] = subject;
            parameters[p + 3] = payload;
            parameters[p + 4] = occurred;
            sql.Append(i == 0 ? "(" : ", (")
                .AppendJoin(", ", Enumerable.Range(p, Columns).Select(n => "{" + n.ToString(CultureInfo.InvariantCulture) + "}"))
                .Append(')');
        }

        // Only placeholders are concatenated; every value is a parameter.
        await db.Database.ExecuteSqlRawAsync(sql.ToString(), parameters, ct);
        await searchQueue.EnqueueAsync(db, type, ns, subject, [.. items.Select(i => i.ItemId)], ct);
        signal.Nudge();
    }

    private static void RequireTransaction(DialogueDbContext db)
    {
        if (db.Database.CurrentTransaction is null)
        {
            throw new InvalidOperationException("Audit events are written inside the transaction of the change they describe.");
        }
    }

    /// <summary>The encrypted event document (contract §9) of one item.</summary>
    private (string EventId, byte[] Payload, long Occurred) Build(Actor actor, string type, string entityType, string ns,
        string itemId, Action<Utf8JsonWriter>? writeItem)
    {
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
        return (eventId, payload, occurred);
    }
}
