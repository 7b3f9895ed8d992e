namespace DialogueDb.Service.Search;

/// <summary>
/// The change counter and BM25 statistics of one namespace's index of one kind. <see cref="Version"/> goes up with
/// every indexer commit; removed items before <see cref="Floor"/> were purged, so a cache older than it reloads.
/// <see cref="Model"/> and <see cref="Format"/> say how the index was built (the embedder and the keyword analysis):
/// an index built otherwise than the running indexer builds is never searched, and the indexer rebuilds it.
/// </summary>
internal sealed class SearchNamespaceRow
{
    public required string Namespace { get; set; }
    public required string Kind { get; set; }
    public long Version { get; set; }
    public long Floor { get; set; }
    public long Items { get; set; }
    public long TotalLength { get; set; }

    /// <summary>The embedder's identity (<see cref="SearchIndexIdentity"/>); null: a rebuild was requested.</summary>
    public string? Model { get; set; }

    /// <summary>The keyword analysis version (<see cref="KeywordAnalyzer.Format"/>) of the stored tokens.</summary>
    public int Format { get; set; }

    /// <summary>
    /// While a rebuild queues the namespace's stored items: the last one queued (empty before the first); null when no
    /// rebuild is in progress. A restarted indexer goes on from here.
    /// </summary>
    public string? RebuildCursor { get; set; }
}
