using DialogueDb.Service.Tests.Infrastructure;
using Npgsql;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// PostgreSQL: the keyword step's purge of removed-item markers (<c>SearchItemIndexer</c>, every 256 index versions,
/// inside its transaction) reads the markers only, however many items the namespace holds. Through the version index it
/// read every item below the version (240 ms at 345,000 items), and the audit relay publishes nothing newer than a
/// transaction that is still open.
/// </summary>
public sealed class SearchMarkerPurgeTests
{
    private const int Items = 20_000;
    private const int Markers = 10;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Postgres_MarkerPurge_ReadsTheMarkersNotEveryItem()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        await using var connection = new NpgsqlConnection(database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        await using (var fill = new NpgsqlCommand($"""
            INSERT INTO search_items (namespace, kind, item_id, version, length, terms, vectors)
            SELECT 'n1', 'message', 'm' || i, i, 3, '\x01', CASE WHEN i % {Items / Markers} = 0 THEN NULL ELSE '\x02'::bytea END
            FROM generate_series(1, {Items}) AS i;
            INSERT INTO search_items (namespace, kind, item_id, version, length, terms, vectors)
            SELECT 'n2', 'message', 'm' || i, i, 3, '\x01', '\x02' FROM generate_series(1, {Items}) AS i;
            ANALYZE search_items;
            """, connection))
        {
            await fill.ExecuteNonQueryAsync(Ct);
        }

        // The statement as EF Core sends it for the purge (SearchItemIndexer), run and rolled back.
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        await using var explain = new NpgsqlCommand("""
            EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT)
            DELETE FROM search_items AS s
            WHERE s.namespace = $1 AND s.kind = $2 AND s.vectors IS NULL AND s.version < $3
            """, connection, transaction);
        explain.Parameters.Add(new NpgsqlParameter<string> { TypedValue = "n1" });
        explain.Parameters.Add(new NpgsqlParameter<string> { TypedValue = "message" });
        explain.Parameters.Add(new NpgsqlParameter<long> { TypedValue = Items + 1 });
        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct))
            {
                plan.Add(reader.GetString(0));
            }
        }

        await transaction.RollbackAsync(Ct);
        var text = string.Join('\n', plan);
        Assert.Contains("IX_search_items_markers", text);
        // Buffers the statement touched (the first line is the root node's, children included; planning's come last):
        // the markers' heap pages and a few index pages, not the pages of the namespace's 20,000 rows.
        var buffers = plan.First(l => l.TrimStart().StartsWith("Buffers:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(p => p.Contains('=', StringComparison.Ordinal))
            .Sum(p => long.Parse(p[(p.IndexOf('=', StringComparison.Ordinal) + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.InRange(buffers, 1, 100);
        Assert.Contains($"rows={Markers}", text);
    }
}
