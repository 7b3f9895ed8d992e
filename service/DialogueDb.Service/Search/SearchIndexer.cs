using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Search;

/// <summary>
/// Works off the search queue in batches: for each queued item it reads what is stored now, embeds and analyses its
/// text, and writes vectors, blind-index postings and the namespace's new version in one transaction that also deletes
/// the queue rows (a crash before commit leaves the work queued; redoing it is harmless). Items that are gone, and the
/// messages of deleted dialogues, leave the index. On PostgreSQL one indexer is active across all replicas (a session
/// advisory lock on a dedicated connection) and it reads as the maintenance role, which sees every namespace.
/// </summary>
internal sealed partial class SearchIndexer(
    Func<DialogueDbContext> newContext,
    NpgsqlDataSource? leaderSource,
    SearchItemIndexer items,
    SearchSignal signal,
    ILogger<SearchIndexer> logger,
    Telemetry.ServiceMetrics? metrics = null) : BackgroundService
{
    public const int BatchSize = 64;
    private const long LeaderLockKey = 0x6464_625F_7372_6368; // "ddb_srch"
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// After a part-full batch the indexer lets work gather this long: under a steady stream of writes it indexes a few
    /// larger batches a second instead of one transaction (and one model run) per message, which cost the append path
    /// about a seventh of the service's CPU. Index lag stays well inside the "searchable within seconds" promise.
    /// </summary>
    private static readonly TimeSpan Gather = TimeSpan.FromMilliseconds(100);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        new LeaderLoop(leaderSource, LeaderLockKey, TimeProvider.System).RunAsync(
            work: RunAsync,
            onLeading: () => LogLeading(logger),
            // Work stays queued; retry after a pause.
            isDatabaseFailure: ex => ex is NpgsqlException or InvalidOperationException or DbUpdateException
                or Microsoft.Data.Sqlite.SqliteException or ContentDecryptionException,
            onFailure: ex => LogFailed(logger, ex.GetType().Name),
            stoppingToken);

    private async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var indexed = await IndexBatchAsync(ct);
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

    /// <summary>Indexes the oldest queued batch; returns how many queue rows it consumed.</summary>
    public async Task<int> IndexBatchAsync(CancellationToken ct)
    {
        await using var db = newContext();
        var queued = await db.SearchQueue.AsNoTracking().OrderBy(q => q.Id).Take(BatchSize).ToListAsync(ct);
        if (queued.Count == 0)
        {
            metrics?.SearchIndexed(0, 0);
            return 0;
        }

        foreach (var group in queued.GroupBy(q => q.Namespace, StringComparer.Ordinal))
        {
            await items.IndexAsync(db, group.Key, [.. group], ct);
        }

        // A short batch took the whole queue; behind a full one, count what is left (the backlog case only).
        metrics?.SearchIndexed(queued.Count, queued.Count < BatchSize ? 0 : await db.SearchQueue.LongCountAsync(ct));

        return queued.Count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Search indexer active")]
    private static partial void LogLeading(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Search indexer failed ({Error}); the work stays queued and is retried")]
    private static partial void LogFailed(ILogger logger, string error);
}
