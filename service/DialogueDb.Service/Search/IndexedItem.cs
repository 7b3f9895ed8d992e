namespace DialogueDb.Service.Search;

/// <summary>One indexed item as a cache holds it: decrypted chunk vectors, blind-index postings and its length in terms.</summary>
internal sealed record IndexedItem(string ItemId, string? DialogueId, int Length, float[][] Vectors, ItemTerm[] Terms);
