using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// Index rows of one namespace and kind by key (dialogue and id), tracked (the indexer changes them). On PostgreSQL each
/// key is looked up on its own through the primary key whatever the statistics say: while a table is young (not yet
/// analysed, e.g. the first minute of a project) the planner took "item_id = any(…)" as a filter over every item of the
/// namespace (seen at 2,600 buffers for 128 ids). The <c>OFFSET 0</c> keeps the per-key lookup from being flattened into
/// a join.
/// </summary>
internal static class SearchItemLookup
{
    /// <param name="keys">Keys of one kind.</param>
    public static async Task<List<SearchItemRow>> ByKeysAsync(DialogueDbContext db, string ns, IReadOnlyCollection<SearchItemKey> keys,
        CancellationToken ct)
    {
        if (keys.Count == 0)
        {
            return [];
        }

        var kind = keys.First().Kind;
        if (!db.Database.IsNpgsql())
        {
            // The dialogues and ids of a batch also combine into keys of other items: those are left out (untracked).
            var dialogues = keys.Select(k => k.DialogueId).Distinct().ToList();
            var ids = keys.Select(k => k.ItemId).Distinct().ToList();
            var wanted = keys.ToHashSet();
            var candidates = await db.SearchItems.IgnoreQueryFilters().AsNoTracking()
                .Where(i => i.Namespace == ns && i.Kind == kind && dialogues.Contains(i.DialogueId) && ids.Contains(i.ItemId)).ToListAsync(ct);
            var rows = candidates.Where(i => wanted.Contains(i.Key)).ToList();
            db.SearchItems.AttachRange(rows);
            return rows;
        }

        var dialogueArray = keys.Select(k => k.DialogueId).ToArray();
        var idArray = keys.Select(k => k.ItemId).ToArray();
        return await db.SearchItems.FromSql($"""
            SELECT s.* FROM unnest({dialogueArray}::varchar[], {idArray}::varchar[]) AS k(dialogue_id, item_id)
            CROSS JOIN LATERAL (
                SELECT * FROM search_items x
                WHERE x.namespace = {ns} AND x.kind = {kind} AND x.dialogue_id = k.dialogue_id AND x.item_id = k.item_id OFFSET 0) s
            """).IgnoreQueryFilters().ToListAsync(ct);
    }
}
