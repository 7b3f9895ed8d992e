using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// Columns added to search tables since an embedded database was made (PostgreSQL gets them from its migrations). The
/// index identity columns of <c>search_namespaces</c> (the SearchIndexIdentity migration): indexes from then were built
/// by the in-process model with analysis format 1 under a token key not recorded (<c>k0</c>): the indexer re-indexes
/// them over themselves (same vectors), and they stay searchable meanwhile. The retry columns of
/// <c>search_vector_queue</c> (the SearchVectorRetries migration): entries failed before are due at once. The postings
/// column of <c>search_items</c> (the SearchTermsInItems migration), which replaced the <c>search_terms</c> table: the
/// analysis format went up with it, so the indexer indexes every item again and its postings land in the new column;
/// the version index lost its kind column then (the new one is created with the schema, the old one dropped here). The
/// dialogue in the keys of <c>search_items</c> and <c>search_vector_queue</c> (the SearchKeysMessagesByDialogue
/// migration): SQLite cannot change a primary key in place, so both tables are dropped before the schema is created
/// again and every index is rebuilt (<see cref="DropItemsKeyedByIdAsync"/>).
/// </summary>
internal static class SearchSchemaUpgrade
{
    public const string LegacyIdentity = "all-MiniLM-L6-v2/384/k0";
    public const int LegacyFormat = 1;

    public static async Task AddIdentityColumnsAsync(DbContext db, CancellationToken ct)
    {
        var columns = await ColumnsAsync(db, "search_namespaces", keyOnly: false, ct);
        if (columns.Count == 0 || columns.Contains("model"))
        {
            return;
        }

        await db.Database.ExecuteSqlRawAsync($"""
            ALTER TABLE search_namespaces ADD COLUMN model TEXT NULL;
            ALTER TABLE search_namespaces ADD COLUMN format INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE search_namespaces ADD COLUMN rebuild_cursor TEXT NULL;
            UPDATE search_namespaces SET model = '{LegacyIdentity}', format = {LegacyFormat};
            """, ct);
    }

    public static async Task AddRetryColumnsAsync(DbContext db, CancellationToken ct)
    {
        var columns = await ColumnsAsync(db, "search_vector_queue", keyOnly: false, ct);
        if (columns.Count == 0 || columns.Contains("attempts"))
        {
            return;
        }

        await db.Database.ExecuteSqlRawAsync("""
            ALTER TABLE search_vector_queue ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE search_vector_queue ADD COLUMN next_attempt INTEGER NOT NULL DEFAULT 0;
            """, ct);
    }

    /// <summary>
    /// Before the schema is created: drops index tables keyed by item id alone (where two dialogues' messages of one id
    /// collided), so the schema creates them keyed by dialogue too. Their namespaces' indexes then hold nothing: each is
    /// marked emptied (caches reload) and, built by an analysis format before <see cref="KeywordAnalyzer.DialogueKeyedFormat"/>,
    /// is rebuilt from the stored items by the indexer (<see cref="SearchRebuild"/>).
    /// </summary>
    public static async Task DropItemsKeyedByIdAsync(DbContext db, CancellationToken ct)
    {
        var key = await ColumnsAsync(db, "search_items", keyOnly: true, ct);
        if (key.Count == 0 || key.Contains("dialogue_id"))
        {
            return;
        }

        await db.Database.ExecuteSqlRawAsync("""
            DROP TABLE search_items;
            DROP TABLE IF EXISTS search_vector_queue;
            DROP TABLE IF EXISTS search_terms;
            UPDATE search_namespaces SET items = 0, total_length = 0, version = version + 1, floor = version + 1;
            """, ct);
    }

    public static async Task MoveTermsIntoItemsAsync(DbContext db, CancellationToken ct)
    {
        var columns = await ColumnsAsync(db, "search_items", keyOnly: false, ct);
        if (columns.Count == 0 || columns.Contains("terms"))
        {
            return;
        }

        await db.Database.ExecuteSqlRawAsync("""
            ALTER TABLE search_items ADD COLUMN terms BLOB NULL;
            DROP TABLE IF EXISTS search_terms;
            DROP INDEX IF EXISTS IX_search_items_namespace_kind_version;
            """, ct);
    }

    /// <summary>The columns of an embedded table (of its primary key only, with <paramref name="keyOnly"/>); none when it does not exist yet.</summary>
    private static Task<List<string>> ColumnsAsync(DbContext db, string table, bool keyOnly, CancellationToken ct) =>
        db.Database.SqlQuery<string>(keyOnly
                ? (FormattableString)$"SELECT name AS \"Value\" FROM pragma_table_info({table}) WHERE pk > 0"
                : $"SELECT name AS \"Value\" FROM pragma_table_info({table})")
            .ToListAsync(ct);
}
