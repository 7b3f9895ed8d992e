namespace DialogueDb.Service.Search;

/// <summary>
/// An item the indexer made keyword-searchable whose vectors are still to be computed (the second step of indexing,
/// <see cref="SearchVectorIndexer"/>), in the order the first step indexed them. <see cref="Version"/> is the item's
/// index version then: vectors computed for an older version of the item are not stored. An item the embedder failed
/// for on its own stays here marked <see cref="Failed"/> (keyword-searchable, without vectors) and is tried again from
/// <see cref="NextAttempt"/> on (<see cref="EmbeddingRetrySchedule"/>), or at <c>dialoguedb reindex</c>.
/// </summary>
internal sealed class SearchVectorQueueRow
{
    public long Id { get; set; }
    public required string Namespace { get; set; }

    /// <summary><c>message</c> or <c>memory</c>.</summary>
    public required string Kind { get; set; }
    public required string ItemId { get; set; }

    /// <summary>A message's dialogue (with the kind and id, the item's key: one entry per item); empty for a memory.</summary>
    public required string DialogueId { get; set; }
    public long Version { get; set; }

    /// <summary>When the write that changed the item was queued (Unix ms): the age of the oldest entry is the vectors' lag.</summary>
    public long Enqueued { get; set; }
    public bool Failed { get; set; }

    /// <summary>How many times the embedder failed for the item on its own (0 while it never did).</summary>
    public int Attempts { get; set; }

    /// <summary>When a failed entry is tried again (Unix ms).</summary>
    public long NextAttempt { get; set; }

    public SearchItemKey Key => new(Kind, DialogueId, ItemId);
}
