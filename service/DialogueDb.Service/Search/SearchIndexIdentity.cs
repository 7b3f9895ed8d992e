namespace DialogueDb.Service.Search;

/// <summary>
/// How a namespace's index was built, stored with it: vectors of another model or length, and tokens of another
/// analysis, are never compared with the running process's (a query would be embedded or analysed differently).
/// </summary>
internal static class SearchIndexIdentity
{
    /// <summary>The embedder's model and vector length, e.g. <c>all-MiniLM-L6-v2/384</c>.</summary>
    public static string Of(IEmbedder embedder) => embedder.Model + "/" + embedder.Dimensions.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Whether the namespace's index was built as <paramref name="embedder"/> and this keyword analysis build it.</summary>
    public static bool Matches(SearchNamespaceRow state, IEmbedder embedder) =>
        state.Model == Of(embedder) && state.Format == KeywordAnalyzer.Format;
}
