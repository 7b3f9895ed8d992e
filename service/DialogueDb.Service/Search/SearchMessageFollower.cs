using System.Globalization;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Search;

/// <summary>
/// PostgreSQL: how the indexer finds appended messages without a <c>search_queue</c> row per append. Every message row
/// records the transaction that wrote it (<c>messages.xid</c>, filled in by the database), and the indexer follows new
/// rows in transaction order past its cursor (<c>search_message_cursor.next_xid</c>: every message of a lower transaction
/// is indexed), as the outbox relay follows events: it reads only rows of transactions older than every transaction still
/// running (<c>pg_snapshot_xmin</c>), so no message can commit behind the cursor later. A long-running writing transaction
/// holds new messages back from search until it ends (as it holds back events). The cursor moves after the batch's index
/// writes committed: a crash in between indexes the batch again, which is harmless. Deletions, memories and rebuilds still
/// go through the queue; the embedded database (one writer at a time) queues appends too.
/// </summary>
internal sealed class SearchMessageFollower(SearchDocuments documents)
{
    public const int BatchSize = SearchIndexer.BatchSize;

    private static readonly string Next = $"""
        SELECT m.xid::text, m.namespace, m.dialogue_id, m.id, m.content, m.created
        FROM search_message_cursor c
        CROSS JOIN LATERAL (
            SELECT * FROM messages x
            WHERE x.xid >= c.next_xid AND x.xid < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY x.xid LIMIT {BatchSize}) m
        """;

    /// <summary>All of one transaction's messages, when one transaction wrote more than a batch.</summary>
    private const string AllOf = """
        SELECT m.xid::text, m.namespace, m.dialogue_id, m.id, m.content, m.created
        FROM messages m WHERE m.xid = $1::text::xid8
        """;

    /// <summary>
    /// The next messages to index, whole transactions only, and where the cursor goes once they are indexed. A batch cut
    /// short by its size leaves its last transaction's rows to the next batch, unless the whole batch is that transaction's
    /// (a large batch append): then all of its rows are read.
    /// </summary>
    public async Task<FollowedMessages> ReadAsync(DialogueDbContext db, CancellationToken ct)
    {
        await db.Database.OpenConnectionAsync(ct);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        var rows = await ReadRowsAsync(new NpgsqlCommand(Next, connection), ct);
        if (rows.Count == 0)
        {
            return FollowedMessages.None;
        }

        var last = rows[^1].Xid;
        var full = rows.Count == BatchSize;
        if (full && rows[0].Xid == last)
        {
            var all = new NpgsqlCommand(AllOf, connection);
            all.Parameters.Add(new NpgsqlParameter<string> { TypedValue = last.ToString(CultureInfo.InvariantCulture) });
            rows = await ReadRowsAsync(all, ct);
        }
        else if (full)
        {
            rows.RemoveAll(r => r.Xid == last);
            return Followed(rows, nextXid: last, full: true);
        }

        return Followed(rows, nextXid: last + 1, full);
    }

    /// <summary>Moves the cursor past a batch whose index writes committed (never back).</summary>
    public static async Task AdvanceAsync(DialogueDbContext db, long nextXid, CancellationToken ct)
    {
        var value = nextXid.ToString(CultureInfo.InvariantCulture);
        await db.Database.ExecuteSqlAsync(
            $"UPDATE search_message_cursor SET next_xid = {value}::text::xid8 WHERE next_xid < {value}::text::xid8", ct);
    }

    /// <summary>Messages written past the cursor (the backlog gauge, read behind a full batch only).</summary>
    public static async Task<long> CountAheadAsync(DialogueDbContext db, CancellationToken ct) =>
        await db.Database.SqlQuery<long>(
            $"SELECT count(*) AS \"Value\" FROM messages m, search_message_cursor c WHERE m.xid >= c.next_xid").SingleAsync(ct);

    private FollowedMessages Followed(List<Row> rows, long nextXid, bool full)
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

        return new FollowedMessages(items, rows.Count, nextXid, full);
    }

    private static async Task<List<Row>> ReadRowsAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using (command)
        {
            var rows = new List<Row>();
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                rows.Add(new Row(long.Parse(reader.GetString(0), CultureInfo.InvariantCulture), reader.GetString(1), reader.GetString(2),
                    reader.GetString(3), reader.GetFieldValue<byte[]>(4), reader.GetInt64(5)));
            }

            return rows;
        }
    }

    private sealed record Row(long Xid, string Namespace, string DialogueId, string Id, byte[] Content, long Created);
}
