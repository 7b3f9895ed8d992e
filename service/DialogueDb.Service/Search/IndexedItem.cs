namespace DialogueDb.Service.Search;

/// <summary>
/// One indexed item as a cache holds it: decrypted chunk vectors, blind-index postings and its length in terms. A
/// message's <see cref="DialogueId"/> is part of its identity (<see cref="SearchItemKey"/>); a memory's is empty.
/// </summary>
internal sealed record IndexedItem(string ItemId, string DialogueId, int Length, float[][] Vectors, ItemTerm[] Terms);
