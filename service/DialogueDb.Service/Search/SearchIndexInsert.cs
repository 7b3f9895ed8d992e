using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace DialogueDb.Service.Search;

/// <summary>
/// Writes a keyword batch's new index rows and their vector-queue entries (one each per item that was not indexed yet:
/// nearly every appended message) in the indexing transaction. On PostgreSQL one round trip of two statements over
/// arrays: through EF Core's change tracker the same rows cost about half of the keyword step's CPU in the service
/// (perf: <c>SaveChanges</c> 6% of the process's samples at the maximum append rate). SQLite (embedded, one writer)
/// keeps EF Core.
/// </summary>
internal static class SearchIndexInsert
{
    private const string InsertItems = $"""
        INSERT INTO {SearchRowConfigurations.ItemsTable} (namespace, kind, item_id, dialogue_id, version, vectors, length, terms)
        SELECT $1, i.kind, i.item_id, i.dialogue_id, i.version, i.vectors, i.length, i.terms
        FROM unnest($2::varchar[], $3::varchar[], $4::varchar[], $5::bigint[], $6::bytea[], $7::int[], $8::bytea[])
            AS i(kind, item_id, dialogue_id, version, vectors, length, terms)
        """;

    private const string InsertVectorQueue = $"""
        INSERT INTO {SearchRowConfigurations.VectorQueueTable} (namespace, kind, item_id, dialogue_id, version, enqueued, failed, attempts, next_attempt)
        SELECT $1, q.kind, q.item_id, q.dialogue_id, q.version, q.enqueued, false, 0, 0
        FROM unnest($2::varchar[], $3::varchar[], $4::varchar[], $5::bigint[], $6::bigint[]) WITH ORDINALITY AS q(kind, item_id, dialogue_id, version, enqueued, n)
        ORDER BY q.n
        """;

    public static async Task InsertAsync(DialogueDbContext db, string ns, IReadOnlyList<SearchItemRow> items,
        IReadOnlyList<SearchVectorQueueRow> queued, CancellationToken ct)
    {
        if (!db.Database.IsNpgsql())
        {
            db.SearchItems.AddRange(items);
            db.SearchVectorQueue.AddRange(queued);
            await db.SaveChangesAsync(ct);
            return;
        }

        var transaction = db.Database.CurrentTransaction?.GetDbTransaction() as NpgsqlTransaction
            ?? throw new InvalidOperationException("Search index rows are written inside the indexing transaction.");
        await using var batch = new NpgsqlBatch((NpgsqlConnection)db.Database.GetDbConnection(), transaction);
        if (items.Count > 0)
        {
            batch.BatchCommands.Add(NamespaceBatches.Command(InsertItems,
                NamespaceBatches.Value(ns),
                NamespaceBatches.Value(items.Select(i => i.Kind).ToArray()),
                NamespaceBatches.Value(items.Select(i => i.ItemId).ToArray()),
                NamespaceBatches.Value(items.Select(i => i.DialogueId).ToArray()),
                NamespaceBatches.Value(items.Select(i => i.Version).ToArray()),
                NamespaceBatches.Value(items.Select(i => i.Vectors).ToArray()),
                NamespaceBatches.Value(items.Select(i => i.Length).ToArray()),
                NamespaceBatches.Value(items.Select(i => i.Terms).ToArray())));
        }

        if (queued.Count > 0)
        {
            // Entries keep the order they were made in (their ids are the vector step's order).
            batch.BatchCommands.Add(NamespaceBatches.Command(InsertVectorQueue,
                NamespaceBatches.Value(ns),
                NamespaceBatches.Value(queued.Select(q => q.Kind).ToArray()),
                NamespaceBatches.Value(queued.Select(q => q.ItemId).ToArray()),
                NamespaceBatches.Value(queued.Select(q => q.DialogueId).ToArray()),
                NamespaceBatches.Value(queued.Select(q => q.Version).ToArray()),
                NamespaceBatches.Value(queued.Select(q => q.Enqueued).ToArray())));
        }

        if (batch.BatchCommands.Count > 0)
        {
            await batch.ExecuteNonQueryAsync(ct);
        }
    }
}
