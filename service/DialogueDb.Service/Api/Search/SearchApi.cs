using System.Text.Json;
using DialogueDb.Service.Search;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Search;

/// <summary>
/// Contract §10: <c>POST /search</c> over one namespace's messages, dialogues or memories. A read: read-only keys may
/// call it and it keeps working over plan limits (it counts as an API request like every call). Candidates come from
/// the index by relevance (<see cref="SearchRanker"/>); the filters are checked against the items as stored, so tags
/// and metadata changed a moment ago already apply; the accepted ones are then ordered as asked.
/// </summary>
internal static class SearchApi
{
    /// <summary>Candidates checked against the filters per database round trip.</summary>
    private const int Page = 100;

    /// <summary>Best-matching messages listed with a dialogue result.</summary>
    private const int MatchesPerDialogue = 3;

    public static RouteGroupBuilder MapSearch(this RouteGroupBuilder api)
    {
        api.MapPost("/search", SearchAsync).WithSummary("Search messages, dialogues or memories by meaning and by words").WithQuery("namespace");
        return api;
    }

    private static async Task<IResult> SearchAsync([ObjectBody] ApiRequest request, DialogueDbContext db, SearchRanker ranker,
        ContentProtector protector, ApiKeyRing project, TimeProvider time, CancellationToken ct)
    {
        var (search, error) = SearchRequest.Parse(request.Object, time.GetUtcNow());
        if (search is null)
        {
            return error!;
        }

        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        List<SearchHit> results;
        try
        {
            results = search.Object switch
            {
                "memory" => await MemoriesAsync(db, ranker, protector, ns, search, ct),
                "message" => await MessagesAsync(db, ranker, protector, ns, search, ct),
                _ => await DialoguesAsync(db, ranker, protector, ns, search, ct),
            };
        }
        catch (EmbeddingsFailure)
        {
            // The query could not be embedded (the indexer logs the endpoint's failures; the query is never logged).
            return ApiErrors.Unavailable("The embeddings endpoint is unavailable; retry shortly, or search with mode keyword");
        }

        var ordered = Order(results, search);
        var projectId = project.ProjectId;
        var requestId = request.Http.TraceIdentifier;
        return new JsonPayload(w => SearchJson.Write(w, ordered, search, projectId, requestId, protector));
    }

    private static List<SearchHit> Order(List<SearchHit> hits, SearchRequest request)
    {
        IEnumerable<SearchHit> ordered = request.OrderBy switch
        {
            "created" => hits.OrderBy(h => h.Created),
            "modified" => hits.OrderBy(h => h.Modified),
            _ => hits.OrderBy(h => h.Relevance),
        };
        return request.Descending ? [.. ordered.Reverse()] : [.. ordered];
    }

    private static async Task<List<SearchHit>> MemoriesAsync(DialogueDbContext db, SearchRanker ranker, ContentProtector protector,
        string ns, SearchRequest request, CancellationToken ct)
    {
        var ranked = await ranker.RankAsync(db, ns, "memory", request.Query, request.Mode, where: null, ct);
        var hits = new List<SearchHit>();
        foreach (var page in ranked.Chunk(Page))
        {
            var ids = page.Select(r => r.Item.ItemId).ToList();
            var rows = (await db.Memories.AsNoTracking().Where(m => m.Namespace == ns && ids.Contains(m.Id)).ToListAsync(ct))
                .ToDictionary(m => m.Id, StringComparer.Ordinal);
            foreach (var candidate in page)
            {
                if (rows.TryGetValue(candidate.Item.ItemId, out var memory)
                    && Passes(request, memory.Tags, memory.Metadata, memory.Created, memory.Modified)
                    && (request.HasImage is not { } image || image == HasImage(protector.Decrypt(memory.Value, RowIdentity.MemoryValue(ns, memory.Id)))))
                {
                    hits.Add(new SearchHit(candidate.Relevance, memory.Created, memory.Modified, Memory: memory));
                    if (hits.Count == request.Limit)
                    {
                        return hits;
                    }
                }
            }
        }

        return hits;
    }

