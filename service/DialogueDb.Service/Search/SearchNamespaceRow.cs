namespace DialogueDb.Service.Search;

/// <summary>
/// The change counter and BM25 statistics of one namespace's index of one kind. <see cref="Version"/> goes up with
/// every indexer commit; removed items before <see cref="Floor"/> were purged, so a cache older than it reloads.
/// </summary>
internal sealed class SearchNamespaceRow
{
    public required string Namespace { get; set; }
    public required string Kind { get; set; }
    public long Version { get; set; }
    public long Floor { get; set; }
    public long Items { get; set; }
    public long TotalLength { get; set; }
}
