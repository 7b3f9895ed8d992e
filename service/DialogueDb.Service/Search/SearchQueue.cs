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

    /// <summary>
    /// Items whose index rows a search could not read (<see cref="SearchCache"/>), queued on their own (no write's
    /// transaction): the indexer indexes each again from what is stored, or takes it out when it is gone.
    /// </summary>
    public async Task RequeueAsync(DialogueDbContext db, string ns, IReadOnlyList<SearchItemKey> keys, CancellationToken ct)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var sql = new StringBuilder("INSERT INTO search_queue (namespace, kind, item_id, dialogue_id, enqueued) VALUES ");
        var parameters = new List<object?> { ns, now };
        foreach (var key in keys)
        {
            var at = parameters.Count;
            sql.Append(at == 2 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"({{0}}, {{{at}}}, {{{at + 1}}}, {{{at + 2}}}, {{1}})");
            // A queued memory names no dialogue.
            parameters.AddRange([key.Kind, key.ItemId, key.Kind == "message" ? key.DialogueId : null]);
        }

        await db.Database.ExecuteSqlRawAsync(sql.ToString(), parameters!, ct);
        signal.Nudge();
    }
}
