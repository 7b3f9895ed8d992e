using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DialogueDb.Service.Api;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Audit;

/// <summary>
/// Contract §9 audit events, written to the transactional outbox in the same transaction as the change: a change
/// without its event, or an event of a rolled-back change, cannot exist. Each event carries the full item as the API
/// returns it and is stored encrypted (row identity: the event id). On PostgreSQL each row records its transaction
/// (<c>xid</c>), and the relay publishes only rows of finished transactions, in transaction order (see OutboxRelay).
/// A writer nudges the in-process relay, which wakes at once instead of at its next poll.
/// </summary>
internal sealed class AuditOutbox(ContentProtector protector, TimeProvider time, OutboxSignal signal, Search.SearchQueue searchQueue)
{
    /// <summary>The events of one change, in one INSERT, as a command of the change's own batch (PostgreSQL).</summary>
    public static NpgsqlBatchCommand InsertCommand(string ns, string subject, IReadOnlyList<SealedEvent> events)
    {
        if (events.Count == 1)
        {
            // One event (most changes): plain values, without arrays to encode and unnest.
            var (id, payload, at) = events[0];
            return NamespaceBatches.Command("""
                INSERT INTO outbox (event_id, namespace, subject, payload, occurred) VALUES ($1, $2, $3, $4, $5)
                """,
                NamespaceBatches.Value(id), NamespaceBatches.Value(ns), NamespaceBatches.Value(subject),
                NamespaceBatches.Value(payload), NamespaceBatches.Value(at));
        }

        var ids = new string[events.Count];
        var payloads = new byte[events.Count][];
        var occurred = new long[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            (ids[i], payloads[i], occurred[i]) = events[i];
        }

        // Plain INSERT without RETURNING: the API role may only append to the outbox, not read it. Rows get their ids in
        // list order (ORDER BY the ordinality), as separate INSERTs would.
        return NamespaceBatches.Command("""
            INSERT INTO outbox (event_id, namespace, subject, payload, occurred)
            SELECT e.event_id, $1, $2, e.payload, e.occurred
            FROM unnest($3::varchar[], $4::bytea[], $5::bigint[]) WITH ORDINALITY AS e(event_id, payload, occurred, n)
            ORDER BY e.n
            """,
            NamespaceBatches.Value(ns), NamespaceBatches.Value(subject), NamespaceBatches.Value(ids),
            NamespaceBatches.Value(payloads), NamespaceBatches.Value(occurred));
    }

    /// <summary>Seals one event of <paramref name="type"/> about <paramref name="itemId"/> (contract §9 document).</summary>
    public SealedEvent Seal(Actor actor, string type, string entityType, string ns, string itemId, Action<Utf8JsonWriter>? writeItem)
    {
        var (eventId, payload, occurred) = Build(actor, type, entityType, ns, itemId, writeItem);
        return new SealedEvent(eventId, payload, occurred);
    }

    /// <summary>Wakes the in-process relay after a commit that wrote events.</summary>
    public void Nudge()
    {
        signal.Nudge();
        searchQueue.Nudge();
    }

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
