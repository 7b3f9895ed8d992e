using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// Index rows of one namespace and kind by item id, tracked (the indexer changes them). On PostgreSQL each id is looked
/// up on its own through the primary key whatever the statistics say: while a table is young (not yet analysed, e.g.
/// the first minute of a project) the planner took "item_id = any(…)" as a filter over every item of the namespace
/// (seen at 2,600 buffers for 128 ids). The <c>OFFSET 0</c> keeps the per-id lookup from being flattened into a join.
/// </summary>
internal static class SearchItemLookup
{
    public static async Task<List<SearchItemRow>> ByIdsAsync(DialogueDbContext db, string ns, string kind,
        IReadOnlyCollection<string> ids, CancellationToken ct)
    {
        if (!db.Database.IsNpgsql())
        {
            return await db.SearchItems.IgnoreQueryFilters()
                .Where(i => i.Namespace == ns && i.Kind == kind && ids.Contains(i.ItemId)).ToListAsync(ct);
        }

        var idArray = ids.ToArray();
        return await db.SearchItems.FromSql($"""
            SELECT s.* FROM unnest({idArray}::varchar[]) AS k(item_id)
            CROSS JOIN LATERAL (
                SELECT * FROM search_items x WHERE x.namespace = {ns} AND x.kind = {kind} AND x.item_id = k.item_id OFFSET 0) s
            """).IgnoreQueryFilters().ToListAsync(ct);
    }
}
