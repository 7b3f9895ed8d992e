namespace DialogueDb.Service.Search;

/// <summary>A blind-index posting: HMAC token of a term, the item that has it and how often.</summary>
internal sealed class SearchTermRow
{
    public required string Namespace { get; set; }
    public required string Kind { get; set; }
    public required byte[] Token { get; set; }
    public required string ItemId { get; set; }
    public int Frequency { get; set; }
}
