using DialogueDb.Service.Api;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Storage;

/// <summary>
/// The reads every client makes most: one dialogue, one message, a page of a dialogue's messages. On PostgreSQL each
/// is one round trip (<see cref="NamespaceBatches.Read"/>: the namespace bound for the batch's own transaction,
/// statements prepared, connections multiplexed); on SQLite they go through the request's EF Core context, taken from
/// its services only there (building a context the PostgreSQL path never uses cost ~8 µs of a ~200 µs read).
/// </summary>
internal sealed class ItemReads(NamespaceBatches? batches)
{
    private const string DialogueColumns =
        "namespace, id, status, label, thread_of, tags, metadata, state, created, modified, ended_at, total_messages, " +
        "thread_count, last_message_created, last_seq";

    private const string MessageColumns =
        "namespace, dialogue_id, seq, id, role, name, content, content_length, tags, metadata, created, modified";

    // Keyset pages over the primary key (namespace, dialogue_id, seq): a page of a 100,000-message dialogue is one range
    // scan. Absent bounds are the widest values, so one prepared statement serves every page in each direction.
    private const string MessagePageFilter = """
        FROM messages WHERE namespace = $1 AND dialogue_id = $2
            AND created >= COALESCE($3, -9223372036854775808) AND created < COALESCE($4, 9223372036854775807)
        """;

    private const string MessagePageAscending =
        $"SELECT {MessageColumns} {MessagePageFilter} AND seq > COALESCE($5, -1) ORDER BY seq LIMIT $6";

    private const string MessagePageDescending =
        $"SELECT {MessageColumns} {MessagePageFilter} AND seq < COALESCE($5, 9223372036854775807) ORDER BY seq DESC LIMIT $6";

    public async Task<DialogueRow?> DialogueAsync(IServiceProvider services, string ns, string id, CancellationToken ct)
    {
        if (batches is null)
        {
            var db = services.GetRequiredService<DialogueDbContext>();
            await db.UseNamespaceAsync(ns, ct);
            return await db.Dialogues.AsNoTracking().FirstOrDefaultAsync(d => d.Namespace == ns && d.Id == id, ct);
        }

        await using var batch = batches.Read(ns);
        batch.BatchCommands.Add(NamespaceBatches.Command($"SELECT {DialogueColumns} FROM dialogues WHERE namespace = $1 AND id = $2",
            NamespaceBatches.Value(ns), NamespaceBatches.Value(id)));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        await reader.NextResultAsync(ct);
        return await reader.ReadAsync(ct) ? ReadDialogue(reader) : null;
    }

    public async Task<MessageRow?> MessageAsync(IServiceProvider services, string ns, string dialogueId, string id, CancellationToken ct)
    {
        if (batches is null)
        {
            var db = services.GetRequiredService<DialogueDbContext>();
            await db.UseNamespaceAsync(ns, ct);
            return await db.Messages.AsNoTracking()
                .FirstOrDefaultAsync(m => m.Namespace == ns && m.DialogueId == dialogueId && m.Id == id, ct);
        }

        await using var batch = batches.Read(ns);
        batch.BatchCommands.Add(NamespaceBatches.Command(
            $"SELECT {MessageColumns} FROM messages WHERE namespace = $1 AND dialogue_id = $2 AND id = $3",
            NamespaceBatches.Value(ns), NamespaceBatches.Value(dialogueId), NamespaceBatches.Value(id)));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        await reader.NextResultAsync(ct);
        return await reader.ReadAsync(ct) ? ReadMessage(reader) : null;
    }

