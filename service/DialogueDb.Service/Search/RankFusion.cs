namespace DialogueDb.Service.Search;

/// <summary>
/// Reciprocal rank fusion: score = Σ 1 / (k + rank) over the rankings an item appears in (k = 60, rank from 1). It
/// needs no score calibration between BM25 and cosine; an item ranked high by either ranking comes out high. An
/// entry may carry a weight in 0–1 that scales its contribution (the keyword ranking weighs each item by how much of
/// the query it matched, so a paraphrase's stray one-word matches do not outvote meaning).
/// </summary>
internal static class RankFusion
{
    public const int K = 60;

    /// <returns>Keys by fused score, best first, with the score scaled to 0–1 (1 = first in every ranking).</returns>
    public static List<(TKey Key, double Score)> Fuse<TKey>(params IReadOnlyList<TKey>[] rankings)
        where TKey : notnull =>
        FuseWeighted([.. rankings.Select(r => (IReadOnlyList<(TKey, double)>)[.. r.Select(k => (k, 1.0))])]);

    public static List<(TKey Key, double Score)> FuseWeighted<TKey>(params IReadOnlyList<(TKey Key, double Weight)>[] rankings)
        where TKey : notnull
    {
        var scores = new Dictionary<TKey, double>();
        foreach (var ranking in rankings)
        {
            for (var r = 0; r < ranking.Count; r++)
            {
                var (key, weight) = ranking[r];
                scores[key] = scores.GetValueOrDefault(key) + (weight / (K + r + 1));
            }
        }

        var best = rankings.Length / (double)(K + 1);
        return [.. scores.OrderByDescending(s => s.Value).Select(s => (s.Key, s.Value / best))];
    }
}
