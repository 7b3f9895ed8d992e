namespace DialogueDb.Service.Policy;

/// <summary>The numbers in force for a project. A null limit or period is unlimited.</summary>
internal sealed record EffectivePolicy(
    string Plan,
    long? RequestsPerSecond,
    long? DialoguesPerMonth,
    long? MessagesPerMonth,
    long? MemoriesStored,
    long? RequestsPerMonth,
    int? DialogueRetentionDays,
    int? ShortTermMemoryRetentionDays,
    int? LongTermMemoryRetentionDays);
