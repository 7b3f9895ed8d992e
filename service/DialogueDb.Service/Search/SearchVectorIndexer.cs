using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// The second step of indexing: computes the vectors of items the first step (<see cref="SearchItemIndexer"/>) made
/// keyword-searchable, oldest first, as fast as the embedder allows, and stores them unless the item was indexed again or
/// removed meanwhile (its index version changed). Texts are read and embedded outside any transaction; only the short
/// write that stores the vectors is serialised with the first step (<c>writes</c>), so keyword indexing never waits for
/// the model.
/// <para>
/// An input the embeddings endpoint refuses must not hold up the items behind it. A batch that is refused
/// (<see cref="EmbeddingsFailure.Refused"/>), or that failed <see cref="FailuresBeforeSingles"/> times in a row, is
/// retried one item at a time: an item refused on its own, or failing while other items of the same round pass, is
/// marked failed (it stays searchable by keyword; <c>dialoguedb reindex</c> tries it again), counted in
/// <c>dialoguedb.search.embedding.failed</c> and logged without its text. When no item passes, the endpoint is down:
/// nothing is marked, and the caller backs off.
/// </para>
/// </summary>
internal sealed partial class SearchVectorIndexer(ContentProtector protector, IEmbedder embedder, ILogger<SearchVectorIndexer> logger,
    Telemetry.ServiceMetrics? metrics = null)
{
    /// <summary>Items embedded per round (the in-process model runs them 16 at a time).</summary>
    public const int BatchSize = 32;

    public const int FailuresBeforeSingles = 3;

    private readonly SearchDocuments _documents = new(protector);
    private long _failingHead = -1;
    private int _headFailures;

    /// <summary>
    /// Embeds the oldest waiting batch and stores its vectors; returns how many waiting items it settled (0: none wait).
    /// Throws <see cref="EmbeddingsFailure"/> when the endpoint failed for the whole batch (after storing what it could).
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
        var outcome = await EmbedAsync([.. waiting.Where(q => texts.ContainsKey(q.Id))], texts, ct);
        await writes.WaitAsync(ct);
        try
        {
            await StoreAsync(db, waiting, outcome, ct);
        }
        finally
        {
            writes.Release();
        }

        if (outcome.Failed.Count > 0)
        {
            LogItemsFailed(logger, outcome.Failed.Count, outcome.Reason ?? "");
        }

        metrics?.SearchEmbedded(outcome.Vectors.Count, outcome.Failed.Count,
            waiting.Count < BatchSize ? 0 : await db.SearchVectorQueue.LongCountAsync(q => !q.Failed, ct));
        if (outcome.Outage is { } outage)
        {
            throw outage;
        }

        return waiting.Count - outcome.Unanswered.Count;
    }

    private async Task<Outcome> EmbedAsync(List<SearchVectorQueueRow> entries, Dictionary<long, string> texts, CancellationToken ct)
    {
        var outcome = new Outcome();
        if (entries.Count == 0)
        {
            return outcome;
        }

        var head = entries[0].Id;
        if (entries.Count == 1 || _failingHead != head || _headFailures < FailuresBeforeSingles)
        {
            try
            {
                var all = await embedder.EmbedAsync([.. entries.Select(e => texts[e.Id])], ct);
                for (var i = 0; i < entries.Count; i++)
                {
                    outcome.Vectors[entries[i].Id] = all[i];
                }

                _failingHead = -1;
                return outcome;
            }
            catch (EmbeddingsFailure ex) when (!ex.Refused || entries.Count == 1)
            {
                if (ex.Refused)
                {
                    outcome.Failed.Add(head);
                    outcome.Reason = ex.Message;
                    return outcome;
                }

                _headFailures = _failingHead == head ? _headFailures + 1 : 1;
                _failingHead = head;
                outcome.Outage = ex;
                outcome.Unanswered.UnionWith(entries.Select(e => e.Id));
                return outcome;
            }
            catch (EmbeddingsFailure ex)
            {
                // Refused as a whole: find the input(s) it refuses.
                outcome.Reason = ex.Message;
            }
        }

        foreach (var entry in entries)
        {
            try
            {
                outcome.Vectors[entry.Id] = (await embedder.EmbedAsync([texts[entry.Id]], ct))[0];
            }
            catch (EmbeddingsFailure ex) when (ex.Refused)
            {
                outcome.Failed.Add(entry.Id);
                outcome.Reason = ex.Message;
            }
            catch (EmbeddingsFailure ex)
            {
                outcome.Unanswered.Add(entry.Id);
                outcome.Outage = ex;
            }
        }

        _failingHead = -1;
        if (outcome.Vectors.Count > 0 && outcome.Unanswered.Count > 0)
        {
            // The endpoint embeds other items: these fail for what they are.
            outcome.Failed.AddRange(outcome.Unanswered);
            outcome.Unanswered.Clear();
            outcome.Reason = outcome.Outage!.Message;
            outcome.Outage = null;
        }

        return outcome;
    }

    private async Task StoreAsync(DialogueDbContext db, List<SearchVectorQueueRow> waiting, Outcome outcome, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        foreach (var group in waiting.Where(q => outcome.Vectors.ContainsKey(q.Id)).GroupBy(q => (q.Namespace, q.Kind)))
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

                item.Vectors = SearchVectors.Protect(protector, ns, kind, entry.ItemId, outcome.Vectors[entry.Id]);
                item.Version = state.Version;
            }
        }

        await db.SaveChangesAsync(ct);
        var failed = outcome.Failed.ToList();
        if (failed.Count > 0)
        {
            await db.SearchVectorQueue.Where(q => failed.Contains(q.Id)).ExecuteUpdateAsync(u => u.SetProperty(q => q.Failed, true), ct);
        }

        var settled = waiting.Select(q => q.Id).Where(id => !failed.Contains(id) && !outcome.Unanswered.Contains(id)).ToList();
        await db.SearchVectorQueue.Where(q => settled.Contains(q.Id)).ExecuteDeleteAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }

    private sealed class Outcome
    {
        public Dictionary<long, float[][]> Vectors { get; } = [];
        public List<long> Failed { get; } = [];
        public string? Reason { get; set; }
        public EmbeddingsFailure? Outage { get; set; }

        /// <summary>Entries the endpoint did not answer for (it is down): they stay queued as they are.</summary>
        public HashSet<long> Unanswered { get; } = [];
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The embeddings endpoint refused {Count} item(s) on their own ({Reason}): they stay searchable by keyword only " +
            "until `dialoguedb reindex`")]
    private static partial void LogItemsFailed(ILogger logger, int count, string reason);
}
