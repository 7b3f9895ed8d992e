using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// What <c>dialoguedb reindex</c> writes and reads: it asks the active indexer to rebuild namespace indexes (clears
/// their model, so they no longer match any indexer's identity; see <see cref="SearchRebuild"/>) and follows its
/// progress. Rebuilds already in progress are left to go on from their cursor. Namespaces with stored data but no index
/// yet (written while search was off, or restored from a backup) get one. Runs as the maintenance role; memory stays
/// bounded by a page of namespace names.
/// </summary>
internal sealed class SearchReindexRequest(Func<DialogueDbContext> newContext, string? onlyNamespace)
{
    private const int Page = 1000;

    /// <summary>Requests the rebuilds; returns how many namespace indexes (namespace and kind) were asked for.</summary>
    public async Task<long> RequestAsync(CancellationToken ct)
    {
        await using var db = newContext();
        long requested = await db.SearchNamespaces.IgnoreQueryFilters()
            .Where(n => (onlyNamespace == null || n.Namespace == onlyNamespace) && n.RebuildCursor == null)
            .ExecuteUpdateAsync(u => u.SetProperty(n => n.Model, (string?)null), ct);
        if (onlyNamespace is not null)
        {
            return requested + await AddMissingAsync(db, [onlyNamespace], ct);
        }

        foreach (var source in new Func<string, Task<List<string>>>[]
                 {
                     after => db.Dialogues.IgnoreQueryFilters().Where(d => string.Compare(d.Namespace, after) > 0)
                         .Select(d => d.Namespace).Distinct().OrderBy(n => n).Take(Page).ToListAsync(ct),
                     after => db.Memories.IgnoreQueryFilters().Where(m => string.Compare(m.Namespace, after) > 0)
                         .Select(m => m.Namespace).Distinct().OrderBy(n => n).Take(Page).ToListAsync(ct),
                 })
        {
            for (var after = ""; ;)
            {
                var names = await source(after);
                requested += await AddMissingAsync(db, names, ct);
                if (names.Count < Page)
                {
                    break;
                }

                after = names[^1];
            }
        }

        return requested;
    }

    /// <summary>
    /// Namespace indexes not yet rebuilt by an indexer of <paramref name="identity"/>, and the items queued for them
    /// (for keywords or for vectors; items the embedder refused again are not waited for).
    /// </summary>
    public async Task<(long Rebuilding, long Queued)> ProgressAsync(string identity, CancellationToken ct)
    {
        await using var db = newContext();
        var rebuilding = await db.SearchNamespaces.IgnoreQueryFilters()
            .Where(n => onlyNamespace == null || n.Namespace == onlyNamespace)
            .LongCountAsync(n => n.Model == null || n.Model != identity || n.Format != KeywordAnalyzer.Format
                || n.RebuildCursor != null, ct);
        var queued = await db.SearchQueue.IgnoreQueryFilters()
            .LongCountAsync(q => onlyNamespace == null || q.Namespace == onlyNamespace, ct);
        queued += await db.SearchVectorQueue.LongCountAsync(q => !q.Failed && (onlyNamespace == null || q.Namespace == onlyNamespace), ct);
        return (rebuilding, queued);
    }

    private static async Task<long> AddMissingAsync(DialogueDbContext db, List<string> names, CancellationToken ct)
    {
        if (names.Count == 0)
        {
            return 0;
        }

        var existing = (await db.SearchNamespaces.IgnoreQueryFilters().AsNoTracking().Where(n => names.Contains(n.Namespace))
            .Select(n => new { n.Namespace, n.Kind }).ToListAsync(ct)).Select(n => (n.Namespace, n.Kind)).ToHashSet();
        var added = 0;
        foreach (var name in names)
        {
            foreach (var kind in SearchRebuild.Kinds.Where(k => !existing.Contains((name, k))))
            {
                db.SearchNamespaces.Add(new SearchNamespaceRow { Namespace = name, Kind = kind, Model = null });
                added++;
            }
        }

        await db.SaveChangesAsync(ct);
        db.ChangeTracker.Clear();
        return added;
    }
}
