using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Audit;

/// <summary>
/// Publishes outbox rows to the event sink in commit (id) order, in batches, and deletes them only after the sink
/// accepted them: at least once, never lost (a crash between publish and delete re-sends; consumers deduplicate by
/// eventId). On PostgreSQL one relay is active across all replicas (a session advisory lock on a dedicated
/// connection; the others wait on standby); it publishes rows of finished transactions in transaction order. It wakes
/// when a writer of this process nudges it, and looks for rows of other replicas' writers every 100 ms (an indexed
/// query). It reads as the maintenance role: the API role may only append.
/// </summary>
internal sealed partial class OutboxRelay(
    Func<DialogueDbContext> newContext,
    NpgsqlDataSource? leaderSource,
    ContentProtector protector,
    IEventSink sink,
    OutboxSignal signal,
    TimeProvider time,
    ILogger<OutboxRelay> logger,
    Telemetry.ServiceMetrics? metrics = null) : BackgroundService
{
    private const int BatchSize = 200;
    private const long LeaderLockKey = 0x6464_625F_7265_6C79; // "ddb_rely"

    /// <summary>How often the relay looks for rows that writers of other replicas committed (this process's writers nudge it).</summary>
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    /// <summary>After a nudge, the wait for the writer's commit to land and for the next moment's events to gather.</summary>
    private static readonly TimeSpan CoalesceDelay = TimeSpan.FromMilliseconds(25);

    /// <summary>
    /// The first pause after the sink refused a batch; it doubles with each failure in a row, up to <see cref="SinkRetryMax"/>.
    /// </summary>
    internal static readonly TimeSpan SinkRetryFirst = TimeSpan.FromMilliseconds(250);

    internal static readonly TimeSpan SinkRetryMax = TimeSpan.FromSeconds(5);

    private readonly Telemetry.BacklogCount _depth = new(time);
    private bool _failing;

    public long Published { get; private set; }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        new LeaderLoop(leaderSource, LeaderLockKey, time).RunAsync(
            work: ct => RunAsync(wait: WaitLocalAsync, ct),
            onLeading: () => LogLeading(logger, sink.Describe),
            // Lost the database (or the leader connection): step down, retry; rows wait safely in the outbox.
            isDatabaseFailure: ex => ex is NpgsqlException or InvalidOperationException or DbUpdateException
                or Microsoft.Data.Sqlite.SqliteException,
            onFailure: ex => LogDatabaseFailed(logger, ex.GetType().Name),
            stoppingToken);

    private async Task WaitLocalAsync(CancellationToken ct)
    {
        if (await signal.WaitAsync(Poll, ct))
        {
            // Some writers nudge just before their commit: give it a moment to land, and let the events of the next
            // moment gather, so a busy relay publishes them in one cycle (one query, one pipelined XADD, one DELETE)
            // instead of one cycle per write (measured: a cycle costs about as much CPU as the append itself).
            await Task.Delay(CoalesceDelay, time, ct);
        }
    }

    private async Task RunAsync(Func<CancellationToken, Task> wait, CancellationToken ct)
    {
        var backoff = SinkRetryFirst;
        while (!ct.IsCancellationRequested)
        {
            bool more;
            try
            {
                more = await PublishBatchAsync(ct);
                backoff = SinkRetryFirst;
                if (_failing)
                {
                    _failing = false;
                    LogRecovered(logger, sink.Describe);
                }
            }
            catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException or IOException)
            {
                if (!_failing)
                {
                    _failing = true;
                    LogSinkFailed(logger, sink.Describe, ex.GetType().Name);
                }

                await Task.Delay(backoff, time, ct);
                backoff = NextSinkRetry(backoff);
                continue;
            }

            if (!more)
            {
                await wait(ct);
            }
        }
    }

    internal static TimeSpan NextSinkRetry(TimeSpan previous) => previous * 2 < SinkRetryMax ? previous * 2 : SinkRetryMax;

    /// <summary>Publishes the oldest batch; true when a full batch went out (there may be more).</summary>
    public async Task<bool> PublishBatchAsync(CancellationToken ct) =>
        leaderSource is null ? await PublishWithContextAsync(ct) : await PublishPostgresAsync(leaderSource, ct);

    /// <summary>
    /// PostgreSQL, raw Npgsql (an EF Core context per cycle cost more than the queries): the oldest rows of finished
    /// transactions, in transaction order (the (xid, id) index), published, then deleted by id.
    /// </summary>
    private async Task<bool> PublishPostgresAsync(NpgsqlDataSource source, CancellationToken ct)
    {
        await using var connection = await source.OpenConnectionAsync(ct);
        var rows = new List<OutboxRow>();
        await using (var take = new NpgsqlCommand(Oldest, connection))
        {
            await using var reader = await take.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                rows.Add(new OutboxRow
                {
                    Id = reader.GetInt64(0),
                    EventId = reader.GetString(1),
                    Namespace = reader.GetString(2),
                    Subject = reader.GetString(3),
                    Payload = reader.GetFieldValue<byte[]>(4),
                    Occurred = reader.GetInt64(5),
                });
            }
        }

        return await PublishThenDeleteAsync(rows,
            delete: async (ids, token) =>
            {
                await using var delete = new NpgsqlCommand("DELETE FROM outbox WHERE id = ANY($1)", connection);
                delete.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = ids });
                await delete.ExecuteNonQueryAsync(token);
            },
            countLeft: async token =>
            {
                await using var count = new NpgsqlCommand("SELECT count(*) FROM outbox", connection);
                return (long)(await count.ExecuteScalarAsync(token))!;
            }, ct);
    }

    private static readonly string Oldest = $"""
        SELECT id, event_id, namespace, subject, payload, occurred FROM outbox
        WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY xid, id LIMIT {BatchSize}
        """;

    /// <summary>The embedded database: one writer at a time, so id order is commit order.</summary>
    private async Task<bool> PublishWithContextAsync(CancellationToken ct)
    {
        await using var db = newContext();
        var rows = await db.Outbox.AsNoTracking().OrderBy(o => o.Id).Take(BatchSize).ToListAsync(ct);
        return await PublishThenDeleteAsync(rows,
            delete: (ids, token) => db.Outbox.Where(o => ids.Contains(o.Id)).ExecuteDeleteAsync(token),
            countLeft: token => db.Outbox.LongCountAsync(token), ct);
    }

    /// <summary>
    /// Publishes the batch taken from the outbox, then deletes its rows (never before the sink accepted them) and
    /// counts it; true when it was a full batch (there may be more).
    /// </summary>
    /// <param name="rows">The oldest rows, in publishing order; empty when the outbox is.</param>
    /// <param name="delete">Deletes the rows of these ids.</param>
    /// <param name="countLeft">Counts the rows still in the outbox (asked only behind a full batch, for the depth gauge).</param>
    /// <param name="ct">Stops the relay.</param>
    private async Task<bool> PublishThenDeleteAsync(List<OutboxRow> rows, Func<long[], CancellationToken, Task> delete,
        Func<CancellationToken, Task<long>> countLeft, CancellationToken ct)
    {
        if (rows.Count == 0)
        {
            metrics?.OutboxDepth(_depth.Drained());
            return false;
        }

        await PublishAsync(rows, ct);
        await delete([.. rows.Select(r => r.Id)], ct);
        Count(rows);
        if (metrics is not null)
        {
            // A short batch took every visible row; behind a full one, count what is left (the backlog case only).
            metrics.OutboxDepth(await _depth.AfterBatchAsync(rows.Count == BatchSize, countLeft, ct));
        }

        return rows.Count == BatchSize;
    }

    private async Task PublishAsync(List<OutboxRow> rows, CancellationToken ct)
    {
        using var span = Telemetry.RelayTracing.Source.StartActivity("outbox publish");
        span?.SetTag("messaging.batch.message_count", rows.Count);
        var events = rows.Select(r => protector.Decrypt(r.Payload, RowIdentity.AuditEvent(r.EventId))).ToList();
        await sink.PublishAsync(events, ct);
    }

    /// <summary>Counts a batch once it has left the outbox.</summary>
    private void Count(List<OutboxRow> rows)
    {
        Published += rows.Count;
        metrics?.RelayPublished([.. rows.Select(r => r.Occurred)]);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit relay active, publishing to {Sink}")]
    private static partial void LogLeading(ILogger logger, string sink);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Audit relay cannot publish to {Sink} ({Error}); events wait in the outbox and are retried")]
    private static partial void LogSinkFailed(ILogger logger, string sink, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit relay publishes to {Sink} again")]
    private static partial void LogRecovered(ILogger logger, string sink);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit relay lost the database ({Error}); retrying")]
    private static partial void LogDatabaseFailed(ILogger logger, string error);
}
