namespace DialogueDb.Operator.Hosting;

/// <summary>The numbers a plan stands for. A null limit is unlimited; a retention of 0 days keeps data forever.</summary>
internal sealed record PlanDefinition
{
    public long? RequestsPerSecond { get; init; }
    public long? DialoguesPerMonth { get; init; }
    public long? MessagesPerMonth { get; init; }
    public long? MemoriesStored { get; init; }
    public long? RequestsPerMonth { get; init; }
    public int DialogueRetentionDays { get; init; }
    public int ShortTermMemoryRetentionDays { get; init; }
    public int LongTermMemoryRetentionDays { get; init; }

    /// <summary>API pods when the project does not say.</summary>
    public int Replicas { get; init; } = 1;

    public IEnumerable<string> Validate()
    {
        if (RequestsPerSecond < 1)
        {
            yield return "requestsPerSecond must be at least 1 (or absent for unlimited).";
        }

        if (DialoguesPerMonth < 0 || MessagesPerMonth < 0 || MemoriesStored < 0 || RequestsPerMonth < 0)
        {
            yield return "quotas cannot be negative.";
        }

        if (DialogueRetentionDays < 0 || ShortTermMemoryRetentionDays < 0 || LongTermMemoryRetentionDays < 0)
        {
            yield return "retention days cannot be negative (0 keeps data forever).";
        }

        if (Replicas is < 0 or > 100)
        {
            yield return "replicas must be between 0 and 100.";
        }
    }

    /// <summary>The plans of the API contract (§7, §8).</summary>
    public static Dictionary<string, PlanDefinition> ContractPlans() => new(StringComparer.Ordinal)
    {
        ["free"] = new()
        {
            RequestsPerSecond = 5, DialoguesPerMonth = 100, MessagesPerMonth = 10_000, MemoriesStored = 1_000, RequestsPerMonth = 100_000,
            DialogueRetentionDays = 30, ShortTermMemoryRetentionDays = 30, LongTermMemoryRetentionDays = 60,
        },
        ["starter"] = new()
        {
            RequestsPerSecond = 10, DialoguesPerMonth = 1_000, MessagesPerMonth = 100_000, MemoriesStored = 10_000,
            RequestsPerMonth = 1_000_000, DialogueRetentionDays = 90, ShortTermMemoryRetentionDays = 45, LongTermMemoryRetentionDays = 120,
        },
        ["pro"] = new()
        {
            RequestsPerSecond = 20, DialoguesPerMonth = 10_000, MessagesPerMonth = 1_000_000, MemoriesStored = 100_000,
            RequestsPerMonth = 10_000_000, DialogueRetentionDays = 90, ShortTermMemoryRetentionDays = 60, LongTermMemoryRetentionDays = 0,
        },
        ["business"] = new()
        {
            RequestsPerSecond = 100, DialoguesPerMonth = 100_000, MessagesPerMonth = 10_000_000, MemoriesStored = 1_000_000,
            RequestsPerMonth = 100_000_000, DialogueRetentionDays = 90, ShortTermMemoryRetentionDays = 60, LongTermMemoryRetentionDays = 0,
            Replicas = 2,
        },
        ["enterprise"] = new() { Replicas = 2 },
    };
}
