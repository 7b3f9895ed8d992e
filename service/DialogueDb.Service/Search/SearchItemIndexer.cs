using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// The first step of indexing (cheap, in commit order): brings one namespace's keyword index in line with its stored
/// items for a set of queued changes, in one transaction that also queues the changed items for their vectors (the
/// second step, <see cref="SearchVectorIndexer"/>). A new item is searchable by keyword from this commit on, by meaning
/// once its vectors follow; a changed item keeps its previous vectors until then. An index whose vectors come from
/// another model is emptied first and rebuilt (<see cref="SearchRebuild"/>), never mixed.
/// </summary>
internal sealed class SearchItemIndexer(ContentProtector protector, BlindTokenKey tokens, SearchRebuild rebuild, TimeProvider time)
{
    /// <summary>Removed-item markers are purged every this many index versions (caches older than that reload).</summary>
    public const long PurgeEvery = 256;

    private readonly SearchDocuments _documents = new(protector);

    /// <summary>Queued changes of one namespace: reads what is stored now, indexes it, and deletes the queue rows.</summary>
    public async Task IndexAsync(DialogueDbContext db, string ns, IReadOnlyList<SearchQueueRow> queued, CancellationToken ct)
    {
        var messageKeys = queued.Where(q => q.Kind == "message").Select(q => (q.ItemId, q.DialogueId!)).Distinct().ToList();
        var messageIds = messageKeys.Select(k => k.ItemId).Distinct().ToList();
        var memoryIds = queued.Where(q => q.Kind == "memory").Select(q => q.ItemId).Distinct().ToList();
        var deletedDialogues = queued.Where(q => q.Kind == "dialogue").Select(q => q.ItemId).Distinct().ToList();

        var documents = await _documents.ReadAsync(db, ns, messageKeys, memoryIds, ct);
        var enqueued = queued.GroupBy(q => (q.Kind, q.ItemId)).ToDictionary(g => g.Key, g => g.Min(q => q.Enqueued));
        var present = documents.Select(d => (d.Kind, d.ItemId)).ToHashSet();
        var removed = messageIds.Select(id => ("message", id)).Concat(memoryIds.Select(id => ("memory", id)))
            .Where(k => !present.Contains(k)).ToList();
        await WriteAsync(db, ns, documents, removed, deletedDialogues, enqueued, [.. queued.Select(q => q.Id)], ct);
    }

    /// <summary>New messages of one namespace that <see cref="SearchMessageFollower"/> read (nothing to dequeue).</summary>
    public Task IndexNewMessagesAsync(DialogueDbContext db, string ns, IReadOnlyList<FollowedMessage> messages, CancellationToken ct) =>
        WriteAsync(db, ns, [.. messages.Select(m => m.Document)], [], [],
            messages.GroupBy(m => (m.Document.Kind, m.Document.ItemId)).ToDictionary(g => g.Key, g => g.Min(m => m.Created)), [], ct);

