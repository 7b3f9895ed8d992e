using System.Globalization;
using System.Text;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// Writes index work into the writing transaction (called where the change's audit events are added, so every change
/// that can alter search results queues its item). Changes that leave the searchable text alone (message tags,
/// dialogue fields, state) queue nothing: filters read the items themselves at search time. On PostgreSQL an appended
/// message queues nothing either: the indexer follows new messages by their writing transaction
/// (<see cref="SearchMessageFollower"/>), so the append's own transaction writes one row fewer.
/// </summary>
internal sealed class SearchQueue(TimeProvider time, SearchSignal signal, bool enabled = true)
{
    /// <summary>
    /// The queue row an audit event type needs, or null (always null with search turned off); on PostgreSQL
    /// (<paramref name="messagesFollowed"/>) none for a new message.
    /// </summary>
    private (string Kind, string? DialogueId)? WorkFor(string eventType, string subject, bool messagesFollowed) => !enabled ? null : eventType switch
    {
        "message.created" when messagesFollowed => null,
        "message.created" or "message.deleted" => ("message", subject),
        "memory.created" or "memory.updated" or "memory.deleted" => ("memory", null),
        "dialogue.deleted" => ("dialogue", subject),
        _ => null,
    };

    /// <summary>Wakes the local indexer after a commit that queued work.</summary>
    public void Nudge() => signal.Nudge();

    public async Task EnqueueAsync(DialogueDbContext db, string eventType, string ns, string subject, IReadOnlyList<string> itemIds,
        CancellationToken ct)
    {
        if (WorkFor(eventType, subject, messagesFollowed: db.Database.IsNpgsql()) is not { } work || itemIds.Count == 0)
        {
            return;
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        // Plain INSERTs without RETURNING: the API role may only append to the queue.
        // Only placeholders are concatenated; every value is a parameter.
        var sql = new StringBuilder("INSERT INTO search_queue (namespace, kind, item_id, dialogue_id, enqueued) VALUES ");
        for (var i = 0; i < itemIds.Count; i++)
        {
            sql.Append(i == 0 ? "" : ", ").Append("({0}, {1}, {").Append((i + 4).ToString(CultureInfo.InvariantCulture)).Append("}, {2}, {3})");
        }

        object?[] parameters = [ns, work.Kind, work.DialogueId, now, .. itemIds];
        await db.Database.ExecuteSqlRawAsync(sql.ToString(), parameters!, ct);
        signal.Nudge();
    }
}
