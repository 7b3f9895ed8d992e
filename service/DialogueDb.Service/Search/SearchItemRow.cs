namespace DialogueDb.Service.Search;

/// <summary>
/// One indexed item: its chunk vectors and its blind-index postings (both encrypted like content) and its length in terms
/// (for BM25).
/// </summary>
internal sealed class SearchItemRow
{
    public required string Namespace { get; set; }
    public required string Kind { get; set; }
    public required string ItemId { get; set; }

    /// <summary>A message's dialogue, part of the key (message ids are unique only within their dialogue); empty for a memory.</summary>
    public required string DialogueId { get; set; }

    /// <summary>The namespace's index version of this row's last change (replicas' caches catch up by it).</summary>
    public long Version { get; set; }

    /// <summary>Encrypted chunk vectors (see SearchVectors); null marks a removed item until tombstones are purged.</summary>
    public byte[]? Vectors { get; set; }
    /// <summary>Encrypted blind-index postings (see SearchPostings); null on a removed item's marker.</summary>
    public byte[]? Terms { get; set; }

    public int Length { get; set; }

    public SearchItemKey Key => new(Kind, DialogueId, ItemId);
}
