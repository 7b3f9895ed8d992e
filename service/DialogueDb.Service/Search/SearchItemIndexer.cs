using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// Brings one namespace's index in line with its stored items for a set of queued changes (one transaction). An index
/// whose vectors come from another model is emptied first and rebuilt (<see cref="SearchRebuild"/>), never mixed.
/// </summary>
internal sealed class SearchItemIndexer(ContentProtector protector, BlindTokenKey tokens, IEmbedder embedder, SearchRebuild rebuild)
{
    /// <summary>Removed-item markers are purged every this many index versions (caches older than that reload).</summary>
    public const long PurgeEvery = 256;

    public async Task IndexAsync(DialogueDbContext db, string ns, IReadOnlyList<SearchQueueRow> queued, CancellationToken ct)
    {
        // Read and embed outside the transaction: inference is the slow part and must not hold locks.
        var messageIds = queued.Where(q => q.Kind == "message").Select(q => q.ItemId).Distinct().ToList();
        var memoryIds = queued.Where(q => q.Kind == "memory").Select(q => q.ItemId).Distinct().ToList();
        var deletedDialogues = queued.Where(q => q.Kind == "dialogue").Select(q => q.ItemId).Distinct().ToList();

        var messageDialogues = queued.Where(q => q.Kind == "message").Select(q => q.DialogueId!).Distinct().ToList();
        var messages = await db.Messages.IgnoreQueryFilters().AsNoTracking()
            .Where(m => m.Namespace == ns && messageDialogues.Contains(m.DialogueId) && messageIds.Contains(m.Id)).ToListAsync(ct);
        var memories = await db.Memories.IgnoreQueryFilters().AsNoTracking()
            .Where(m => m.Namespace == ns && memoryIds.Contains(m.Id)).ToListAsync(ct);
        var liveDialogues = await db.Dialogues.IgnoreQueryFilters().AsNoTracking()
            .Where(d => d.Namespace == ns && deletedDialogues.Contains(d.Id)).Select(d => d.Id).ToListAsync(ct);

        var documents = new List<(string Kind, string ItemId, string? DialogueId, string Text)>();
        foreach (var m in messages)
        {
            if (Readable(() => SearchText.OfMessage(protector.DecryptString(m.Content, RowIdentity.MessageContent(ns, m.DialogueId, m.Id)))) is { } text)
            {
                documents.Add(("message", m.Id, m.DialogueId, text));
            }
        }

        foreach (var m in memories)
        {
            if (Readable(() => SearchText.OfMemory(protector.DecryptString(m.Value, RowIdentity.MemoryValue(ns, m.Id)),
                    protector.DecryptText(m.Label, RowIdentity.MemoryLabel(ns, m.Id)),
                    protector.DecryptText(m.Description, RowIdentity.MemoryDescription(ns, m.Id)))) is { } text)
            {
                documents.Add(("memory", m.Id, null, text));
            }
        }

        var vectors = documents.Count == 0 ? [] : await embedder.EmbedAsync([.. documents.Select(d => d.Text)], ct);

        var present = documents.Select(d => (d.Kind, d.ItemId)).ToHashSet();
        var removed = messageIds.Select(id => ("message", id)).Concat(memoryIds.Select(id => ("memory", id)))
            .Where(k => !present.Contains(k)).ToList();
        var goneDialogues = deletedDialogues.Except(liveDialogues, StringComparer.Ordinal).ToList();

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var states = new Dictionary<string, SearchNamespaceRow>(StringComparer.Ordinal);
        async Task<SearchNamespaceRow> StateAsync(string kind)
        {
            if (!states.TryGetValue(kind, out var state))
            {
                state = await db.SearchNamespaces.IgnoreQueryFilters().FirstOrDefaultAsync(n => n.Namespace == ns && n.Kind == kind, ct);
                if (state is null)
                {
                    state = new SearchNamespaceRow
                    {
                        Namespace = ns, Kind = kind, Model = rebuild.Identity, Format = KeywordAnalyzer.Format,
                    };
                    db.SearchNamespaces.Add(state);
                }
                else if (!SearchIndexIdentity.SameVectors(state.Model, rebuild.Identity))
                {
                    await rebuild.ResetAsync(db, state, ct);
                }

                state.Version++;
                states[kind] = state;
            }

            return state;
        }

        var goneMessages = goneDialogues.Count == 0 ? [] : await db.SearchItems.IgnoreQueryFilters()
            .Where(i => i.Namespace == ns && i.Kind == "message" && i.DialogueId != null && goneDialogues.Contains(i.DialogueId))
            .Select(i => i.ItemId).ToListAsync(ct);
        var gone = goneMessages.Select(id => ("message", id)).ToHashSet();
        var forgotten = await ForgetAsync(db, ns,
            [.. documents.Select(d => (d.Kind, d.ItemId)), .. removed, .. gone], StateAsync, ct);

        for (var i = 0; i < documents.Count; i++)
        {
            var (kind, itemId, dialogueId, text) = documents[i];
            if (gone.Contains((kind, itemId)))
            {
                continue;
            }

            var state = await StateAsync(kind);
            var frequencies = KeywordAnalyzer.TermFrequencies(text);
            var length = frequencies.Values.Sum();
            var item = forgotten.GetValueOrDefault((kind, itemId)) ?? db.SearchItems.Add(new SearchItemRow
            {
                Namespace = ns,
                Kind = kind,
                ItemId = itemId,
            }).Entity;
            item.DialogueId = dialogueId;
            item.Version = state.Version;
            item.Length = length;
            item.Vectors = SearchVectors.Protect(protector, ns, kind, itemId, vectors[i]);
            state.Items++;
            state.TotalLength += length;
            foreach (var (term, frequency) in frequencies)
            {
                db.SearchTerms.Add(new SearchTermRow { Namespace = ns, Kind = kind, Token = tokens.Token(term), ItemId = itemId, Frequency = frequency });
            }
        }

        foreach (var key in removed.Concat(gone))
        {
            if (forgotten.TryGetValue(key, out var item))
            {
                item.Version = (await StateAsync(key.Item1)).Version;
            }
        }

        await db.SaveChangesAsync(ct);
        foreach (var state in states.Values.Where(s => s.Version % PurgeEvery == 0))
        {
            await db.SearchItems.IgnoreQueryFilters()
                .Where(i => i.Namespace == ns && i.Kind == state.Kind && i.Vectors == null && i.Version < state.Version).ExecuteDeleteAsync(ct);
            state.Floor = state.Version;
        }

        var queueIds = queued.Select(q => q.Id).ToList();
        await db.SearchQueue.Where(q => queueIds.Contains(q.Id)).ExecuteDeleteAsync(ct);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
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

    /// <summary>
    /// Takes items out of the keyword statistics and postings, one query and one delete per kind for the whole batch;
    /// returns the rows that were indexed (tracked, now removed-item markers) by kind and id.
    /// </summary>
    private static async Task<Dictionary<(string Kind, string ItemId), SearchItemRow>> ForgetAsync(DialogueDbContext db, string ns,
        IReadOnlyCollection<(string Kind, string ItemId)> keys, Func<string, Task<SearchNamespaceRow>> stateOf, CancellationToken ct)
    {
        var found = new Dictionary<(string Kind, string ItemId), SearchItemRow>();
        foreach (var group in keys.Distinct().GroupBy(k => k.Kind, StringComparer.Ordinal))
        {
            var kind = group.Key;
            var ids = group.Select(k => k.ItemId).ToList();
            var state = await stateOf(kind);
            var items = await db.SearchItems.IgnoreQueryFilters()
                .Where(i => i.Namespace == ns && i.Kind == kind && ids.Contains(i.ItemId)).ToListAsync(ct);
            foreach (var item in items)
            {
                if (item.Vectors is not null)
                {
                    state.Items--;
                    state.TotalLength -= item.Length;
                }

                item.Vectors = null;
                item.Length = 0;
                found[(kind, item.ItemId)] = item;
            }

            await db.SearchTerms.IgnoreQueryFilters().Where(t => t.Namespace == ns && t.Kind == kind && ids.Contains(t.ItemId)).ExecuteDeleteAsync(ct);
        }

        return found;
    }
}
