using DialogueDb.Service.Api.Dialogues;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Storage;
using Npgsql;

namespace DialogueDb.Service.Api.Messages;

/// <summary>
/// The append on PostgreSQL. The fast path is one round trip: one batch (one implicit transaction) that binds the
/// namespace, then one statement that updates the dialogue row (its lock orders concurrent appends and hands out the
/// sequence numbers), counts the messages on a free quota stripe and inserts the messages, then inserts the audit events.
/// It takes the request's clock as the timestamp and succeeds only if no message of the dialogue is newer; any
/// surprise (a missing or ended dialogue, a newer message, no free stripe, a taken client id) makes the statement fail
/// (a NULL sequence number or a unique violation) and the whole batch roll back, and the locked path below then
/// finds out which, in a transaction of several round trips.
/// </summary>
internal sealed partial class MessageAppender
{
    private static readonly string InsertColumns = """
        INSERT INTO messages (namespace, dialogue_id, seq, id, role, name, content, content_length, tags, metadata, created, modified)
        """;

    /// <summary>$1 namespace, $2 dialogue, $3 stamp (modified), $4–$11 the message arrays, in request order.</summary>
    private static string InsertRows(string firstSeq) => $"""
        SELECT $1, $2, {firstSeq} + m.n - 1, m.id, m.role, m.name, m.content, m.content_length, m.tags, m.metadata, m.created, $3
        FROM unnest($4::varchar[], $5::text[], $6::bytea[], $7::bytea[], $8::int[], $9::text[], $10::text[], $11::bigint[])
            WITH ORDINALITY AS m(id, role, name, content, content_length, tags, metadata, created, n)
        """;

    /// <summary>$12 count, $13 latest created; with a limit also $14 period, $15 kind, $16 limit, $17 preferred stripe.</summary>
    private static readonly string LockDialogue = $"""
        dialogue AS (
            UPDATE dialogues SET last_seq = last_seq + $12, total_messages = total_messages + $12,
                last_message_created = GREATEST(COALESCE(last_message_created, $13), $13), modified = $3
            WHERE namespace = $1 AND id = $2 AND status = '{DialogueApi.Active}' AND COALESCE(last_message_created, $3) <= $3
            RETURNING last_seq - $12 + 1 AS first_seq)
        """;

    /// <summary>
    /// The one-message form of <see cref="InsertRows"/> (most appends): the same parameters as scalars, without the
    /// arrays to encode, decode and unnest (one message per transaction: PostgreSQL's insert is ~15% cheaper).
    /// </summary>
    private static string InsertRow(string seq) =>
        $"SELECT $1, $2, {seq}, $4::varchar, $5::text, $6::bytea, $7::bytea, $8::int, $9::text, $10::text, $11::bigint, $3";

    private const string FirstSeq = "(SELECT first_seq FROM dialogue)";
    private const string FirstSeqCounted = "((SELECT first_seq FROM dialogue) + (SELECT taken FROM quota))";

    private static readonly string FastAppend = $"WITH {LockDialogue}\n{InsertColumns}\n{InsertRows(FirstSeq)}";
    private static readonly string FastAppendOne = $"WITH {LockDialogue}\n{InsertColumns}\n{InsertRow(FirstSeq)}";

    // No free stripe: the quota CTE yields no row, the sum is NULL, and the NOT NULL sequence number aborts the statement.
    private static readonly string CountedPrefix =
        $"WITH {LockDialogue},\n{PlanQuotas.TakeStripeCte("quota", "$12", "$14", "$15", "$16", "$17")}\n{InsertColumns}\n";

    private static readonly string FastAppendCounted = CountedPrefix + InsertRows(FirstSeqCounted);
    private static readonly string FastAppendCountedOne = CountedPrefix + InsertRow(FirstSeqCounted);

    private static readonly string LockedInsert = $"{InsertColumns}\n{InsertRows("$12")}";

