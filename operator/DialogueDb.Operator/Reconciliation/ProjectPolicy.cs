using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Resources;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>What a project may do: its plan with the spec's overrides, and the policy document its pods enforce.</summary>
internal static class ProjectPolicy
{
    public static EffectivePlan Effective(string name, PlanDefinition plan, DialogueProjectSpec spec)
    {
        static int? Days(int? overridden, int planDays) => (overridden ?? planDays) is var days && days == 0 ? null : days;
        return new EffectivePlan
        {
            Plan = name,
            RequestsPerSecond = spec.Limits?.RequestsPerSecond ?? plan.RequestsPerSecond,
            DialoguesPerMonth = spec.Limits?.DialoguesPerMonth ?? plan.DialoguesPerMonth,
            MessagesPerMonth = spec.Limits?.MessagesPerMonth ?? plan.MessagesPerMonth,
            MemoriesStored = spec.Limits?.MemoriesStored ?? plan.MemoriesStored,
            RequestsPerMonth = spec.Limits?.RequestsPerMonth ?? plan.RequestsPerMonth,
            DialogueRetentionDays = Days(spec.Retention?.DialogueDays, plan.DialogueRetentionDays),
            ShortTermMemoryRetentionDays = Days(spec.Retention?.ShortTermMemoryDays, plan.ShortTermMemoryRetentionDays),
            LongTermMemoryRetentionDays = Days(spec.Retention?.LongTermMemoryDays, plan.LongTermMemoryRetentionDays),
        };
    }

    /// <summary>The policy the pods enforce: the operator's numbers, complete, the hashes of the valid keys and the summary settings.</summary>
    public static ProjectDocument Document(
        ProjectIdentity identity, EffectivePlan effective, IReadOnlyList<IssuedKey> keys, DateTimeOffset now, SummariesSpec? summaries = null)
    {
        var records = new List<ApiKeyRecord>();
        foreach (var key in keys)
        {
            records.Add(new ApiKeyRecord(key.KeyId, key.Name, key.Scope, key.Hash));
            if (key.PreviousKeyId is not null && key.PreviousHash is not null && key.PreviousValidUntil > now)
            {
                records.Add(new ApiKeyRecord(key.PreviousKeyId, key.Name + " (previous)", key.Scope, key.PreviousHash));
            }
        }

        return new ProjectDocument(identity.ProjectId, records)
        {
            Plan = effective.Plan!,
            Complete = true,
            Summaries = SummaryKey.Settings(summaries),
            Limits = new DialogueDb.Service.Policy.LimitOverrides
            {
                RequestsPerSecond = effective.RequestsPerSecond,
                DialoguesPerMonth = effective.DialoguesPerMonth,
                MessagesPerMonth = effective.MessagesPerMonth,
                MemoriesStored = effective.MemoriesStored,
                RequestsPerMonth = effective.RequestsPerMonth,
            },
            Retention = new DialogueDb.Service.Policy.RetentionOverrides
            {
                DialogueDays = effective.DialogueRetentionDays ?? 0,
                ShortTermMemoryDays = effective.ShortTermMemoryRetentionDays ?? 0,
                LongTermMemoryDays = effective.LongTermMemoryRetentionDays ?? 0,
            },
        };
    }
}
