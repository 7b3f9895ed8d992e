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
        var memoryIds = queued.Where(q => q.Kind == "memory").Select(q => q.ItemId).Distinct().ToList();
        var deletedDialogues = queued.Where(q => q.Kind == "dialogue").Select(q => q.ItemId).Distinct().ToList();

        var documents = await _documents.ReadAsync(db, ns, messageKeys, memoryIds, ct);
        var enqueued = queued.Where(q => q.Kind != "dialogue").GroupBy(KeyOf).ToDictionary(g => g.Key, g => g.Min(q => q.Enqueued));
        var present = documents.Select(d => d.Key).ToHashSet();
        var removed = enqueued.Keys.Where(k => !present.Contains(k)).ToList();
        await WriteAsync(db, ns, documents, removed, deletedDialogues, enqueued, [.. queued.Select(q => q.Id)], ct);
    }

    /// <summary>New messages of one namespace that <see cref="SearchMessageFollower"/> read (nothing to dequeue).</summary>
    public Task IndexNewMessagesAsync(DialogueDbContext db, string ns, IReadOnlyList<FollowedMessage> messages, CancellationToken ct) =>
        WriteAsync(db, ns, [.. messages.Select(m => m.Document)], [], [],
            messages.GroupBy(m => m.Document.Key).ToDictionary(g => g.Key, g => g.Min(m => m.Created)), [], ct);

    /// <summary>The item a queue row names (a message's row carries its dialogue).</summary>
    private static SearchItemKey KeyOf(SearchQueueRow row) => new(row.Kind, row.Kind == "message" ? row.DialogueId! : "", row.ItemId);

    /// <summary>
    /// One transaction: the documents indexed (again), the removed items and the messages of deleted dialogues taken out,
    /// the changed items queued for their vectors, and the queue rows that asked for it deleted.
    /// </summary>
    private async Task WriteAsync(DialogueDbContext db, string ns, List<SearchDocument> documents, List<SearchItemKey> removed,
        List<string> deletedDialogues, Dictionary<SearchItemKey, long> enqueued, List<long> queueIds, CancellationToken ct)
    {
        // Two rows of one key in a batch fail its insert on every retry, and with it all keyword indexing of the project.
        // Documents are read by key, so none repeats; a message's key holds its dialogue (SearchItemKey).
        documents = [.. documents.DistinctBy(d => d.Key)];
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
                else if (!SearchIndexIdentity.Readable(state, rebuild.Identity))
                {
                    await rebuild.ResetAsync(db, state, ct);
                }

                state.Version++;
                states[kind] = state;
            }

            return state;
        }

        var goneMessages = goneDialogues.Count == 0 ? [] : await db.SearchItems.IgnoreQueryFilters()
            .Where(i => i.Namespace == ns && i.Kind == "message" && goneDialogues.Contains(i.DialogueId))
            .Select(i => new { i.DialogueId, i.ItemId }).ToListAsync(ct);
        var gone = goneMessages.Select(m => SearchItemKey.Message(m.DialogueId, m.ItemId)).ToHashSet();
        var (forgotten, previousVectors) = await ForgetAsync(db, ns, [.. documents.Select(d => d.Key), .. removed, .. gone], StateAsync, ct);

        // New items (nearly all: appended messages) and their vector-queue entries are written in one statement each.
        var fresh = new List<SearchItemRow>();
        var vectorQueue = new List<SearchVectorQueueRow>();
        using var tokenizer = tokens.Tokenizer();
        foreach (var document in documents)
        {
            var (key, text) = (document.Key, document.Text);
            if (gone.Contains(key))
            {
                continue;
            }

            var (kind, dialogueId, itemId) = key;

            var state = await StateAsync(kind);
            var frequencies = KeywordAnalyzer.TermFrequencies(text);
            var postings = frequencies.Select(f => new ItemTerm(tokenizer.Token(f.Key), f.Value)).ToArray();
            var length = frequencies.Values.Sum();
            if (!forgotten.TryGetValue(key, out var item))
            {
                item = new SearchItemRow { Namespace = ns, Kind = kind, DialogueId = dialogueId, ItemId = itemId };
                fresh.Add(item);
            }

            item.Version = state.Version;
            item.Length = length;
            item.Terms = SearchPostings.Protect(protector, ns, key, postings);
            // Searchable by keyword now; by meaning with its previous vectors (a changed item) or none yet (a new one).
            // Previous vectors this version cannot read (an older version's indexer sealed them under the message id
            // alone) are not kept: searches would leave the item out until its new vectors are in.
            item.Vectors = previousVectors.GetValueOrDefault(key) is { } previous && SearchVectors.Readable(protector, ns, key, previous)
                ? previous
                : SearchVectors.Protect(protector, ns, key, []);
            state.Items++;
            state.TotalLength += length;

            vectorQueue.Add(new SearchVectorQueueRow
            {
                Namespace = ns, Kind = kind, ItemId = itemId, DialogueId = dialogueId, Version = state.Version,
                Enqueued = enqueued.GetValueOrDefault(key, time.GetUtcNow().ToUnixTimeMilliseconds()),
            });
        }

        foreach (var key in removed.Concat(gone))
        {
            if (forgotten.TryGetValue(key, out var item))
            {
                item.Version = (await StateAsync(key.Kind)).Version;
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
    /// rows); returns the rows that were indexed (tracked, now removed-item markers) by key, and the vectors they held.
    /// Their entries in the vector queue go too (an item indexed again is queued anew).
    /// </summary>
    private static async Task<(Dictionary<SearchItemKey, SearchItemRow> Rows, Dictionary<SearchItemKey, byte[]> Vectors)> ForgetAsync(
        DialogueDbContext db, string ns, IReadOnlyCollection<SearchItemKey> keys, Func<string, Task<SearchNamespaceRow>> stateOf,
        CancellationToken ct)
    {
        var found = new Dictionary<SearchItemKey, SearchItemRow>();
        var vectors = new Dictionary<SearchItemKey, byte[]>();
        foreach (var group in keys.Distinct().GroupBy(k => k.Kind, StringComparer.Ordinal))
        {
            var kind = group.Key;
            var state = await stateOf(kind);
            var items = await SearchItemLookup.ByKeysAsync(db, ns, [.. group], ct);
            foreach (var item in items)
            {
                if (item.Vectors is not null)
                {
                    state.Items--;
                    state.TotalLength -= item.Length;
                    vectors[item.Key] = item.Vectors;
                }

                item.Vectors = null;
                item.Terms = null;
                item.Length = 0;
                found[item.Key] = item;
            }

            // Vector-queue entries exist only beside an item row: a new item (most of them) has none to delete.
            if (items.Count > 0)
            {
                await DeleteVectorEntriesAsync(db, ns, kind, [.. items.Select(i => i.Key)], ct);
            }
        }

        return (found, vectors);
    }

    /// <summary>
    /// The vector-queue entries of items of one kind, matched by whole key: a batch's dialogues and ids also combine into
    /// keys of other items, whose entries must stay.
    /// </summary>
    private static async Task DeleteVectorEntriesAsync(DialogueDbContext db, string ns, string kind, List<SearchItemKey> keys,
        CancellationToken ct)
    {
        var dialogues = keys.Select(k => k.DialogueId).Distinct().ToList();
        var ids = keys.Select(k => k.ItemId).Distinct().ToList();
        var wanted = keys.ToHashSet();
        var entries = (await db.SearchVectorQueue.AsNoTracking()
                .Where(q => q.Namespace == ns && q.Kind == kind && dialogues.Contains(q.DialogueId) && ids.Contains(q.ItemId))
                .Select(q => new { q.Id, q.DialogueId, q.ItemId }).ToListAsync(ct))
            .Where(q => wanted.Contains(new SearchItemKey(kind, q.DialogueId, q.ItemId))).Select(q => q.Id).ToList();
        if (entries.Count > 0)
        {
            await db.SearchVectorQueue.Where(q => entries.Contains(q.Id)).ExecuteDeleteAsync(ct);
        }
    }
}
