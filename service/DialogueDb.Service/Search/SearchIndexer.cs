using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Search;

/// <summary>
/// Works off the search queue in two steps that run side by side. The first, in commit order and cheap: for each queued
/// item it reads what is stored now, analyses its text and writes its blind-index postings, the namespace's new version
/// and the item's entry in the vector queue in one transaction that also deletes the queue rows (a crash before commit
/// leaves the work queued; redoing it is harmless); the item is then searchable by keyword. Items that are gone, and
/// the messages of deleted dialogues, leave the index. When the queue runs short it takes the next step of any
/// namespace rebuild (<see cref="SearchRebuild"/>). The second step (<see cref="SearchVectorIndexer"/>) computes the
/// vectors as fast as the embedder allows; the two steps' writes take turns, the model never holds up the first. One
/// indexer is active at a time, whichever process hosts it (<c>serve</c> or <c>dialoguedb index</c>): on PostgreSQL
/// through a session advisory lock on a dedicated connection (it reads as the maintenance role, which sees every
/// namespace), on the embedded database through a lock file in the data folder. An embedder that is down leaves the
/// vectors queued; the second step backs off (doubling up to a minute) and tries again.
/// </summary>
internal sealed partial class SearchIndexer(
    Func<DialogueDbContext> newContext,
    NpgsqlDataSource? leaderSource,
    string? lockFile,
    SearchItemIndexer items,
    SearchVectorIndexer vectors,
    SearchRebuild rebuild,
    SearchMessageFollower? newMessages,
    SearchSignal signal,
    ILogger<SearchIndexer> logger,
    TimeProvider time,
    Telemetry.ServiceMetrics? metrics = null) : BackgroundService
{
    public const int BatchSize = 128;
    private const long LeaderLockKey = 0x6464_625F_7372_6368; // "ddb_srch"
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// After a part-full batch the indexer lets work gather this long: under a steady stream of writes it indexes a few
    /// larger batches a second instead of one transaction per message. Index lag stays well inside the "searchable within
    /// seconds" promise.
    /// </summary>
    private static readonly TimeSpan Gather = TimeSpan.FromMilliseconds(100);

    /// <summary>With nothing to rebuild, the indexer looks for namespaces to rebuild this often (and when it starts leading).</summary>
    private static readonly TimeSpan RebuildCheck = TimeSpan.FromSeconds(5);

    /// <summary>Longest pause after an embeddings endpoint failure (the pause doubles from a second up to this).</summary>
    private static readonly TimeSpan MaxEndpointBackoff = TimeSpan.FromSeconds(60);

    /// <summary>The two steps' index writes take turns (each reads and bumps the namespace's version).</summary>
    private readonly SemaphoreSlim _writes = new(1, 1);

    /// <summary>Wakes the second step when the first queued vectors.</summary>
    private readonly SemaphoreSlim _vectorsQueued = new(0);

    private readonly Telemetry.BacklogCount _depth = new(time);
    private DateTimeOffset _nextRebuildCheck;
    private TimeSpan _endpointBackoff = TimeSpan.FromSeconds(1);

    /// <summary>The lock file of the indexer of an embedded data folder.</summary>
    public static string LockFileOf(Hosting.ServiceOptions options) => Path.Combine(options.FullDataDir, "search-indexer.lock");

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        new LeaderLoop(leaderSource, LeaderLockKey, time, lockFile).RunAsync(
            work: RunAsync,
            onLeading: () => LogLeading(logger),
            // Work stays queued; retry after a pause.
            isDatabaseFailure: ex => ex is NpgsqlException or InvalidOperationException or DbUpdateException
                or Microsoft.Data.Sqlite.SqliteException or ContentDecryptionException,
            onFailure: ex => LogFailed(logger, ex.GetType().Name),
            stoppingToken);

    /// <summary>Both steps while this process leads; either one's failure stops the other (the leader loop retries).</summary>
    private async Task RunAsync(CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task[] steps = [KeywordsAsync(stop.Token), VectorsAsync(stop.Token)];
        var first = await Task.WhenAny(steps);
        await stop.CancelAsync();
        try
        {
            await Task.WhenAll(steps);
        }
        catch (Exception) when (first.IsFaulted)
        {
            // The other step only stopped: the failure to report is the first one's.
            await first;
        }
    }

    private async Task VectorsAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            int settled;
            try
            {
                settled = await vectors.EmbedNextAsync(newContext, _writes, ct);
                _endpointBackoff = TimeSpan.FromSeconds(1);
            }
            catch (EmbeddingsFailure ex)
            {
                // The message names the status or the problem, never a text or the key.
                LogEndpointFailed(logger, ex.Message, _endpointBackoff.TotalSeconds);
                await Task.Delay(_endpointBackoff, ct);
                _endpointBackoff = TimeSpan.FromTicks(Math.Min(_endpointBackoff.Ticks * 2, MaxEndpointBackoff.Ticks));
                continue;
            }

            if (settled == 0)
            {
                await _vectorsQueued.WaitAsync(Poll, ct);
            }
        }
    }

    private async Task KeywordsAsync(CancellationToken ct)
    {
        _nextRebuildCheck = DateTimeOffset.MinValue;
        while (!ct.IsCancellationRequested)
        {
            var indexed = await IndexBatchAsync(ct);
            if (indexed < BatchSize && await RebuildStepAsync(ct))
            {
                continue;
            }

            if (indexed == 0 && await signal.WaitAsync(Poll, ct))
            {
                // Nudged before the writer's commit: give it a moment to land.
                await Task.Delay(20, ct);
            }
            else if (indexed is > 0 and < BatchSize)
            {
                await Task.Delay(Gather, ct);
            }
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        leaderSource?.Dispose();
        _writes.Dispose();
        _vectorsQueued.Dispose();
    }

    /// <summary>One step of a namespace rebuild when one is due; false when there was none (checked again later).</summary>
    public async Task<bool> RebuildStepAsync(CancellationToken ct)
    {
        if (time.GetUtcNow() < _nextRebuildCheck)
        {
            return false;
        }

        await using var db = newContext();
        await _writes.WaitAsync(ct);
        try
        {
            if (await rebuild.StepAsync(db, ct))
            {
                return true;
            }
        }
        finally
        {
            _writes.Release();
        }

        _nextRebuildCheck = time.GetUtcNow() + RebuildCheck;
        return false;
    }

    /// <summary>Looks for namespaces to rebuild at the next chance (after <c>dialoguedb reindex</c> asked for some).</summary>
    public void CheckRebuildsSoon() => _nextRebuildCheck = DateTimeOffset.MinValue;

    /// <summary>
    /// Indexes the oldest queued batch and, on PostgreSQL, the next batch of new messages (<see cref="SearchMessageFollower"/>);
    /// returns how many queue rows and messages it took (<see cref="BatchSize"/> or more: there may be more waiting).
    /// </summary>
    public async Task<int> IndexBatchAsync(CancellationToken ct)
    {
        await using var db = newContext();
        var queued = await db.SearchQueue.AsNoTracking().OrderBy(q => q.Id).Take(BatchSize).ToListAsync(ct);
        var followed = newMessages is null ? FollowedMessages.None : await newMessages.ReadAsync(db, ct);
        if (queued.Count == 0 && followed.NextXid == 0)
        {
            metrics?.SearchIndexed(0, _depth.Drained());
            return 0;
        }

        await _writes.WaitAsync(ct);
        try
        {
            foreach (var group in queued.GroupBy(q => q.Namespace, StringComparer.Ordinal))
            {
                await items.IndexAsync(db, group.Key, [.. group], ct);
            }

            foreach (var group in followed.Items.GroupBy(m => m.Namespace, StringComparer.Ordinal))
            {
                await items.IndexNewMessagesAsync(db, group.Key, [.. group], ct);
            }

            if (followed.NextXid > 0)
            {
                await SearchMessageFollower.AdvanceAsync(db, followed.NextXid, ct);
            }
        }
        finally
        {
            _writes.Release();
        }

        if (_vectorsQueued.CurrentCount == 0)
        {
            _vectorsQueued.Release();
        }

        // Short batches took all the work; behind a full one, count what is left (the backlog case only).
        var full = queued.Count == BatchSize || followed.More;
        if (metrics is not null)
        {
            metrics.SearchIndexed(queued.Count + followed.Items.Count, await _depth.AfterBatchAsync(full,
                async token => await db.SearchQueue.LongCountAsync(token)
                    + (newMessages is null ? 0 : await newMessages.CountAheadAsync(db, token)), ct));
        }

        return full ? Math.Max(BatchSize, queued.Count + followed.Read) : queued.Count + followed.Read;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Search indexer active")]
    private static partial void LogLeading(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Search embeddings failed: {Reason}; the items stay searchable by keyword, their vectors are retried in {Seconds} s")]
    private static partial void LogEndpointFailed(ILogger logger, string reason, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Search indexer failed ({Error}); the work stays queued and is retried")]
    private static partial void LogFailed(ILogger logger, string error);
}
