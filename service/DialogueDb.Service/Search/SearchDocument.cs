namespace DialogueDb.Service.Search;

/// <summary>An item's searchable text, decrypted for the indexer (never stored or logged).</summary>
internal sealed record SearchDocument(string Kind, string ItemId, string? DialogueId, string Text)
{
    public SearchItemKey Key => new(Kind, DialogueId ?? "", ItemId);
}
