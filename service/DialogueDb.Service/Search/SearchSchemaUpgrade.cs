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
/// the version index lost its kind column then (the new one is created with the schema, the old one dropped here).
/// </summary>
internal static class SearchSchemaUpgrade
{
    public const string LegacyIdentity = "all-MiniLM-L6-v2/384/k0";
    public const int LegacyFormat = 1;

    public static async Task AddIdentityColumnsAsync(DbContext db, CancellationToken ct)
    {
        var columns = await db.Database
            .SqlQueryRaw<string>("SELECT name AS \"Value\" FROM pragma_table_info('search_namespaces')").ToListAsync(ct);
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
        var columns = await db.Database
            .SqlQueryRaw<string>("SELECT name AS \"Value\" FROM pragma_table_info('search_vector_queue')").ToListAsync(ct);
        if (columns.Count == 0 || columns.Contains("attempts"))
        {
            return;
        }

        await db.Database.ExecuteSqlRawAsync("""
            ALTER TABLE search_vector_queue ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE search_vector_queue ADD COLUMN next_attempt INTEGER NOT NULL DEFAULT 0;
            """, ct);
    }

    public static async Task MoveTermsIntoItemsAsync(DbContext db, CancellationToken ct)
    {
        var columns = await db.Database
            .SqlQueryRaw<string>("SELECT name AS \"Value\" FROM pragma_table_info('search_items')").ToListAsync(ct);
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
}