    /// <summary>
    /// One transaction: the documents indexed (again), the removed items and the messages of deleted dialogues taken out,
    /// the changed items queued for their vectors, and the queue rows that asked for it deleted.
    /// </summary>
    private async Task WriteAsync(DialogueDbContext db, string ns, List<SearchDocument> documents, List<(string, string)> removed,
        List<string> deletedDialogues, Dictionary<(string Kind, string ItemId), long> enqueued, List<long> queueIds, CancellationToken ct)
    {
        // Index rows are keyed by item id within the namespace, and two dialogues may each hold a message of the same
        // (client-chosen) id: one row is kept, the last read. Two rows of one key in a batch failed its insert on every
        // retry, and with it all keyword indexing of the project.
        documents = [.. documents.GroupBy(d => (d.Kind, d.ItemId)).Select(g => g.Last())];
        var liveDialogues = deletedDialogues.Count == 0 ? [] : await db.Dialogues.IgnoreQueryFilters().AsNoTracking()
            .Where(d => d.Namespace == ns && deletedDialogues.Contains(d.Id)).Select(d => d.Id).ToListAsync(ct);
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
        var (forgotten, previousVectors) = await ForgetAsync(db, ns,
            [.. documents.Select(d => (d.Kind, d.ItemId)), .. removed, .. gone], StateAsync, ct);

        // New items (nearly all: appended messages) and their vector-queue entries are written in one statement each.
        var fresh = new List<SearchItemRow>();
        var vectorQueue = new List<SearchVectorQueueRow>();
        using var tokenizer = tokens.Tokenizer();
        foreach (var document in documents)
        {
            var (kind, itemId, dialogueId, text) = document;
            if (gone.Contains((kind, itemId)))
            {
                continue;
            }

            var state = await StateAsync(kind);
            var frequencies = KeywordAnalyzer.TermFrequencies(text);
            var postings = frequencies.Select(f => new ItemTerm(tokenizer.Token(f.Key), f.Value)).ToArray();
            var length = frequencies.Values.Sum();
            if (!forgotten.TryGetValue((kind, itemId), out var item))
            {
                item = new SearchItemRow { Namespace = ns, Kind = kind, ItemId = itemId };
                fresh.Add(item);
            }

            item.DialogueId = dialogueId;
            item.Version = state.Version;
            item.Length = length;
            item.Terms = SearchPostings.Protect(protector, ns, kind, itemId, postings);
            // Searchable by keyword now; by meaning with its previous vectors (a changed item) or none yet (a new one).
            item.Vectors = previousVectors.GetValueOrDefault((kind, itemId)) ?? SearchVectors.Protect(protector, ns, kind, itemId, []);
            state.Items++;
            state.TotalLength += length;

            vectorQueue.Add(new SearchVectorQueueRow
            {
                Namespace = ns, Kind = kind, ItemId = itemId, DialogueId = dialogueId, Version = state.Version,
                Enqueued = enqueued.GetValueOrDefault((kind, itemId), time.GetUtcNow().ToUnixTimeMilliseconds()),
            });
        }

        foreach (var key in removed.Concat(gone))
        {
            if (forgotten.TryGetValue(key, out var item))
            {
                item.Version = (await StateAsync(key.Item1)).Version;
            }
        }

        await db.SaveChangesAsync(ct);
        await SearchIndexInsert.InsertAsync(db, ns, fresh, vectorQueue, ct);
        foreach (var state in states.Values.Where(s => s.Version - s.Floor >= PurgeEvery))
        {
            await db.SearchItems.IgnoreQueryFilters()
                .Where(i => i.Namespace == ns && i.Kind == state.Kind && i.Vectors == null && i.Version < state.Version).ExecuteDeleteAsync(ct);
            state.Floor = state.Version;
        }

        if (queueIds.Count > 0)
        {
            await db.SearchQueue.Where(q => queueIds.Contains(q.Id)).ExecuteDeleteAsync(ct);
        }

        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }

    /// <summary>
    /// Takes items out of the keyword statistics, one query per kind for the whole batch (their postings live in their
    /// rows); returns the rows that were indexed (tracked, now removed-item markers) by kind and id, and the vectors they
    /// held. Their entries in the vector queue go too (an item indexed again is queued anew).
    /// </summary>
    private static async Task<(Dictionary<(string Kind, string ItemId), SearchItemRow> Rows,
        Dictionary<(string Kind, string ItemId), byte[]> Vectors)> ForgetAsync(DialogueDbContext db, string ns,
        IReadOnlyCollection<(string Kind, string ItemId)> keys, Func<string, Task<SearchNamespaceRow>> stateOf, CancellationToken ct)
    {
        var found = new Dictionary<(string Kind, string ItemId), SearchItemRow>();
        var vectors = new Dictionary<(string Kind, string ItemId), byte[]>();
        foreach (var group in keys.Distinct().GroupBy(k => k.Kind, StringComparer.Ordinal))
        {
            var kind = group.Key;
            var ids = group.Select(k => k.ItemId).ToList();
            var state = await stateOf(kind);
            var items = await SearchItemLookup.ByIdsAsync(db, ns, kind, ids, ct);
            foreach (var item in items)
            {
                if (item.Vectors is not null)
                {
                    state.Items--;
                    state.TotalLength -= item.Length;
                    vectors[(kind, item.ItemId)] = item.Vectors;
                }

                item.Vectors = null;
                item.Terms = null;
                item.Length = 0;
                found[(kind, item.ItemId)] = item;
            }

            // Vector-queue entries exist only beside an item row: a new item (most of them) has none to delete.
            var indexed = items.Select(i => i.ItemId).ToList();
            if (indexed.Count > 0)
            {
                await db.SearchVectorQueue.Where(q => q.Namespace == ns && q.Kind == kind && indexed.Contains(q.ItemId)).ExecuteDeleteAsync(ct);
            }
        }

        return (found, vectors);
    }
}
