using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// The index identity columns of <c>search_namespaces</c> for an embedded database made before them (PostgreSQL gets
/// them from the SearchIndexIdentity migration). Indexes from then were built by the in-process model with analysis
/// format 1 under a token key not recorded (<c>k0</c>): the indexer re-indexes them over themselves (same vectors), and
/// they stay searchable meanwhile.
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
}
