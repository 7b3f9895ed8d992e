namespace DialogueDb.Service.Policy;

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
