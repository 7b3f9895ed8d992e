using System.Runtime.InteropServices;

namespace DialogueDb.Service.Search;

/// <summary>
/// BM25 over a namespace snapshot's inverted lists (<see cref="NamespaceIndex.Keywords"/>) for a query's blind tokens.
/// Each candidate also gets its coverage: the share of the query's term weight (idf) it matched.
/// </summary>
internal static class KeywordRanking
{
    public static List<RankedItem> Rank(NamespaceIndex index, IReadOnlyList<BlindToken> query, Func<IndexedItem, bool>? where, int count)
    {
        if (query.Count == 0 || index.ItemList.Count == 0)
        {
            return [];
        }

        var postings = index.Keywords;
        var documents = index.ItemList.Count;
        var scores = new Dictionary<int, (double Score, double Matched)>();
        // A query term no item has weighs as much as the rarest possible term: missing it lowers every item's coverage.
        var totalWeight = query.Sum(t => Bm25.Idf(documents, postings.Count(t)));
        foreach (var token in query)
        {
            var (items, frequencies) = postings.Of(token);
            var idf = Bm25.Idf(documents, items.Length);
            for (var i = 0; i < items.Length; i++)
            {
                var item = items.Span[i];
                ref var entry = ref CollectionsMarshal.GetValueRefOrAddDefault(scores, item, out _);
                entry = (entry.Score + Bm25.Term(idf, frequencies.Span[i], index.ItemList[item].Length, index.AverageLength), entry.Matched + idf);
            }
        }

        return [.. scores.Select(s => (Item: index.ItemList[s.Key], s.Value.Score, s.Value.Matched)).Where(s => where is null || where(s.Item))
            .OrderByDescending(s => s.Score).ThenBy(s => s.Item.ItemId, StringComparer.Ordinal)
            .ThenBy(s => s.Item.DialogueId, StringComparer.Ordinal).Take(count)
            .Select(s => new RankedItem(s.Item, Bm25.Relevance(s.Score), totalWeight > 0 ? s.Matched / totalWeight : 0))];
    }
}
