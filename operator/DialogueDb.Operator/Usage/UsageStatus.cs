using System.Globalization;
using DialogueDb.Operator.Resources;

namespace DialogueDb.Operator.Usage;

/// <summary>Turns what the pods published and the plan in force into <c>status.usage</c> and its <c>USAGE</c> column.</summary>
internal static class UsageStatus
{
    public const string Unlimited = "unlimited";

    /// <summary>
    /// The status for <paramref name="month"/> (yyyy-MM, UTC). Counts published for an earlier month are this month's
    /// zero for the monthly kinds (the counters start again each month), so a project whose pods are stopped reads 0%
    /// after the turn of the month; stored memories carry over.
    /// </summary>
    public static ProjectUsage For(PublishedUsage published, EffectivePlan effective, string month)
    {
        var current = string.Equals(published.Period, month, StringComparison.Ordinal);
        long? Monthly(long? used) => used is null ? null : current ? used : 0;
        var usage = new ProjectUsage
        {
            Period = month,
            CountedAt = published.CountedAt,
            Dialogues = Count(Monthly(published.Dialogues), effective.DialoguesPerMonth),
            Messages = Count(Monthly(published.Messages), effective.MessagesPerMonth),
            Requests = Count(Monthly(published.Requests), effective.RequestsPerMonth),
            Memories = Count(published.Memories, effective.MemoriesStored),
        };
        usage.Highest = Highest(usage);
        return usage;
    }

    /// <summary>
    /// The highest share of a limit in use, rounded down ("87%"; a limit of 0 is 100% used); "unlimited" when no kind
    /// is limited; null while no limited kind has a count yet.
    /// </summary>
    public static string? Highest(ProjectUsage usage)
    {
        UsageCount?[] counts = [usage.Dialogues, usage.Messages, usage.Requests, usage.Memories];
        if (counts.All(c => c?.Limit is null))
        {
            return Unlimited;
        }

        var shares = counts.Where(c => c?.Limit is not null && c.Used is not null)
            .Select(c => c!.Limit == 0 ? 100 : (long)((Int128)c.Used!.Value * 100 / c.Limit!.Value))
            .ToList();
        return shares.Count == 0 ? null : string.Create(CultureInfo.InvariantCulture, $"{shares.Max()}%");
    }

    private static UsageCount? Count(long? used, long? limit) =>
        used is null && limit is null ? null : new UsageCount { Used = used, Limit = limit };
}
