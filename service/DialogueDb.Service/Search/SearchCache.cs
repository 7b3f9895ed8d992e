using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// Decrypted namespace indexes in memory, least recently used evicted first once they hold more than the budget
/// (<c>DIALOGUEDB_SEARCH_MEMORY_MB</c>). Each search reads the namespace's change counter (one primary-key row), so a
/// replica sees another replica's indexer commits at its next search: it loads only the rows changed since its
/// snapshot, or everything when removed items it has not seen were purged meanwhile. A row it cannot decrypt is left out
/// and its item queued to be indexed again (<see cref="LeaveOutUnreadableAsync"/>), so one such row never fails a search.
/// </summary>
internal sealed partial class SearchCache(ContentProtector protector, IEmbedder embedder, BlindTokenKey tokens, SearchQueue queue,
    long budgetBytes, ILogger<SearchCache> logger)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string, string), LinkedListNode<NamespaceIndex>> _entries = [];
    private readonly LinkedList<NamespaceIndex> _lru = new();
    private readonly Dictionary<(string, string), SemaphoreSlim> _loading = [];
    private long _bytes;

    public long Bytes => _bytes;

    /// <summary>The namespace's index as of now; <paramref name="db"/> is bound to <paramref name="ns"/>.</summary>
    public async Task<NamespaceIndex> GetAsync(DialogueDbContext db, string ns, string kind, CancellationToken ct)
    {
        var state = await db.SearchNamespaces.AsNoTracking().FirstOrDefaultAsync(n => n.Namespace == ns && n.Kind == kind, ct);
        if (state is not null && !SearchIndexIdentity.Readable(state, SearchIndexIdentity.Of(embedder, tokens)))
        {
            // Vectors of another model (or message rows of an older key), not yet emptied by the indexer: searched as
            // empty, never compared.
            LogOtherIdentity(logger, state.Version);
            return new NamespaceIndex(ns, kind, state.Version, new Dictionary<SearchItemKey, IndexedItem>(), embedder.Dimensions);
        }

        var version = state?.Version ?? 0;
        var key = (ns, kind);
        if (TryGetCurrent(key, version) is { } current)
        {
            return current;
        }

        SemaphoreSlim loading;
        lock (_gate)
        {
            if (!_loading.TryGetValue(key, out loading!))
            {
                loading = new SemaphoreSlim(1, 1);
                _loading[key] = loading;
            }
        }

        await loading.WaitAsync(ct);
        try
        {
            if (TryGetCurrent(key, version) is { } loaded)
            {
                return loaded;
            }

            NamespaceIndex? cached;
            lock (_gate)
            {
                cached = _entries.TryGetValue(key, out var node) ? node.Value : null;
            }

            var index = cached is not null && state is not null && cached.Version >= state.Floor
                ? await CatchUpAsync(db, cached, ct)
                : await LoadAsync(db, ns, kind, ct);
            Store(key, index);
            return index;
        }
        finally
        {
            loading.Release();
        }
    }

    private NamespaceIndex? TryGetCurrent((string, string) key, long version)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var node) && node.Value.Version >= version)
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                return node.Value;
            }
        }

        return null;
    }

    private async Task<NamespaceIndex> LoadAsync(DialogueDbContext db, string ns, string kind, CancellationToken ct)
    {
        // Version first: rows committed after this read carry a higher version and are caught up later.
        var version = await db.SearchNamespaces.AsNoTracking().Where(n => n.Namespace == ns && n.Kind == kind)
            .Select(n => n.Version).FirstOrDefaultAsync(ct);
        var rows = await db.SearchItems.AsNoTracking()
            .Where(i => i.Namespace == ns && i.Kind == kind && i.Vectors != null && i.Version <= version).ToListAsync(ct);
        var items = new Dictionary<SearchItemKey, IndexedItem>(rows.Count);
        var unreadable = new List<SearchItemKey>();
        foreach (var row in rows)
        {
            if (TryDecrypt(row) is { } item)
            {
                items[row.Key] = item;
            }
            else
            {
                unreadable.Add(row.Key);
            }
        }

        await LeaveOutUnreadableAsync(db, ns, kind, version, unreadable, ct);
        LogLoaded(logger, items.Count, version);
        return new NamespaceIndex(ns, kind, version, items, embedder.Dimensions);
    }

    private async Task<NamespaceIndex> CatchUpAsync(DialogueDbContext db, NamespaceIndex cached, CancellationToken ct)
    {
        var (ns, kind) = (cached.Namespace, cached.Kind);
        var version = await db.SearchNamespaces.AsNoTracking().Where(n => n.Namespace == ns && n.Kind == kind)
            .Select(n => n.Version).FirstOrDefaultAsync(ct);
        var changed = await db.SearchItems.AsNoTracking()
            .Where(i => i.Namespace == ns && i.Kind == kind && i.Version > cached.Version && i.Version <= version).ToListAsync(ct);
        var items = new Dictionary<SearchItemKey, IndexedItem>(cached.Items);
        var unreadable = new List<SearchItemKey>();
        foreach (var row in changed)
        {
            if (row.Vectors is not null && TryDecrypt(row) is { } item)
            {
                items[row.Key] = item;
                continue;
            }

            // Removed, or changed into something unreadable: what the snapshot held describes an older text.
            items.Remove(row.Key);
            if (row.Vectors is not null)
            {
                unreadable.Add(row.Key);
            }
        }

        await LeaveOutUnreadableAsync(db, ns, kind, version, unreadable, ct);
        return new NamespaceIndex(ns, kind, version, items, embedder.Dimensions);
    }

    /// <summary>
    /// The row's item, or null when its postings or vectors fail authentication: sealed otherwise than this version seals
    /// them (an older version's indexer still leading during a rolling upgrade wrote it under the message id alone) or
    /// altered. A data key this replica has not loaded yet is not such a failure: it answers 503 like stored content.
    /// An item indexed before its postings were stored in its row has none until it is indexed again.
    /// </summary>
    private IndexedItem? TryDecrypt(SearchItemRow row)
    {
        try
        {
            return new(row.ItemId, row.DialogueId, row.Length,
                SearchVectors.Unprotect(protector, row.Namespace, row.Key, row.Vectors!, embedder.Dimensions),
                row.Terms is null ? [] : SearchPostings.Unprotect(protector, row.Namespace, row.Key, row.Terms));
        }
        catch (ContentDecryptionException ex) when (ex is not UnknownDataKeyException)
        {
            return null;
        }
    }

    /// <summary>
    /// Unreadable rows are left out of the snapshot and their items queued for the indexer, which indexes them again from
    /// the stored items and so replaces the rows: the index heals without <c>dialoguedb reindex</c>. Until then the items
    /// are missing from search; every load that meets such a row queues it again (the indexer takes each item once a batch).
    /// </summary>
    private async Task LeaveOutUnreadableAsync(DialogueDbContext db, string ns, string kind, long version, List<SearchItemKey> unreadable,
        CancellationToken ct)
    {
        if (unreadable.Count == 0)
        {
            return;
        }

        LogUnreadable(logger, unreadable.Count, kind, version);
        await queue.RequeueAsync(db, ns, unreadable, ct);
    }

    private void Store((string, string) key, NamespaceIndex index)
    {
        lock (_gate)
        {
            if (_entries.Remove(key, out var old))
            {
                _lru.Remove(old);
                _bytes -= old.Value.Bytes;
            }

            if (index.Bytes > budgetBytes)
            {
                // Larger than the whole budget: served to this search, not kept.
                return;
            }

            _entries[key] = _lru.AddFirst(index);
            _bytes += index.Bytes;
            while (_bytes > budgetBytes && _lru.Last is { } last && last.Value != index)
            {
                _lru.RemoveLast();
                _entries.Remove((last.Value.Namespace, last.Value.Kind));
                _bytes -= last.Value.Bytes;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug,
        Message = "A search index (version {Version}) was built by another embedding model or item key; it answers nothing until rebuilt")]
    private static partial void LogOtherIdentity(ILogger logger, long version);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "{Count} search index row(s) of kind {Kind} (index version {Version}) could not be decrypted; " +
            "left out of search and queued to be indexed again")]
    private static partial void LogUnreadable(ILogger logger, int count, string kind, long version);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Search cache loaded {Items} items at index version {Version}")]
    private static partial void LogLoaded(ILogger logger, int items, long version);
}
