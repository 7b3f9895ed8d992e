namespace DialogueDb.Service.Search;

/// <summary>
/// An indexed item's identity within its namespace. Message ids are the client's and unique only within their dialogue,
/// so a message is keyed by its dialogue and its id; a memory by its id alone (its <see cref="DialogueId"/> is empty).
/// </summary>
internal readonly record struct SearchItemKey(string Kind, string DialogueId, string ItemId)
{
    public static SearchItemKey Message(string dialogueId, string messageId) => new("message", dialogueId, messageId);

    public static SearchItemKey Memory(string memoryId) => new("memory", "", memoryId);

    /// <summary>
    /// What one of the item's encrypted index fields (postings, vectors) is bound to: a message's to its dialogue and id
    /// (<paramref name="messageField"/>, as its content is), another item's to its kind and id (<paramref name="field"/>).
    /// Before analysis format 4 a message's were bound to its id alone; such indexes are emptied and rebuilt
    /// (<see cref="SearchIndexIdentity.Readable"/>).
    /// </summary>
    public Security.RowIdentity Row(string ns, string field, string messageField) => Kind == "message"
        ? new(messageField, ns, DialogueId, ItemId)
        : new(field, ns, Kind, ItemId);
}