    private async Task<(IReadOnlyList<AppendedMessage>? Messages, ApiError? Error)> AppendInBatchAsync(NamespaceBatches batches,
        Actor actor, string ns, string dialogueId, IReadOnlyList<MessageInput> inputs, CancellationToken ct)
    {
        if (quotas.CheckRequests() is { } overRequests)
        {
            return (null, overRequests);
        }

        var messages = Prepare(ns, dialogueId, inputs);
        var stamp = Timestamps.Now(time);
        var latest = Stamp(messages, inputs, stamp);
        var limit = quotas.LimitOf(QuotaKind.Messages);
        await using var connection = await batches.OpenAsync(ct);
        await using (var batch = NamespaceBatches.Create(connection, ns))
        {
            var one = messages.Count == 1;
            var append = NamespaceBatches.Command((limit is null, one) switch
            {
                (true, true) => FastAppendOne,
                (true, false) => FastAppend,
                (false, true) => FastAppendCountedOne,
                (false, false) => FastAppendCounted,
            }, one ? RowParameters(ns, dialogueId, stamp, messages[0].Row) : RowParameters(ns, dialogueId, stamp, messages));
            append.Parameters.Add(NamespaceBatches.Value((long)messages.Count));
            append.Parameters.Add(NamespaceBatches.Value(latest));
            if (limit is { } max)
            {
                append.Parameters.Add(NamespaceBatches.Value(quotas.PeriodOf(QuotaKind.Messages)));
                append.Parameters.Add(NamespaceBatches.Value(PlanQuotas.Name(QuotaKind.Messages)));
                append.Parameters.Add(NamespaceBatches.Value(max));
                append.Parameters.Add(NamespaceBatches.Value(quotas.NextStripe()));
            }

            batch.BatchCommands.Add(append);
            batch.BatchCommands.Add(AuditOutbox.InsertCommand(ns, dialogueId, Events(actor, ns, messages)));

            try
            {
                await batch.ExecuteNonQueryAsync(ct);
                return (messages, null);
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.NotNullViolation or PostgresErrorCodes.UniqueViolation)
            {
                // Rolled back as a whole; the locked path finds out why and answers, or writes.
            }
        }

        return await AppendLockedAsync(connection, actor, ns, dialogueId, inputs, messages, ct);
    }

    /// <summary>
    /// The careful append: quota stripes first (when counted), then the dialogue's row lock, under which the clock is read
    /// (never earlier than the previous message), the client ids are checked and the rows written; then the commit.
    /// </summary>
    private async Task<(IReadOnlyList<AppendedMessage>? Messages, ApiError? Error)> AppendLockedAsync(NpgsqlConnection connection,
        Actor actor, string ns, string dialogueId, IReadOnlyList<MessageInput> inputs, List<AppendedMessage> messages, CancellationToken ct)
    {
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var bind = NamespaceBatches.Create(connection, ns, transaction))
        {
            await bind.ExecuteNonQueryAsync(ct);
        }

        if (await quotas.ConsumeLockedAsync(connection, transaction, QuotaKind.Messages, messages.Count, ct) is { } overQuota)
        {
            return (null, overQuota);
        }

        long lastSeq;
        long? lastCreated;
        await using (var select = new NpgsqlCommand(
            "SELECT status, last_seq, last_message_created FROM dialogues WHERE namespace = $1 AND id = $2 FOR UPDATE", connection, transaction))
        {
            select.Parameters.Add(NamespaceBatches.Value(ns));
            select.Parameters.Add(NamespaceBatches.Value(dialogueId));
            await using var reader = await select.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                return (null, ApiErrors.DialogueNotFound(dialogueId));
            }

            if (reader.GetString(0) != DialogueApi.Active)
            {
                return (null, ApiErrors.DialogueEnded(dialogueId));
            }

