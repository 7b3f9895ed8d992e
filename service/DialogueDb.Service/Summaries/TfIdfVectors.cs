using System.Text.RegularExpressions;

namespace DialogueDb.Service.Summaries;

/// <summary>Unit-length TF-IDF vectors of sentences (sparse; lower-cased word terms), for similarity without a model.</summary>
internal static partial class TfIdfVectors
{
    public static Dictionary<string, float>[] Of(IReadOnlyList<string> sentences)
    {
        var terms = sentences.Select(s => Words().Matches(s.ToLowerInvariant()).Select(m => m.Value).ToList()).ToList();
        var documentFrequency = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var words in terms)
        {
            foreach (var word in words.Distinct(StringComparer.Ordinal))
            {
                documentFrequency[word] = documentFrequency.GetValueOrDefault(word) + 1;
            }
        }

        var vectors = new Dictionary<string, float>[sentences.Count];
        for (var i = 0; i < sentences.Count; i++)
        {
            var vector = new Dictionary<string, float>(StringComparer.Ordinal);
            foreach (var word in terms[i])
            {
                vector[word] = vector.GetValueOrDefault(word) + 1;
            }

            double norm = 0;
            foreach (var (word, frequency) in vector)
            {
                var weight = frequency * (float)Math.Log(1 + (double)sentences.Count / documentFrequency[word]);
                vector[word] = weight;
                norm += weight * weight;
            }

            var length = (float)Math.Sqrt(norm);
            if (length > 0)
            {
                foreach (var word in vector.Keys.ToList())
                {
                    vector[word] /= length;
                }
            }

            vectors[i] = vector;
        }

        return vectors;
    }

    public static float Cosine(Dictionary<string, float> a, Dictionary<string, float> b)
    {
        var (small, large) = a.Count <= b.Count ? (a, b) : (b, a);
        var sum = 0f;
        foreach (var (word, weight) in small)
        {
            if (large.TryGetValue(word, out var other))
            {
                sum += weight * other;
            }
        }

        return sum;
    }

    [GeneratedRegex(@"\w{2,}", RegexOptions.CultureInvariant)]
    private static partial Regex Words();
}