    private static async Task<List<SearchHit>> MessagesAsync(DialogueDbContext db, SearchRanker ranker, ContentProtector protector,
        string ns, SearchRequest request, CancellationToken ct)
    {
        Func<IndexedItem, bool>? where = request.DialogueId is { } dialogueId ? i => i.DialogueId == dialogueId : null;
        var ranked = await ranker.RankAsync(db, ns, "message", request.Query, request.Mode, where, ct);
        var hits = new List<SearchHit>();
        foreach (var page in ranked.Chunk(Page))
        {
            foreach (var (candidate, message) in await LoadMessagesAsync(db, ns, page, ct))
            {
                if (Passes(request, message.Tags, message.Metadata, message.Created, message.Modified) && ImageMatches(request, protector, message))
                {
                    hits.Add(new SearchHit(candidate.Relevance, message.Created, message.Modified, Message: message));
                    if (hits.Count == request.Limit)
                    {
                        return hits;
                    }
                }
            }
        }

        return hits;
    }

    /// <summary>Dialogues ranked by their best message; each lists its best messages as <c>matches</c>.</summary>
    private static async Task<List<SearchHit>> DialoguesAsync(DialogueDbContext db, SearchRanker ranker, ContentProtector protector,
        string ns, SearchRequest request, CancellationToken ct)
    {
        var ranked = await ranker.RankAsync(db, ns, "message", request.Query, request.Mode, where: null, ct);
        var hits = new List<SearchHit>();
        var byDialogue = new Dictionary<string, SearchHit>(StringComparer.Ordinal);
        var rejected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var page in ranked.Chunk(Page))
        {
            var messages = (await LoadMessagesAsync(db, ns, page, ct)).Where(m => ImageMatches(request, protector, m.Message)).ToList();
            var dialogueIds = messages.Select(m => m.Message.DialogueId).Where(id => !byDialogue.ContainsKey(id) && !rejected.Contains(id))
                .Distinct().ToList();
            var dialogues = (await db.Dialogues.AsNoTracking().Where(d => d.Namespace == ns && dialogueIds.Contains(d.Id)).ToListAsync(ct))
                .ToDictionary(d => d.Id, StringComparer.Ordinal);
            foreach (var (candidate, message) in messages)
            {
                if (byDialogue.TryGetValue(message.DialogueId, out var hit))
                {
                    if (hit.Matches!.Count < MatchesPerDialogue)
                    {
                        hit.Matches.Add(message);
                    }

                    continue;
                }

                if (rejected.Contains(message.DialogueId) || hits.Count == request.Limit)
                {
                    continue;
                }

                if (dialogues.TryGetValue(message.DialogueId, out var dialogue)
                    && Passes(request, dialogue.Tags, dialogue.Metadata, dialogue.Created, dialogue.Modified))
                {
                    hit = new SearchHit(candidate.Relevance, dialogue.Created, dialogue.Modified, Dialogue: dialogue, Matches: [message]);
                    byDialogue[dialogue.Id] = hit;
                    hits.Add(hit);
                }
                else
                {
                    rejected.Add(message.DialogueId);
                }
            }
        }

        return hits;
    }

    /// <summary>The stored messages of a page of candidates, in candidate order (ones deleted meanwhile drop out).</summary>
    private static async Task<List<(RankedItem Candidate, MessageRow Message)>> LoadMessagesAsync(DialogueDbContext db, string ns,
        RankedItem[] page, CancellationToken ct)
    {
        var ids = page.Select(r => r.Item.ItemId).ToList();
        var dialogueIds = page.Select(r => r.Item.DialogueId).Distinct().ToList();
        var rows = (await db.Messages.AsNoTracking()
                .Where(m => m.Namespace == ns && dialogueIds.Contains(m.DialogueId) && ids.Contains(m.Id)).ToListAsync(ct))
            .ToDictionary(m => (m.DialogueId, m.Id));
        return [.. page.Where(r => rows.ContainsKey((r.Item.DialogueId, r.Item.ItemId)))
            .Select(r => (r, rows[(r.Item.DialogueId, r.Item.ItemId)]))];
    }

    private static bool Passes(SearchRequest request, string tags, string metadata, long created, long modified) =>
        (request.Created is null || request.Created.Contains(created))
        && (request.Modified is null || request.Modified.Contains(modified))
        && (request.Tags is null || request.Tags.Matches(tags))
        && (request.Metadata is null || request.Metadata.Matches(metadata));

    private static bool ImageMatches(SearchRequest request, ContentProtector protector, MessageRow message) =>
        request.HasImage is not { } image
        || image == HasImage(protector.Decrypt(message.Content, RowIdentity.MessageContent(message.Namespace, message.DialogueId, message.Id)));

    private static bool HasImage(byte[] json)
    {
        using var document = JsonDocument.Parse(json);
        return SearchText.HasImage(document.RootElement);
    }
}
