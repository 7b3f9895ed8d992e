namespace DialogueDb.Service.Search;

/// <summary>
/// One ranked item: its index entry and a relevance from 0 to 1 (higher is better); for keyword rankings also the share
/// of the query's weight (IDF) it matched.
/// </summary>
internal sealed record RankedItem(IndexedItem Item, double Relevance, double Coverage = 1);
