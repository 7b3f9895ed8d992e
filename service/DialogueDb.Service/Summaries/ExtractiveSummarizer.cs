using System.Text;
using DialogueDb.Service.Search;

namespace DialogueDb.Service.Summaries;

/// <summary>
/// The offline provider: ranks the range's sentences by centrality (TextRank over sentence embeddings when the search
/// embedder is present, else over TF-IDF vectors) and keeps the best ones (more central than average), in dialogue order,
/// within the length budget (<c>maxSummaryCharacters</c>). Long dialogues are first narrowed to the sentences closest to
/// the range's TF-IDF centroid, which keeps the pairwise graph (quadratic in sentences) and the embedding work bounded.
/// </summary>
internal sealed class ExtractiveSummarizer(IEmbedder? embedder) : ISummarizer
{
    /// <summary>Sentences embedded and ranked by TextRank over embeddings at most.</summary>
    public const int MaxEmbeddedSentences = 256;

    /// <summary>Sentences ranked by TextRank over TF-IDF at most.</summary>
    public const int MaxTfIdfSentences = 1_500;

    private const int EmbedBatch = 32;

    public async Task<SummaryText> SummarizeAsync(SummaryInput input, CancellationToken ct)
    {
        var sentences = input.Lines.SelectMany(l => SentenceSplitter.Split(l.Text)).ToList();
        if (sentences.Count == 0)
        {
            // Only one-word messages: they are the sentences.
            sentences = [.. input.Lines.Select(l => l.Text.Length <= SentenceSplitter.MaxSentenceLength ? l.Text : l.Text[..SentenceSplitter.MaxSentenceLength])];
        }

        var budget = input.Settings.MaxSummaryCharacters;
        var tfidf = TfIdfVectors.Of(sentences);
        var candidates = Narrow(tfidf, embedder is null ? MaxTfIdfSentences : MaxEmbeddedSentences);
        double[] scores;
        string model;
        if (embedder is null || candidates.Length == 1)
        {
            scores = TextRank.Scores(candidates.Length, (i, j) => TfIdfVectors.Cosine(tfidf[candidates[i]], tfidf[candidates[j]]), ct);
            model = "textrank-tfidf";
        }
        else
        {
            var vectors = await EmbedAsync(embedder, [.. candidates.Select(i => sentences[i])], ct);
            scores = TextRank.Scores(candidates.Length, (i, j) => Dot(vectors[i], vectors[j]), ct);
            model = "textrank-" + embedder.Model;
        }

        // Only sentences more central than the average: a sentence unlike all others (a stray remark) never fills the
        // rest of the budget.
        var chosen = new List<int>();
        var length = 0;
        var average = 1.0 / candidates.Length;
        foreach (var c in Enumerable.Range(0, candidates.Length).Where(c => scores[c] >= average || candidates.Length == 1)
            .OrderByDescending(c => scores[c]).ThenBy(c => c))
        {
            var sentence = sentences[candidates[c]];
            if (length + sentence.Length + 1 <= budget)
            {
                chosen.Add(candidates[c]);
                length += sentence.Length + 1;
            }
        }

        if (chosen.Count == 0)
        {
            // Even the best sentence is over the budget: its beginning.
            var best = sentences[candidates[Array.IndexOf(scores, scores.Max())]];
            return new SummaryText(best[..Math.Min(best.Length, budget - 1)].TrimEnd() + "…", model);
        }

        var text = new StringBuilder(length);
        foreach (var index in chosen.Order())
        {
            text.Append(text.Length == 0 ? "" : " ").Append(sentences[index]);
        }

        return new SummaryText(text.ToString(), model);
    }

    /// <summary>Indexes of at most <paramref name="max"/> sentences closest to the TF-IDF centroid, in dialogue order.</summary>
    private static int[] Narrow(Dictionary<string, float>[] vectors, int max)
    {
        if (vectors.Length <= max)
        {
            return [.. Enumerable.Range(0, vectors.Length)];
        }

        var centroid = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var vector in vectors)
        {
            foreach (var (word, weight) in vector)
            {
                centroid[word] = centroid.GetValueOrDefault(word) + weight;
            }
        }

        return [.. Enumerable.Range(0, vectors.Length).OrderByDescending(i => TfIdfVectors.Cosine(vectors[i], centroid)).ThenBy(i => i)
            .Take(max).Order()];
    }

    private static async Task<float[][]> EmbedAsync(IEmbedder embedder, string[] sentences, CancellationToken ct)
    {
        var vectors = new float[sentences.Length][];
        for (var start = 0; start < sentences.Length; start += EmbedBatch)
        {
            var batch = sentences.AsSpan(start, Math.Min(EmbedBatch, sentences.Length - start)).ToArray();
            var embedded = await embedder.EmbedAsync(batch, ct);
            for (var i = 0; i < batch.Length; i++)
            {
                // A sentence is within the model's window: its first chunk is the whole sentence.
                vectors[start + i] = embedded[i][0];
            }
        }

        return vectors;
    }

    private static float Dot(float[] a, float[] b) => System.Numerics.Tensors.TensorPrimitives.Dot(a, b);
}
