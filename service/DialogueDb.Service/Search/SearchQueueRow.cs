namespace DialogueDb.Service.Search;

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
