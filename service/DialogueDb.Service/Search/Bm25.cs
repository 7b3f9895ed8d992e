namespace DialogueDb.Service.Search;

/// <summary>Okapi BM25 (k1 = 1.2, b = 0.75) over the blind index's term frequencies and document lengths.</summary>
internal static class Bm25
{
    private const double K1 = 1.2;
    private const double B = 0.75;

    /// <param name="documents">Items in the namespace's index.</param>
    /// <param name="documentFrequency">Items that contain the term.</param>
    public static double Idf(long documents, long documentFrequency) =>
        Math.Log(1 + ((documents - documentFrequency + 0.5) / (documentFrequency + 0.5)));

    public static double Term(double idf, int termFrequency, int length, double averageLength) =>
        idf * termFrequency * (K1 + 1) / (termFrequency + (K1 * (1 - B + (B * length / Math.Max(averageLength, 1)))));

    /// <summary>A BM25 score mapped into 0–1 (monotonic), for the answer's <c>relevance</c>.</summary>
    public static double Relevance(double score) => score / (score + 5);
}