    /// <summary>One page of a dialogue's messages by sequence, with one extra row; null when the dialogue does not exist.</summary>
    public async Task<List<MessageRow>?> MessagePageAsync(IServiceProvider services, string ns, string dialogueId, ListQuery query,
        CancellationToken ct)
    {
        if (batches is null)
        {
            return await MessagePageWithContextAsync(services.GetRequiredService<DialogueDbContext>(), ns, dialogueId, query, ct);
        }

        await using var batch = batches.Read(ns);
        batch.BatchCommands.Add(NamespaceBatches.Command("SELECT EXISTS (SELECT FROM dialogues WHERE namespace = $1 AND id = $2)",
            NamespaceBatches.Value(ns), NamespaceBatches.Value(dialogueId)));
        batch.BatchCommands.Add(NamespaceBatches.Command(query.Descending ? MessagePageDescending : MessagePageAscending,
            NamespaceBatches.Value(ns), NamespaceBatches.Value(dialogueId), NamespaceBatches.Value(query.CreatedFrom),
            NamespaceBatches.Value(query.CreatedBefore), NamespaceBatches.Value(query.After?.Key),
            NamespaceBatches.Value(query.Limit + 1)));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        await reader.NextResultAsync(ct);
        if (!await reader.ReadAsync(ct) || !reader.GetBoolean(0))
        {
            return null;
        }

        await reader.NextResultAsync(ct);
        var page = new List<MessageRow>(query.Limit + 1);
        while (await reader.ReadAsync(ct))
        {
            page.Add(ReadMessage(reader));
        }

        return page;
    }

    private static async Task<List<MessageRow>?> MessagePageWithContextAsync(DialogueDbContext db, string ns, string dialogueId,
        ListQuery query, CancellationToken ct)
    {
        await db.UseNamespaceAsync(ns, ct);
        if (!await db.Dialogues.AnyAsync(d => d.Namespace == ns && d.Id == dialogueId, ct))
        {
            return null;
        }

        var rows = db.Messages.AsNoTracking().Where(m => m.Namespace == ns && m.DialogueId == dialogueId);
        if (query.CreatedFrom is { } from)
        {
            rows = rows.Where(m => m.Created >= from);
        }

        if (query.CreatedBefore is { } before)
        {
            rows = rows.Where(m => m.Created < before);
        }

        if (query.After is { } after)
        {
            rows = query.Descending ? rows.Where(m => m.Seq < after.Key) : rows.Where(m => m.Seq > after.Key);
        }

        rows = query.Descending ? rows.OrderByDescending(m => m.Seq) : rows.OrderBy(m => m.Seq);
        return await rows.Take(query.Limit + 1).ToListAsync(ct);
    }

    private static DialogueRow ReadDialogue(NpgsqlDataReader r) => new()
    {
        Namespace = r.GetString(0),
        Id = r.GetString(1),
        Status = r.GetString(2),
        Label = r.IsDBNull(3) ? null : r.GetFieldValue<byte[]>(3),
        ThreadOf = r.IsDBNull(4) ? null : r.GetString(4),
        Tags = r.GetString(5),
        Metadata = r.GetString(6),
        State = r.GetFieldValue<byte[]>(7),
        Created = r.GetInt64(8),
        Modified = r.GetInt64(9),
        EndedAt = r.IsDBNull(10) ? null : r.GetInt64(10),
        TotalMessages = r.GetInt32(11),
        ThreadCount = r.GetInt32(12),
        LastMessageCreated = r.IsDBNull(13) ? null : r.GetInt64(13),
        LastSeq = r.GetInt64(14),
    };

    private static MessageRow ReadMessage(NpgsqlDataReader r) => new()
    {
        Namespace = r.GetString(0),
        DialogueId = r.GetString(1),
        Seq = r.GetInt64(2),
        Id = r.GetString(3),
        Role = r.GetString(4),
        Name = r.IsDBNull(5) ? null : r.GetFieldValue<byte[]>(5),
        Content = r.GetFieldValue<byte[]>(6),
        ContentLength = r.GetInt32(7),
        Tags = r.GetString(8),
        Metadata = r.GetString(9),
        Created = r.GetInt64(10),
        Modified = r.GetInt64(11),
    };
}
