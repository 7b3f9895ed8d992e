namespace DialogueDb.Service.Search;

/// <summary>
/// An indexed item's identity within its namespace. Message ids are the client's and unique only within their dialogue,
/// so a message is keyed by its dialogue and its id; a memory by its id alone (its <see cref="DialogueId"/> is empty).
/// </summary>
internal readonly record struct SearchItemKey(string Kind, string DialogueId, string ItemId)
{
    public static SearchItemKey Message(string dialogueId, string messageId) => new("message", dialogueId, messageId);

    public static SearchItemKey Memory(string memoryId) => new("memory", "", memoryId);
}
