namespace DialogueDb.Service.Summaries;

/// <summary>
/// Centrality of sentences by TextRank: PageRank over the graph whose edge weights are the sentences' (non-negative)
/// similarities. A sentence that many others resemble ranks high.
/// </summary>
internal static class TextRank
{
    private const double Damping = 0.85;
    private const int Iterations = 40;
    private const double Tolerance = 1e-6;

    /// <summary>The score of each of <paramref name="count"/> sentences, given their pairwise similarity.</summary>
    public static double[] Scores(int count, Func<int, int, float> similarity, CancellationToken ct)
    {
        var weights = new float[count][];
        var outWeight = new double[count];
        for (var i = 0; i < count; i++)
        {
            ct.ThrowIfCancellationRequested();
            weights[i] = new float[count];
            for (var j = 0; j < i; j++)
            {
                var w = Math.Max(0f, similarity(i, j));
                weights[i][j] = w;
                weights[j][i] = w;
                outWeight[i] += w;
                outWeight[j] += w;
            }
        }

        var scores = Enumerable.Repeat(1.0 / Math.Max(count, 1), count).ToArray();
        var next = new double[count];
        for (var iteration = 0; iteration < Iterations; iteration++)
        {
            var change = 0.0;
            for (var i = 0; i < count; i++)
            {
                var sum = 0.0;
                for (var j = 0; j < count; j++)
                {
                    if (outWeight[j] > 0)
                    {
                        sum += weights[j][i] / outWeight[j] * scores[j];
                    }
                }

                next[i] = (1 - Damping) / count + Damping * sum;
                change += Math.Abs(next[i] - scores[i]);
            }

            (scores, next) = (next, scores);
            if (change < Tolerance)
            {
                break;
            }
        }

        return scores;
    }
}
