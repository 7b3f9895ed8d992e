using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>Reads and decrypts the searchable text of stored items, for both steps of indexing.</summary>
internal sealed class SearchDocuments(ContentProtector protector)
{
    /// <summary>
    /// The texts of the named messages (id, dialogue) and memories of <paramref name="ns"/> that are still stored and
    /// readable; items that are gone, or whose ciphertext cannot be decrypted, are left out.
    /// </summary>
    public async Task<List<SearchDocument>> ReadAsync(DialogueDbContext db, string ns,
        IReadOnlyCollection<(string ItemId, string DialogueId)> messageKeys, IReadOnlyCollection<string> memoryIds, CancellationToken ct)
    {
        var messages = messageKeys.Count == 0 ? [] : await MessagesAsync(db, ns, messageKeys, ct);
        var memories = memoryIds.Count == 0 ? [] : await MemoriesAsync(db, ns, memoryIds, ct);

        var documents = new List<SearchDocument>(messages.Count + memories.Count);
        foreach (var m in messages)
        {
            if (OfMessage(ns, m.DialogueId, m.Id, m.Content) is { } document)
            {
                documents.Add(document);
            }
        }

        foreach (var m in memories)
        {
            if (Readable(() => SearchText.OfMemory(protector.DecryptString(m.Value, RowIdentity.MemoryValue(ns, m.Id)),
                    protector.DecryptText(m.Label, RowIdentity.MemoryLabel(ns, m.Id)),
                    protector.DecryptText(m.Description, RowIdentity.MemoryDescription(ns, m.Id)))) is { } text)
            {
                documents.Add(new SearchDocument("memory", m.Id, null, text));
            }
        }

        return documents;
    }

    /// <summary>A stored message's searchable text, or null when its content cannot be decrypted.</summary>
    public SearchDocument? OfMessage(string ns, string dialogueId, string id, byte[] content) =>
        Readable(() => SearchText.OfMessage(protector.DecryptString(content, RowIdentity.MessageContent(ns, dialogueId, id)))) is { } text
            ? new SearchDocument("message", id, dialogueId, text)
            : null;

    /// <summary>The memories by id; on PostgreSQL one primary-key probe per id whatever the statistics say (see SearchItemLookup).</summary>
    private static async Task<List<MemoryRow>> MemoriesAsync(DialogueDbContext db, string ns, IReadOnlyCollection<string> ids,
        CancellationToken ct)
    {
        if (!db.Database.IsNpgsql())
        {
            return await db.Memories.IgnoreQueryFilters().AsNoTracking().Where(m => m.Namespace == ns && ids.Contains(m.Id)).ToListAsync(ct);
        }

        var idArray = ids.ToArray();
        return await db.Memories.FromSql($"""
            SELECT m.* FROM unnest({idArray}::varchar[]) AS k(id)
            CROSS JOIN LATERAL (SELECT * FROM memories x WHERE x.namespace = {ns} AND x.id = k.id OFFSET 0) m
            """).IgnoreQueryFilters().AsNoTracking().ToListAsync(ct);
    }

    /// <summary>
    /// The messages by (dialogue, id) pair. On PostgreSQL one probe of the (namespace, dialogue, id) unique index per pair,
    /// whatever the statistics say: the pairs joined as a plain array of rows were planned, while the table had no
    /// statistics yet (its first minute), as a hash join over every message of the namespace: 24 ms a batch of 128 at
    /// 42,000 messages, a fifth of PostgreSQL's CPU under the append load (bench/profile.sh appends statements). The
    /// lateral subquery (kept apart by OFFSET 0) names the unique index's whole key, so each probe reads one row.
    /// </summary>
    private static async Task<List<MessageRow>> MessagesAsync(DialogueDbContext db, string ns,
        IReadOnlyCollection<(string ItemId, string DialogueId)> keys, CancellationToken ct)
    {
        if (db.Database.IsNpgsql())
        {
            var dialogues = keys.Select(k => k.DialogueId).ToArray();
            var ids = keys.Select(k => k.ItemId).ToArray();
            return await db.Messages.FromSql($"""
                SELECT m.* FROM unnest({dialogues}::varchar[], {ids}::varchar[]) AS k(dialogue_id, id)
                CROSS JOIN LATERAL (
                    SELECT * FROM messages x WHERE x.namespace = {ns} AND x.dialogue_id = k.dialogue_id AND x.id = k.id OFFSET 0) m
                """).IgnoreQueryFilters().AsNoTracking().ToListAsync(ct);
        }

        var messageIds = keys.Select(k => k.ItemId).Distinct().ToList();
        var messageDialogues = keys.Select(k => k.DialogueId).Distinct().ToList();
        var pairs = keys.ToHashSet();
        var candidates = await db.Messages.IgnoreQueryFilters().AsNoTracking()
            .Where(m => m.Namespace == ns && messageDialogues.Contains(m.DialogueId) && messageIds.Contains(m.Id)).ToListAsync(ct);
        return [.. candidates.Where(m => pairs.Contains((m.Id, m.DialogueId)))];
    }

    /// <summary>
    /// The item's text, or null when its stored ciphertext cannot be decrypted (tampered, or its key was removed): such an
    /// item is left out of the index (its GET fails too) instead of blocking the queue behind it forever.
    /// </summary>
    private static string? Readable(Func<string> text)
    {
        try
        {
            return text();
        }
        catch (ContentDecryptionException)
        {
            return null;
        }
    }
}
