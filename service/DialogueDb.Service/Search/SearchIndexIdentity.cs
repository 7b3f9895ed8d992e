namespace DialogueDb.Service.Search;

/// <summary>
/// How a namespace's index was built, stored with it: vectors of another model or length, and tokens of another
/// analysis, are never compared with the running process's (a query would be embedded or analysed differently).
/// </summary>
internal static class SearchIndexIdentity
{
    /// <summary>
    /// The embedder's model and vector length and the id of the ring key the blind tokens derive from, e.g.
    /// <c>all-MiniLM-L6-v2/384/k1</c> (retiring that key changes every token).
    /// </summary>
    public static string Of(IEmbedder embedder, BlindTokenKey tokens) => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{embedder.Model}/{embedder.Dimensions}/k{tokens.KeyId}");

    /// <summary>Whether the namespace's index was built as this process builds it now.</summary>
    public static bool Matches(SearchNamespaceRow state, IEmbedder embedder, BlindTokenKey tokens) =>
        state.Model == Of(embedder, tokens) && state.Format == KeywordAnalyzer.Format;
}