            lastSeq = reader.GetInt64(1);
            lastCreated = reader.IsDBNull(2) ? null : reader.GetInt64(2);
        }

        if (await TakenIdAsync(connection, transaction, ns, dialogueId, inputs, ct) is { } taken)
        {
            return (null, ApiErrors.DuplicateId(taken));
        }

        var stamp = Math.Max(Timestamps.Now(time), lastCreated ?? long.MinValue);
        var latest = Math.Max(Stamp(messages, inputs, stamp), lastCreated ?? long.MinValue);
        await using (var write = new NpgsqlBatch(connection, transaction))
        {
            write.BatchCommands.Add(NamespaceBatches.Command("""
                UPDATE dialogues SET last_seq = last_seq + $3, total_messages = total_messages + $3, last_message_created = $4, modified = $5
                WHERE namespace = $1 AND id = $2
                """, NamespaceBatches.Value(ns), NamespaceBatches.Value(dialogueId), NamespaceBatches.Value((long)messages.Count),
                NamespaceBatches.Value(latest), NamespaceBatches.Value(stamp)));
            var insert = NamespaceBatches.Command(LockedInsert, RowParameters(ns, dialogueId, stamp, messages));
            insert.Parameters.Add(NamespaceBatches.Value(lastSeq + 1));
            write.BatchCommands.Add(insert);
            write.BatchCommands.Add(AuditOutbox.InsertCommand(ns, dialogueId, Events(actor, ns, messages)));

            await write.ExecuteNonQueryAsync(ct);
        }

        await transaction.CommitAsync(ct);
        return (messages, null);
    }

    private static async Task<string?> TakenIdAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string ns,
        string dialogueId, IReadOnlyList<MessageInput> inputs, CancellationToken ct)
    {
        string[] clientIds = [.. inputs.Where(i => i.Id is not null).Select(i => i.Id!)];
        if (clientIds.Length == 0)
        {
            return null;
        }

        await using var command = new NpgsqlCommand(
            "SELECT id FROM messages WHERE namespace = $1 AND dialogue_id = $2 AND id = ANY($3) LIMIT 1", connection, transaction);
        command.Parameters.Add(NamespaceBatches.Value(ns));
        command.Parameters.Add(NamespaceBatches.Value(dialogueId));
        command.Parameters.Add(NamespaceBatches.Value(clientIds));
        return await command.ExecuteScalarAsync(ct) as string;
    }

    /// <summary>Parameters $1–$11 of <see cref="InsertRow"/>.</summary>
    private static NpgsqlParameter[] RowParameters(string ns, string dialogueId, long stamp, MessageRow row) =>
    [
        NamespaceBatches.Value(ns), NamespaceBatches.Value(dialogueId), NamespaceBatches.Value(stamp),
        NamespaceBatches.Value(row.Id), NamespaceBatches.Value(row.Role), NamespaceBatches.Value(row.Name),
        NamespaceBatches.Value(row.Content), NamespaceBatches.Value(row.ContentLength), NamespaceBatches.Value(row.Tags),
        NamespaceBatches.Value(row.Metadata), NamespaceBatches.Value(row.Created),
    ];

    /// <summary>Parameters $1–$11 of <see cref="InsertRows"/>.</summary>
    private static NpgsqlParameter[] RowParameters(string ns, string dialogueId, long stamp, List<AppendedMessage> messages)
    {
        var rows = messages.Select(m => m.Row).ToList();
        return
        [
            NamespaceBatches.Value(ns), NamespaceBatches.Value(dialogueId), NamespaceBatches.Value(stamp),
            NamespaceBatches.Value(rows.Select(r => r.Id).ToArray()),
            NamespaceBatches.Value(rows.Select(r => r.Role).ToArray()),
            NamespaceBatches.Value(rows.Select(r => r.Name).ToArray()),
            NamespaceBatches.Value(rows.Select(r => r.Content).ToArray()),
            NamespaceBatches.Value(rows.Select(r => r.ContentLength).ToArray()),
            NamespaceBatches.Value(rows.Select(r => r.Tags).ToArray()),
            NamespaceBatches.Value(rows.Select(r => r.Metadata).ToArray()),
            NamespaceBatches.Value(rows.Select(r => r.Created).ToArray()),
        ];
    }
}
