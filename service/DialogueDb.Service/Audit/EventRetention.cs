using DialogueDb.Service.Policy;

namespace DialogueDb.Service.Audit;

/// <summary>
/// How long published events are kept: the project's shortest retention period (dialogues, short-term and long-term
/// memories). Events older than that are trimmed from the stream and the events files, so no event outlives the
/// longest period, and the events of an expired or deleted item are gone within the shortest. Null when every period
/// is unlimited (the stream's MAXLEN cap still applies).
/// </summary>
internal static class EventRetention
{
    public static TimeSpan? Window(EffectivePolicy policy)
    {
        int?[] periods = [policy.DialogueRetentionDays, policy.ShortTermMemoryRetentionDays, policy.LongTermMemoryRetentionDays];
        var limited = periods.Where(days => days is not null).Select(days => days!.Value).ToList();
        return limited.Count == 0 ? null : TimeSpan.FromDays(limited.Min());
    }
}
