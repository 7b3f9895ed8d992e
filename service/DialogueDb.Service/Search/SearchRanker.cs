using System.Numerics.Tensors;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Search;

/// <summary>
/// Ranks a namespace's indexed items of one kind for a query: <c>semantic</c> by the cosine of the best chunk,
/// <c>keyword</c> by BM25 over the blind index (query terms are HMAC-ed like the stored ones), <c>hybrid</c> by
/// reciprocal rank fusion of both. Returns at most <see cref="MaxCandidates"/> candidates, best first; the caller
/// filters them against the items themselves.
/// </summary>
internal sealed class SearchRanker(SearchCache cache, IEmbedder embedder, BlindTokenKey tokens)
{
    public const int MaxCandidates = 1000;
    public const int MaxQueryTerms = 64;

    /// <summary>
    /// In <c>hybrid</c>, a keyword match votes only when it covers at least this share of the query's term weight: names,
    /// codes and phrases are matched whole, while a paraphrase's stray one-word matches would only push noise up.
    /// </summary>
    public const double MinKeywordCoverage = 0.5;

    /// <param name="db">Bound to <paramref name="ns"/> (row-level security applies).</param>
    public async Task<List<RankedItem>> RankAsync(DialogueDbContext db, string ns, string kind, string query, string mode,
        Func<IndexedItem, bool>? where, CancellationToken ct)
    {
        var index = await cache.GetAsync(db, ns, kind, ct);
        if (index.ItemList.Count == 0)
        {
            return [];
        }

        List<RankedItem>? semantic = null, keyword = null;
        if (mode is "semantic" or "hybrid")
        {
            semantic = await SemanticAsync(index, query, where, ct);
        }

        if (mode is "keyword" or "hybrid")
        {
            keyword = Keyword(index, query, where);
        }

        if (mode == "hybrid")
        {
            // Fused by item, not by id: two dialogues' messages of one id are two items (each one object in the snapshot).
            return [.. RankFusion.FuseWeighted<IndexedItem>([.. semantic!.Select(r => (r.Item, 1.0))],
                    [.. keyword!.Select(r => (r.Item, r.Coverage >= MinKeywordCoverage ? r.Coverage : 0))])
                .Take(MaxCandidates).Select(f => new RankedItem(f.Key, f.Score))];
        }

        return semantic ?? keyword!;
    }

    private async Task<List<RankedItem>> SemanticAsync(NamespaceIndex index, string query, Func<IndexedItem, bool>? where,
        CancellationToken ct)
    {
        var chunks = (await embedder.EmbedAsync([query], ct))[0];
        var vector = new float[embedder.Dimensions];
        foreach (var chunk in chunks)
        {
            TensorPrimitives.Add(vector, chunk, vector);
        }

        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0)
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }

        // With an item condition (one dialogue), rank everything and keep what passes; else the best candidates only.
        var nearest = index.Nearest(vector, where is null ? MaxCandidates : index.ItemList.Count);
        return [.. nearest.Where(n => where is null || where(n.Item)).Take(MaxCandidates)
            .Select(n => new RankedItem(n.Item, Math.Clamp(n.Score, 0, 1)))];
    }

    private List<RankedItem> Keyword(NamespaceIndex index, string query, Func<IndexedItem, bool>? where) =>
        KeywordRanking.Rank(index, [.. KeywordAnalyzer.TermFrequencies(query).Keys.Take(MaxQueryTerms).Select(tokens.Token)], where,
            MaxCandidates);
}
