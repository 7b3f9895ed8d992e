namespace DialogueDb.Service.Search;

/// <summary>A term of an indexed item (as its blind token) and how often the item has it.</summary>
internal readonly record struct ItemTerm(BlindToken Token, int Frequency);
