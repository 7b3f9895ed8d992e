namespace DialogueDb.Service.Security;

/// <summary>Which row a ciphertext belongs to; its bytes are the AES-GCM associated data.</summary>
internal readonly record struct RowIdentity(string Kind, string Namespace, string Id, string? ChildId = null)
{
    public static RowIdentity DialogueState(string ns, string dialogueId) => new("state", ns, dialogueId);

    public static RowIdentity MessageContent(string ns, string dialogueId, string messageId) => new("message", ns, dialogueId, messageId);

    public static RowIdentity MemoryValue(string ns, string memoryId) => new("memory", ns, memoryId);

    public static RowIdentity SummaryContent(string ns, string summaryId) => new("summary", ns, summaryId);

    public static RowIdentity AuditEvent(string eventId) => new("event", "", eventId);

    public static RowIdentity DialogueLabel(string ns, string dialogueId) => new("dialogue.label", ns, dialogueId);

    public static RowIdentity MemoryLabel(string ns, string memoryId) => new("memory.label", ns, memoryId);

    public static RowIdentity MemoryDescription(string ns, string memoryId) => new("memory.description", ns, memoryId);

    public static RowIdentity MessageName(string ns, string dialogueId, string messageId) => new("message.name", ns, dialogueId, messageId);
}
