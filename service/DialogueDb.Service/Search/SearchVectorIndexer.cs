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
/// fails on its own is marked failed (it stays searchable by keyword), counted in <c>dialoguedb.search.embedding.failed</c>
/// and logged by its queue id, without its text. A failed entry is tried again on a slow schedule
/// (<see cref="EmbeddingRetrySchedule"/>; <c>dialoguedb reindex</c> tries it at once): the entries due are embedded beside
/// each round's batch, on their own (<see cref="IsolatingEmbedder.RetryAsync"/>), so a retry that fails again holds up no
/// healthy item; the number of failed entries is the gauge <c>dialoguedb.search.vector_queue.failed</c>. When the
/// embedder is down, nothing is marked: the batch stays queued and the caller backs off.
/// </para>
/// </summary>
internal sealed partial class SearchVectorIndexer(ContentProtector protector, IEmbedder embedder, TimeProvider time,
    ILogger<SearchVectorIndexer> logger, Telemetry.ServiceMetrics? metrics = null)
{
    /// <summary>Items embedded per round (the in-process model runs them 16 at a time).</summary>
    public const int BatchSize = 32;

    /// <summary>How often the indexer looks for failed entries due for another attempt (their schedule is in minutes).</summary>
    public static readonly TimeSpan RetryCheck = TimeSpan.FromMinutes(1);

    private readonly SearchDocuments _documents = new(protector);
    private readonly IsolatingEmbedder _embedder = new(embedder);
    private readonly Telemetry.BacklogCount _depth = new(time);
    private DateTimeOffset _nextRetryCheck = DateTimeOffset.MinValue;

    /// <summary>
    /// Embeds the oldest waiting batch, and the failed entries due for another attempt, and stores their vectors; returns
    /// how many entries it settled or marked failed (0: none wait).
    /// Throws <see cref="EmbeddingsFailure"/> when the embedder is down (after settling the entries whose items are gone).
    /// </summary>
    public async Task<int> EmbedNextAsync(Func<DialogueDbContext> newContext, SemaphoreSlim writes, CancellationToken ct)
    {
        await using var db = newContext();
        var waiting = await db.SearchVectorQueue.AsNoTracking().Where(q => !q.Failed).OrderBy(q => q.Id).Take(BatchSize).ToListAsync(ct);
        var (retrying, retriesChecked) = await DueRetriesAsync(db, ct);
        if (waiting.Count == 0 && retrying.Count == 0)
        {
            if (retriesChecked)
            {
                await CountFailedAsync(db, ct);
            }

            metrics?.SearchEmbedded(0, 0, _depth.Drained());
            return 0;
        }

        List<SearchVectorQueueRow> entries = [.. waiting, .. retrying];
        var texts = await ReadTextsAsync(db, entries, ct);

        // Items that are gone, or unreadable, only leave the queue (the first step removes gone items from the index).
        var batch = await _embedder.EmbedAsync(Inputs(waiting, texts), ct);
        if (batch.Outage is null)
        {
            await _embedder.RetryAsync(Inputs(retrying, texts), batch, ct);
        }

        var settled = entries.Select(q => q.Id).Where(id => batch.Vectors.ContainsKey(id) || !texts.ContainsKey(id)).ToList();
        await writes.WaitAsync(ct);
        try
        {
            await StoreAsync(db, entries, batch, settled, ct);
        }
        finally
        {
            writes.Release();
        }

        if (batch.Failed.Count > 0)
        {
            LogItemsFailed(logger, batch.Failed.Count, batch.Reason ?? "", string.Join(", ", batch.Failed));
        }

        if (retrying.Count(q => batch.Vectors.ContainsKey(q.Id)) is > 0 and var recovered)
        {
            LogItemsRecovered(logger, recovered);
        }

        if (retriesChecked || retrying.Count > 0 || batch.Failed.Count > 0)
        {
            await CountFailedAsync(db, ct);
        }

        if (metrics is not null)
        {
            metrics.SearchEmbedded(batch.Vectors.Count, batch.Failed.Count, await _depth.AfterBatchAsync(waiting.Count == BatchSize,
                token => db.SearchVectorQueue.LongCountAsync(q => !q.Failed, token), ct));
        }

        if (batch.Outage is { } outage)
        {
            throw outage;
        }

        return settled.Count + batch.Failed.Count;
    }

    /// <summary>
    /// The failed entries due for another attempt, longest due first, when it is time to look (once a
    /// <see cref="RetryCheck"/>; at once again after a full batch); and whether it looked.
    /// </summary>
    private async Task<(List<SearchVectorQueueRow> Due, bool Checked)> DueRetriesAsync(DialogueDbContext db, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (now < _nextRetryCheck)
        {
            return ([], false);
        }

        var nowMs = now.ToUnixTimeMilliseconds();
        var due = await db.SearchVectorQueue.AsNoTracking().Where(q => q.Failed && q.NextAttempt <= nowMs)
            .OrderBy(q => q.NextAttempt).ThenBy(q => q.Id).Take(BatchSize).ToListAsync(ct);
        _nextRetryCheck = due.Count == BatchSize ? DateTimeOffset.MinValue : now + RetryCheck;
        return (due, true);
    }

    private async Task CountFailedAsync(DialogueDbContext db, CancellationToken ct)
    {
        if (metrics is not null)
        {
            metrics.SearchVectorsFailed(await db.SearchVectorQueue.LongCountAsync(q => q.Failed, ct));
        }
    }

    /// <summary>The texts of the entries' items, by queue id (none for items that are gone).</summary>
    private async Task<Dictionary<long, string>> ReadTextsAsync(DialogueDbContext db, List<SearchVectorQueueRow> entries, CancellationToken ct)
    {
        var texts = new Dictionary<long, string>();
        foreach (var group in entries.GroupBy(q => q.Namespace, StringComparer.Ordinal))
        {
            var documents = (await _documents.ReadAsync(db, group.Key,
                    [.. group.Where(q => q.Kind == "message").Select(q => (q.ItemId, q.DialogueId))],
                    [.. group.Where(q => q.Kind == "memory").Select(q => q.ItemId)], ct))
                .ToDictionary(d => d.Key, d => d.Text);
            foreach (var entry in group)
            {
                if (documents.TryGetValue(entry.Key, out var text))
                {
                    texts[entry.Id] = text;
                }
            }
        }

        return texts;
    }

    private static List<(long Id, string Text)> Inputs(List<SearchVectorQueueRow> entries, Dictionary<long, string> texts) =>
        [.. entries.Where(q => texts.ContainsKey(q.Id)).Select(q => (q.Id, texts[q.Id]))];

    private async Task StoreAsync(DialogueDbContext db, List<SearchVectorQueueRow> entries, EmbeddedBatch batch, List<long> settled,
        CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        foreach (var group in entries.Where(q => batch.Vectors.ContainsKey(q.Id)).GroupBy(q => (q.Namespace, q.Kind)))
        {
            var (ns, kind) = group.Key;
            var items = (await SearchItemLookup.ByKeysAsync(db, ns, [.. group.Select(q => q.Key).Distinct()], ct)).ToDictionary(i => i.Key);
            SearchNamespaceRow? state = null;
            foreach (var entry in group)
            {
                // Indexed again or removed since this entry was read: its vectors would describe another text.
                if (!items.TryGetValue(entry.Key, out var item) || item.Version != entry.Version || item.Vectors is null)
                {
                    continue;
                }

                if (state is null)
                {
                    // One new index version for the batch: caches load the changed rows at their next search.
                    state = await db.SearchNamespaces.IgnoreQueryFilters().FirstAsync(n => n.Namespace == ns && n.Kind == kind, ct);
                    state.Version++;
                }

                item.Vectors = SearchVectors.Protect(protector, ns, entry.Key, batch.Vectors[entry.Id]);
                item.Version = state.Version;
            }
        }

        await db.SaveChangesAsync(ct);
        // Each failed entry waits longer than the last time it failed (entries that failed before are the retries).
        var now = time.GetUtcNow();
        var attemptsOf = entries.ToDictionary(q => q.Id, q => q.Attempts);
        foreach (var group in batch.Failed.GroupBy(id => attemptsOf[id] + 1))
        {
            var (attempts, ids) = (group.Key, group.ToList());
            var next = (now + EmbeddingRetrySchedule.After(attempts)).ToUnixTimeMilliseconds();
            await db.SearchVectorQueue.Where(q => ids.Contains(q.Id)).ExecuteUpdateAsync(u => u
                .SetProperty(q => q.Failed, true).SetProperty(q => q.Attempts, attempts).SetProperty(q => q.NextAttempt, next), ct);
        }

        await db.SearchVectorQueue.Where(q => settled.Contains(q.Id)).ExecuteDeleteAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The embedder failed for {Count} item(s) on their own ({Reason}): they stay searchable by keyword only until " +
            "a later attempt passes (10 minutes after the first failure, doubling up to a day; or `dialoguedb reindex`) " +
            "(search_vector_queue ids {QueueIds})")]
    private static partial void LogItemsFailed(ILogger logger, int count, string reason, string queueIds);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "{Count} item(s) the embedder had failed for got their vectors at a later attempt")]
    private static partial void LogItemsRecovered(ILogger logger, int count);
}
