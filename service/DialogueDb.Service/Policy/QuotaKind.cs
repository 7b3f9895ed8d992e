namespace DialogueDb.Service.Policy;

/// <summary>What a plan quota counts (contract §7).</summary>
internal enum QuotaKind
{
    Dialogues,
    Messages,
    Memories,
    Requests,
}
