namespace DialogueDb.Service.Search;

/// <summary>
/// How a namespace's index was built, stored with it. Vectors of another model or length are never compared with the
/// running process's query vectors: such an index is searched as empty and rebuilt from scratch. Tokens of another
/// keyword analysis or token key only miss some matches (a query term analysed or keyed differently finds nothing), so
/// such an index stays searchable while its items are indexed again over it; a message index from before messages were
/// keyed by their dialogue is rebuilt from scratch like one of another model (<see cref="Readable"/>).
/// </summary>
internal static class SearchIndexIdentity
{
    /// <summary>
    /// The embedder's model and vector length and the id of the ring key the blind tokens derive from, e.g.
    /// <c>all-MiniLM-L6-v2/384/k1</c> (retiring that key changes every token). An embeddings endpoint's model names the
    /// model and the endpoint's URL (<see cref="EndpointEmbedder.Model"/>): changing either rebuilds the index.
    /// </summary>
    public static string Of(IEmbedder embedder, BlindTokenKey tokens) => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{embedder.Model}/{embedder.Dimensions}/k{tokens.KeyId}");

    /// <summary>Whether the namespace's index was built exactly as this process builds it now.</summary>
    public static bool Matches(SearchNamespaceRow state, string identity) =>
        state.Model == identity && state.Format == KeywordAnalyzer.Format;

    /// <summary>
    /// Whether this process can read the index's rows at all: vectors of its model and length and, for messages, rows bound
    /// to their dialogue (<see cref="KeywordAnalyzer.DialogueKeyedFormat"/>; before it, a message's postings and vectors were
    /// encrypted under its id alone). An index it cannot read is searched as empty and emptied before anything is indexed
    /// into it, then rebuilt.
    /// </summary>
    public static bool Readable(SearchNamespaceRow state, string identity) =>
        SameVectors(state.Model, identity) && (state.Kind != "message" || state.Format >= KeywordAnalyzer.DialogueKeyedFormat);

    /// <summary>Whether the index's vectors come from the model and length of <paramref name="identity"/> (the key part aside).</summary>
    public static bool SameVectors(string? stored, string identity) =>
        stored is not null && stored.LastIndexOf('/') is var end and > 0 && identity.AsSpan().StartsWith(stored.AsSpan(0, end + 1))
        && identity.LastIndexOf('/') == end;
}
