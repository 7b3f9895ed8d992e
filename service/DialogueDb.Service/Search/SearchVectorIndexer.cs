using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// The second step of indexing: computes the vectors of items the first step (<see cref="SearchItemIndexer"/>) made
/// keyword-searchable, oldest first, as fast as the embedder allows, and stores them unless the item was indexed again or
/// removed meanwhile (its index version changed). Texts are read and embedded outside any transaction; only the short
/// write that stores the vectors is serialised with the first step (<c>writes</c>), so keyword indexing never waits for
/// the model. A queue entry leaves the queue in the transaction that stores its vectors (or finds its item gone), so a
/// crash at any point leaves it queued.
/// <para>
/// An input the embedder fails for must not hold up the items behind it (<see cref="IsolatingEmbedder"/>): an entry that
/// fails on its own is marked failed (it stays searchable by keyword; <c>dialoguedb reindex</c> tries it again), counted
/// in <c>dialoguedb.search.embedding.failed</c> and logged by its queue id, without its text. When the embedder is down,
/// nothing is marked: the batch stays queued and the caller backs off.
/// </para>
/// </summary>
internal sealed partial class SearchVectorIndexer(ContentProtector protector, IEmbedder embedder, ILogger<SearchVectorIndexer> logger,
    Telemetry.ServiceMetrics? metrics = null)
{
    /// <summary>Items embedded per round (the in-process model runs them 16 at a time).</summary>
    public const int BatchSize = 32;

    private readonly SearchDocuments _documents = new(protector);
    private readonly IsolatingEmbedder _embedder = new(embedder);

    /// <summary>
    /// Embeds the oldest waiting batch and stores its vectors; returns how many waiting items it settled (0: none wait).
    /// Throws <see cref="EmbeddingsFailure"/> when the embedder is down (after settling the entries whose items are gone).
    /// </summary>
    public async Task<int> EmbedNextAsync(Func<DialogueDbContext> newContext, SemaphoreSlim writes, CancellationToken ct)
    {
        await using var db = newContext();
        var waiting = await db.SearchVectorQueue.AsNoTracking().Where(q => !q.Failed).OrderBy(q => q.Id).Take(BatchSize).ToListAsync(ct);
        if (waiting.Count == 0)
        {
            metrics?.SearchEmbedded(0, 0, 0);
            return 0;
        }

        var texts = new Dictionary<long, string>();
        foreach (var group in waiting.GroupBy(q => q.Namespace, StringComparer.Ordinal))
        {
            var documents = (await _documents.ReadAsync(db, group.Key,
                    [.. group.Where(q => q.Kind == "message").Select(q => (q.ItemId, q.DialogueId ?? ""))],
                    [.. group.Where(q => q.Kind == "memory").Select(q => q.ItemId)], ct))
                .ToDictionary(d => (d.Kind, d.ItemId), d => d.Text);
            foreach (var entry in group)
            {
                if (documents.TryGetValue((entry.Kind, entry.ItemId), out var text))
                {
                    texts[entry.Id] = text;
                }
            }
        }

        // Items that are gone, or unreadable, only leave the queue (the first step removes gone items from the index).
        var batch = await _embedder.EmbedAsync([.. waiting.Where(q => texts.ContainsKey(q.Id)).Select(q => (q.Id, texts[q.Id]))], ct);
        var settled = waiting.Select(q => q.Id).Where(id => batch.Vectors.ContainsKey(id) || !texts.ContainsKey(id)).ToList();
        await writes.WaitAsync(ct);
        try
        {
            await StoreAsync(db, waiting, batch, settled, ct);
        }
        finally
        {
            writes.Release();
        }

        if (batch.Failed.Count > 0)
        {
            LogItemsFailed(logger, batch.Failed.Count, batch.Reason ?? "", string.Join(", ", batch.Failed));
        }

        metrics?.SearchEmbedded(batch.Vectors.Count, batch.Failed.Count,
            waiting.Count < BatchSize ? 0 : await db.SearchVectorQueue.LongCountAsync(q => !q.Failed, ct));
        if (batch.Outage is { } outage)
        {
            throw outage;
        }

        return settled.Count + batch.Failed.Count;
    }

    private async Task StoreAsync(DialogueDbContext db, List<SearchVectorQueueRow> waiting, EmbeddedBatch batch, List<long> settled,
        CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        foreach (var group in waiting.Where(q => batch.Vectors.ContainsKey(q.Id)).GroupBy(q => (q.Namespace, q.Kind)))
        {
            var (ns, kind) = group.Key;
            var ids = group.Select(q => q.ItemId).ToList();
            var items = await db.SearchItems.IgnoreQueryFilters()
                .Where(i => i.Namespace == ns && i.Kind == kind && ids.Contains(i.ItemId)).ToDictionaryAsync(i => i.ItemId, StringComparer.Ordinal, ct);
            SearchNamespaceRow? state = null;
            foreach (var entry in group)
            {
                // Indexed again or removed since this entry was read: its vectors would describe another text.
                if (!items.TryGetValue(entry.ItemId, out var item) || item.Version != entry.Version || item.Vectors is null)
                {
                    continue;
                }

                if (state is null)
                {
                    // One new index version for the batch: caches load the changed rows at their next search.
                    state = await db.SearchNamespaces.IgnoreQueryFilters().FirstAsync(n => n.Namespace == ns && n.Kind == kind, ct);
                    state.Version++;
                }

                item.Vectors = SearchVectors.Protect(protector, ns, kind, entry.ItemId, batch.Vectors[entry.Id]);
                item.Version = state.Version;
            }
        }

        await db.SaveChangesAsync(ct);
        var failed = batch.Failed;
        if (failed.Count > 0)
        {
            await db.SearchVectorQueue.Where(q => failed.Contains(q.Id)).ExecuteUpdateAsync(u => u.SetProperty(q => q.Failed, true), ct);
        }

        await db.SearchVectorQueue.Where(q => settled.Contains(q.Id)).ExecuteDeleteAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The embedder failed for {Count} item(s) on their own ({Reason}): they stay searchable by keyword only until " +
            "`dialoguedb reindex` (search_vector_queue ids {QueueIds})")]
    private static partial void LogItemsFailed(ILogger logger, int count, string reason, string queueIds);
}
