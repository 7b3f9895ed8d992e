using System.Globalization;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

/// <summary>
/// Rebuilds namespace indexes from the stored (encrypted) items, run by the active indexer only (so nothing else writes
/// the index meanwhile). A namespace's index of one kind is rebuilt when it was built otherwise than this indexer builds
/// (<see cref="SearchIndexIdentity"/>) or when <c>dialoguedb reindex</c> asked for it (its model cleared). Vectors of
/// another model, message rows not yet keyed by their dialogue, or an explicit request, empty the index first in one
/// transaction (searches then see only items indexed anew, never vectors of two models); another keyword analysis or token key only re-indexes over it, so it stays
/// searchable. Either way it is stamped with the running identity and its stored items are queued page by page, the
/// cursor committed with each page, so a restarted indexer goes on where it stopped and memory stays bounded by a page.
/// </summary>
internal sealed class SearchRebuild(Func<string> currentIdentity, TimeProvider time)
{
    public const int PageSize = 500;

    /// <summary>Index kinds (a dialogue is found through its messages).</summary>
    public static readonly string[] Kinds = ["message", "memory"];

    /// <summary>How this indexer builds an index now (<see cref="SearchIndexIdentity"/>).</summary>
    public string Identity => currentIdentity();

    /// <summary>
    /// Does one step of the first namespace that needs one (an emptying, or one page of queueing); false when none does.
    /// </summary>
    public async Task<bool> StepAsync(DialogueDbContext db, CancellationToken ct)
    {
        var identity = Identity;
        var state = await db.SearchNamespaces.IgnoreQueryFilters()
            .Where(n => n.Model == null || n.Model != identity || n.Format != KeywordAnalyzer.Format || n.RebuildCursor != null)
            .OrderBy(n => n.Namespace).ThenBy(n => n.Kind).FirstOrDefaultAsync(ct);
        if (state is null)
        {
            return false;
        }

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (!SearchIndexIdentity.Readable(state, identity))
        {
            await ResetAsync(db, state, ct);
        }
        else if (!SearchIndexIdentity.Matches(state, identity))
        {
            // Same vectors, other tokens: every item is indexed again over the index, which stays searchable.
            state.Model = identity;
            state.Format = KeywordAnalyzer.Format;
            state.RebuildCursor = "";
        }
        else
        {
            await QueueNextPageAsync(db, state, ct);
        }

        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return true;
    }

    /// <summary>Empties the namespace's index of the state's kind and stamps it; in the caller's transaction, saved by it.</summary>
    public async Task ResetAsync(DialogueDbContext db, SearchNamespaceRow state, CancellationToken ct)
    {
        var (ns, kind) = (state.Namespace, state.Kind);
        await db.SearchItems.IgnoreQueryFilters().Where(i => i.Namespace == ns && i.Kind == kind).ExecuteDeleteAsync(ct);
        await db.SearchVectorQueue.Where(q => q.Namespace == ns && q.Kind == kind).ExecuteDeleteAsync(ct);
        state.Items = 0;
        state.TotalLength = 0;
        state.Version++;
        // Every cache of this namespace is older than the floor: it reloads instead of catching up.
        state.Floor = state.Version;
        state.Model = Identity;
        state.Format = KeywordAnalyzer.Format;
        state.RebuildCursor = "";
    }

    private async Task QueueNextPageAsync(DialogueDbContext db, SearchNamespaceRow state, CancellationToken ct)
    {
        var ns = state.Namespace;
        var cursor = state.RebuildCursor ?? "";
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        int count;
        if (state.Kind == "memory")
        {
            var ids = await db.Memories.IgnoreQueryFilters().AsNoTracking()
                .Where(m => m.Namespace == ns && string.Compare(m.Id, cursor) > 0)
                .OrderBy(m => m.Id).Select(m => m.Id).Take(PageSize).ToListAsync(ct);
            db.SearchQueue.AddRange(ids.Select(id => new SearchQueueRow { Namespace = ns, Kind = "memory", ItemId = id, Enqueued = now }));
            count = ids.Count;
            cursor = count > 0 ? ids[^1] : cursor;
        }
        else
        {
            var (afterDialogue, afterSeq) = MessageCursor(cursor);
            var page = await db.Messages.IgnoreQueryFilters().AsNoTracking()
                .Where(m => m.Namespace == ns
                    && (string.Compare(m.DialogueId, afterDialogue) > 0 || (m.DialogueId == afterDialogue && m.Seq > afterSeq)))
                .OrderBy(m => m.DialogueId).ThenBy(m => m.Seq).Select(m => new { m.DialogueId, m.Seq, m.Id })
                .Take(PageSize).ToListAsync(ct);
            db.SearchQueue.AddRange(page.Select(m =>
                new SearchQueueRow { Namespace = ns, Kind = "message", ItemId = m.Id, DialogueId = m.DialogueId, Enqueued = now }));
            count = page.Count;
            cursor = count > 0 ? string.Create(CultureInfo.InvariantCulture, $"{page[^1].Seq}:{page[^1].DialogueId}") : cursor;
        }

        state.RebuildCursor = count < PageSize ? null : cursor;
    }

    /// <summary>A message cursor is <c>seq:dialogueId</c> (the dialogue id may hold colons; the number never does).</summary>
    private static (string DialogueId, long Seq) MessageCursor(string cursor)
    {
        var colon = cursor.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? ("", -1) : (cursor[(colon + 1)..], long.Parse(cursor.AsSpan(0, colon), CultureInfo.InvariantCulture));
    }
}
