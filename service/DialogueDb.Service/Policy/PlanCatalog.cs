using System.Text.Json.Serialization;

namespace DialogueDb.Service.Policy;

/// <summary>Per-project overrides of the plan's limits. Absent: the plan's number.</summary>
internal sealed record LimitOverrides
{
    [JsonPropertyName("requestsPerSecond")] public long? RequestsPerSecond { get; init; }
    [JsonPropertyName("dialoguesPerMonth")] public long? DialoguesPerMonth { get; init; }
    [JsonPropertyName("messagesPerMonth")] public long? MessagesPerMonth { get; init; }
    [JsonPropertyName("memoriesStored")] public long? MemoriesStored { get; init; }
    [JsonPropertyName("requestsPerMonth")] public long? RequestsPerMonth { get; init; }

    public bool HasNegative() =>
        RequestsPerSecond < 1 || DialoguesPerMonth < 0 || MessagesPerMonth < 0 || MemoriesStored < 0 || RequestsPerMonth < 0;
}

/// <summary>Per-project overrides of the plan's retention periods in days; 0 means unlimited.</summary>
internal sealed record RetentionOverrides
{
    [JsonPropertyName("dialogueDays")] public int? DialogueDays { get; init; }
    [JsonPropertyName("shortTermMemoryDays")] public int? ShortTermMemoryDays { get; init; }
    [JsonPropertyName("longTermMemoryDays")] public int? LongTermMemoryDays { get; init; }

    public bool HasNegative() => DialogueDays < 0 || ShortTermMemoryDays < 0 || LongTermMemoryDays < 0;
}

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

/// <summary>The plans of contract §7 and §8. Enterprise has no defaults: its numbers are set per project.</summary>
internal static class PlanCatalog
{
    public const string Free = "free";
    public const string Starter = "starter";
    public const string Pro = "pro";
    public const string Business = "business";
    public const string Enterprise = "enterprise";

    private static readonly Dictionary<string, EffectivePolicy> Plans = new(StringComparer.Ordinal)
    {
        [Free] = new(Free, 5, 100, 10_000, 1_000, 100_000, 30, 30, 60),
        [Starter] = new(Starter, 10, 1_000, 100_000, 10_000, 1_000_000, 90, 45, 120),
        [Pro] = new(Pro, 20, 10_000, 1_000_000, 100_000, 10_000_000, 90, 60, null),
        [Business] = new(Business, 100, 100_000, 10_000_000, 1_000_000, 100_000_000, 90, 60, null),
        [Enterprise] = new(Enterprise, null, null, null, null, null, null, null, null),
    };

    public static IEnumerable<string> Names => Plans.Keys;

    public static bool IsKnown(string? plan) => plan is not null && Plans.ContainsKey(plan);

    public static EffectivePolicy Resolve(ProjectDocument document)
    {
        // A complete document states every number itself: start from the plan without limits.
        var plan = document.Complete ? Plans[Enterprise] with { Plan = document.Plan } : Plans[document.Plan];
        var limits = document.Limits ?? new LimitOverrides();
        var retention = document.Retention ?? new RetentionOverrides();
        return plan with
        {
            RequestsPerSecond = limits.RequestsPerSecond ?? plan.RequestsPerSecond,
            DialoguesPerMonth = limits.DialoguesPerMonth ?? plan.DialoguesPerMonth,
            MessagesPerMonth = limits.MessagesPerMonth ?? plan.MessagesPerMonth,
            MemoriesStored = limits.MemoriesStored ?? plan.MemoriesStored,
            RequestsPerMonth = limits.RequestsPerMonth ?? plan.RequestsPerMonth,
            DialogueRetentionDays = Days(retention.DialogueDays, plan.DialogueRetentionDays),
            ShortTermMemoryRetentionDays = Days(retention.ShortTermMemoryDays, plan.ShortTermMemoryRetentionDays),
            LongTermMemoryRetentionDays = Days(retention.LongTermMemoryDays, plan.LongTermMemoryRetentionDays),
        };
    }

    /// <summary>An override of 0 days means unlimited (null).</summary>
    private static int? Days(int? overridden, int? planDays) => overridden switch
    {
        null => planDays,
        0 => null,
        var days => days,
    };
}
