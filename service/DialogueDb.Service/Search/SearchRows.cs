namespace DialogueDb.Service.Search;

// The search index's storage rows. Every table has the namespace in its key and is under row-level security like the
// data tables; nothing here holds a readable term, text fragment or vector.

/// <summary>
/// Index work, written by the API in the same transaction as the change (beside its audit outbox row), so a committed
/// write is never missing from search after a crash. The indexer reconciles the named item with what is stored now
/// (index it, or remove it when it is gone) and deletes the row in the same transaction.
/// </summary>
internal sealed class SearchQueueRow
{
    public long Id { get; set; }
    public required string Namespace { get; set; }

    /// <summary><c>message</c>, <c>memory</c>, or <c>dialogue</c> (a deleted dialogue: its messages leave the index).</summary>
    public required string Kind { get; set; }
    public required string ItemId { get; set; }
    public string? DialogueId { get; set; }
    public long Enqueued { get; set; }
}

/// <summary>One indexed item: its chunk vectors (encrypted like content) and its length in terms (for BM25).</summary>
internal sealed class SearchItemRow
{
    public required string Namespace { get; set; }
    public required string Kind { get; set; }
    public required string ItemId { get; set; }
    public string? DialogueId { get; set; }

    /// <summary>The namespace's index version of this row's last change (replicas' caches catch up by it).</summary>
    public long Version { get; set; }

    /// <summary>Encrypted chunk vectors (see SearchVectors); null marks a removed item until tombstones are purged.</summary>
    public byte[]? Vectors { get; set; }
    public int Length { get; set; }
}

/// <summary>A blind-index posting: HMAC token of a term, the item that has it and how often.</summary>
internal sealed class SearchTermRow
{
    public required string Namespace { get; set; }
    public required string Kind { get; set; }
    public required byte[] Token { get; set; }
    public required string ItemId { get; set; }
    public int Frequency { get; set; }
}

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
