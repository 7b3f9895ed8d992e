using System.ComponentModel;

namespace DialogueDb.Operator.Resources;

internal sealed class ProjectUsage
{
    [Description("The UTC month (yyyy-MM) the monthly counts belong to.")]
    public string? Period { get; set; }

    [Description("When the API counted these numbers. Written only when a number changes, so an idle project keeps an older time.")]
    [Format("date-time")]
    public DateTime? CountedAt { get; set; }

    [Description("The highest share of any limit in use, e.g. 87% (rounded down; over 100% when API requests passed their limit), " +
        "or unlimited when the plan limits none of these kinds.")]
    public string? Highest { get; set; }

    [Description("Dialogues created this month.")]
    public UsageCount? Dialogues { get; set; }

    [Description("Messages appended this month.")]
    public UsageCount? Messages { get; set; }

    [Description("API requests this month.")]
    public UsageCount? Requests { get; set; }

    [Description("Memories stored now.")]
    public UsageCount? Memories { get; set; }
}

internal sealed class UsageCount
{
    [Description("How many are counted; absent when the plan does not limit this kind (the API counts only limited kinds, and " +
        "API requests always).")]
    public long? Used { get; set; }

    [Description("The plan's limit; absent: unlimited.")]
    public long? Limit { get; set; }
}
