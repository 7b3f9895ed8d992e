using System.Globalization;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Search;

/// <summary>
/// PostgreSQL: how the indexer finds appended messages without a <c>search_queue</c> row per append. Every message row
/// records the transaction that wrote it (<c>messages.xid</c>, filled in by the database), and the indexer follows new
/// rows past its cursor (<c>search_message_cursor.next_xid</c>: every message of a lower transaction is indexed), as the
/// outbox relay follows events: it reads only rows of transactions older than every transaction still running
/// (<c>pg_snapshot_xmin</c>), so no message can commit behind the cursor later. It reads a window of transactions at a
/// time, whole transactions only, sized to about a batch of messages. A long-running writing transaction holds new
/// messages back from search until it ends (as it holds back events). The cursor moves after the window's index writes
/// committed: a crash in between indexes the window again, which is harmless. A cursor ahead of every transaction the
/// cluster has started (a dump restored into another cluster) starts again from the beginning. Deletions, memories and
/// rebuilds still go through the queue; the embedded database (one writer at a time) queues appends too.
/// </summary>
internal sealed partial class SearchMessageFollower(SearchDocuments documents, ILogger<SearchMessageFollower> logger)
{
    /// <summary>The lowest normal transaction id: a cursor set back here follows every message of the cluster again.</summary>
    private const long FirstTransaction = 3;

    /// <summary>A window that read more rows than this shrinks; one that read fewer than a quarter of it grows.</summary>
    public const int TargetRows = SearchIndexer.BatchSize;

    private const long MaxWindow = 1 << 20;

    /// <summary>Where the cursor is, below which every transaction has ended, and the next transaction id to be assigned.</summary>
    private const string Bounds = """
        SELECT next_xid::text, pg_snapshot_xmin(pg_current_snapshot())::text, pg_snapshot_xmax(pg_current_snapshot())::text
        FROM search_message_cursor
        """;

    /// <summary>
    /// The messages of a window of transactions: two constant bounds, no LIMIT or ORDER BY, so whichever plan the
    /// statistics suggest reads only the window's rows. (Joined to the cursor table, with LIMIT and ORDER BY, the
    /// planner sorted every row past the cursor and compiled the query with JIT: 57 ms a batch under load.)
    /// </summary>
    private const string Window = """
        SELECT m.xid::text, m.namespace, m.dialogue_id, m.id, m.content, m.created
        FROM messages m WHERE m.xid >= $1::text::xid8 AND m.xid < $2::text::xid8
        """;

    /// <summary>How many transactions the next window spans (transactions that wrote no message count too).</summary>
    private long _window = TargetRows;

    /// <summary>The cursor as the last read found it.</summary>
    private long _cursor;

    /// <summary>
    /// The messages of the next window of ended transactions past the cursor, whole transactions only, and where the cursor
    /// goes once they are indexed; none when no transaction past the cursor has ended.
    /// </summary>
    public async Task<FollowedMessages> ReadAsync(DialogueDbContext db, CancellationToken ct)
    {
        await db.Database.OpenConnectionAsync(ct);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        long next, ended, unassigned;
        await using (var bounds = new NpgsqlCommand(Bounds, connection))
        await using (var reader = await bounds.ExecuteReaderAsync(ct))
        {
            await reader.ReadAsync(ct);
            (next, ended, unassigned) = (ParseXid(reader.GetString(0)), ParseXid(reader.GetString(1)), ParseXid(reader.GetString(2)));
        }

        if (next > unassigned)
        {
            // Ahead of every transaction this cluster has started: the cursor came with a dump restored into another
            // cluster, whose new messages would all fall behind it. Following everything again from the start only
            // indexes some items a second time.
            LogCursorAhead(logger, next, unassigned);
            await db.Database.ExecuteSqlAsync($"UPDATE search_message_cursor SET next_xid = {FirstTransaction.ToString(CultureInfo.InvariantCulture)}::text::xid8", ct);
            next = FirstTransaction;
        }

        _cursor = next;
        if (next >= ended)
        {
            return FollowedMessages.None;
        }

        var upTo = Math.Min(ended, next + _window);
        List<Row> rows;
        await using (var window = new NpgsqlCommand(Window, connection))
        {
            window.Parameters.Add(new NpgsqlParameter<string> { TypedValue = next.ToString(CultureInfo.InvariantCulture) });
            window.Parameters.Add(new NpgsqlParameter<string> { TypedValue = upTo.ToString(CultureInfo.InvariantCulture) });
            rows = await ReadRowsAsync(window, ct);
        }

        var more = upTo < ended;
        _window = rows.Count > TargetRows ? Math.Max(1, _window / 2)
            : rows.Count < TargetRows / 4 && more ? Math.Min(MaxWindow, _window * 2)
            : _window;

        // An empty window at the end of the ended transactions leaves the cursor where it is (no write while idle).
        return rows.Count == 0 && !more ? FollowedMessages.None : Followed(rows, upTo, more);
    }

    /// <summary>Moves the cursor past a batch whose index writes committed (never back).</summary>
    public static async Task AdvanceAsync(DialogueDbContext db, long nextXid, CancellationToken ct)
    {
        var value = nextXid.ToString(CultureInfo.InvariantCulture);
        await db.Database.ExecuteSqlAsync(
            $"UPDATE search_message_cursor SET next_xid = {value}::text::xid8 WHERE next_xid < {value}::text::xid8", ct);
    }

    /// <summary>
    /// Messages written past the cursor where the last read found it (the backlog gauge, read behind a full window only).
    /// A constant bound: with the cursor in a subquery the planner guessed a third of the table and scanned all of it.
    /// </summary>
    public async Task<long> CountAheadAsync(DialogueDbContext db, CancellationToken ct)
    {
        var from = _cursor.ToString(CultureInfo.InvariantCulture);
        return await db.Database.SqlQuery<long>($"SELECT count(*) AS \"Value\" FROM messages WHERE xid >= {from}::text::xid8").SingleAsync(ct);
    }

    private FollowedMessages Followed(List<Row> rows, long nextXid, bool more)
    {
        var items = new List<FollowedMessage>(rows.Count);
        foreach (var row in rows)
        {
            // An unreadable message is left out of the index (its GET fails too); the cursor passes it.
            if (documents.OfMessage(row.Namespace, row.DialogueId, row.Id, row.Content) is { } document)
            {
                items.Add(new FollowedMessage(row.Namespace, document, row.Created));
            }
        }

        return new FollowedMessages(items, rows.Count, nextXid, more);
    }

    private static async Task<List<Row>> ReadRowsAsync(NpgsqlCommand command, CancellationToken ct)
    {
        var rows = new List<Row>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new Row(ParseXid(reader.GetString(0)), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetFieldValue<byte[]>(4), reader.GetInt64(5)));
        }

        return rows;
    }

    /// <summary>A 64-bit transaction id (<c>xid8</c>) as PostgreSQL writes it; below 2^63 for any database that will ever run.</summary>
    private static long ParseXid(string text) => long.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);

    private sealed record Row(long Xid, string Namespace, string DialogueId, string Id, byte[] Content, long Created);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Search: the indexer's place among new messages ({Cursor}) is ahead of this " +
        "database's transactions ({Next}), as after restoring a dump into another cluster; it follows every message again " +
        "from the start (items already indexed are indexed again)")]
    private static partial void LogCursorAhead(ILogger logger, long cursor, long next);
}
