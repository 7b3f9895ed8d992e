using DialogueDb.Operator.Resources;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>Condition bookkeeping: lastTransitionTime moves only when a condition's status flips.</summary>
internal static class Conditions
{
    public const string Ready = "Ready";
    public const string Progressing = "Progressing";
    public const string Degraded = "Degraded";

    /// <summary>
    /// The external search indexer's health (absent in the in-process mode). Apart from Ready on purpose: a failing
    /// indexer delays search results but the API serves, so the project stays Ready and not Degraded.
    /// </summary>
    public const string SearchIndexerReady = "SearchIndexerReady";

    public static List<ProjectCondition> Set(
        IList<ProjectCondition>? current,
        long? generation,
        DateTimeOffset now,
        params (string Type, bool Status, string Reason, string Message)[] updates)
    {
        var result = new List<ProjectCondition>();
        foreach (var (type, status, reason, message) in updates)
        {
            var text = status ? "True" : "False";
            var previous = current?.FirstOrDefault(c => c.Type == type);
            result.Add(new ProjectCondition
            {
                Type = type,
                Status = text,
                Reason = reason,
                Message = message,
                ObservedGeneration = generation,
                LastTransitionTime = previous?.Status == text && previous.LastTransitionTime is { } since
                    ? since
                    : now.UtcDateTime.TruncateToSeconds(),
            });
        }

        return result;
    }

    /// <summary>The project's current condition of <paramref name="type"/>, unchanged (none: empty).</summary>
    public static IEnumerable<ProjectCondition> Kept(DialogueProject project, string type) =>
        project.Status?.Conditions?.Where(c => c.Type == type) ?? [];

    public static bool IsTrue(DialogueProject project, string type) =>
        project.Status?.Conditions?.Any(c => c.Type == type && c.Status == "True") == true;

    private static DateTime TruncateToSeconds(this DateTime value) =>
        new(value.Ticks - value.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
}
