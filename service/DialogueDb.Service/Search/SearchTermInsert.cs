using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace DialogueDb.Service.Search;

/// <summary>
/// Writes a batch's blind-index postings (tens per item) in the indexing transaction. On PostgreSQL one statement over
/// arrays: EF Core would send one INSERT per posting, which made the keyword step cost the database more per append
/// than the append itself. SQLite (embedded, one writer) keeps EF Core.
/// </summary>
internal static class SearchTermInsert
{
    private const string Insert = $"""
        INSERT INTO {SearchRowConfigurations.TermsTable} (namespace, kind, token, item_id, frequency)
        SELECT $1, t.kind, t.token, t.item_id, t.frequency
        FROM unnest($2::varchar[], $3::bytea[], $4::varchar[], $5::int[]) AS t(kind, token, item_id, frequency)
        """;

    public static async Task InsertAsync(DialogueDbContext db, string ns, IReadOnlyList<SearchTermRow> terms, CancellationToken ct)
    {
        if (terms.Count == 0)
        {
            return;
        }

        if (!db.Database.IsNpgsql())
        {
            db.SearchTerms.AddRange(terms);
            await db.SaveChangesAsync(ct);
            return;
        }

        var transaction = db.Database.CurrentTransaction?.GetDbTransaction() as NpgsqlTransaction
            ?? throw new InvalidOperationException("Search postings are written inside the indexing transaction.");
        await using var command = new NpgsqlCommand(Insert, (NpgsqlConnection)db.Database.GetDbConnection(), transaction);
        command.Parameters.Add(NamespaceBatches.Value(ns));
        command.Parameters.Add(NamespaceBatches.Value(terms.Select(t => t.Kind).ToArray()));
        command.Parameters.Add(NamespaceBatches.Value(terms.Select(t => t.Token).ToArray()));
        command.Parameters.Add(NamespaceBatches.Value(terms.Select(t => t.ItemId).ToArray()));
        command.Parameters.Add(NamespaceBatches.Value(terms.Select(t => t.Frequency).ToArray()));
        await command.ExecuteNonQueryAsync(ct);
    }
}
