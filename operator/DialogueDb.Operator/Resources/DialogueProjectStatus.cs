using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Operator.Resources;

internal sealed class DialogueProjectStatus
{
    [Description("The generation of the spec that the conditions describe.")]
    public long? ObservedGeneration { get; set; }

    [Description("Ready, Progressing and Degraded, each with its own observedGeneration.")]
    [ListMapKeys("type")]
    public IList<ProjectCondition>? Conditions { get; set; }

    [Description("HTTPS address of the project's API inside the cluster.")]
    public string? Endpoint { get; set; }

    [Description("API pods the Deployment wants.")]
    public int? Replicas { get; set; }

    [Description("API pods that are ready.")]
    public int? ReadyReplicas { get; set; }

    [Description("The plan and the numbers in force after the overrides.")]
    public EffectivePlan? Effective { get; set; }

    [Description("The project's API keys: names and Secret names, never key material.")]
    [ListMapKeys("name")]
    public IList<ApiKeyStatus>? ApiKeys { get; set; }

    [Description("Where the project's encryption key ring comes from.")]
    public string? EncryptionKeySecret { get; set; }

    [Description("Hash of the effective configuration and Secret versions on the pod template.")]
    public string? ConfigHash { get; set; }

    [Description("The retention job's last runs, from its CronJob.")]
    public RetentionRunStatus? LastRetentionRun { get; set; }

    [Description("Search: the last index rebuild requested with spec.search.reindex and its Job's outcome.")]
    public SearchStatus? Search { get; set; }

    [Description("Plan usage as the project's quota counters hold it, published by its pods and updated at most once a minute. " +
        "Counts only.")]
    public ProjectUsage? Usage { get; set; }
}

internal sealed class EffectivePlan
{
    [Description("The plan's name.")]
    public string? Plan { get; set; }

    [Description("Requests per second; absent: unlimited.")]
    public long? RequestsPerSecond { get; set; }

    [Description("Dialogues per month; absent: unlimited.")]
    public long? DialoguesPerMonth { get; set; }

    [Description("Messages per month; absent: unlimited.")]
    public long? MessagesPerMonth { get; set; }

    [Description("Memories stored; absent: unlimited.")]
    public long? MemoriesStored { get; set; }

    [Description("Requests per month; absent: unlimited.")]
    public long? RequestsPerMonth { get; set; }

    [Description("Dialogue retention in days; absent: forever.")]
    public int? DialogueRetentionDays { get; set; }

    [Description("Short-term memory retention in days; absent: forever.")]
    public int? ShortTermMemoryRetentionDays { get; set; }

    [Description("Long-term memory retention in days; absent: forever.")]
    public int? LongTermMemoryRetentionDays { get; set; }
}

internal sealed class ApiKeyStatus
{
    [Description("The key's name.")]
    [Required]
    public string? Name { get; set; }

    [Description("The Secret holding the key, the endpoint and the CA certificate.")]
    public string? SecretName { get; set; }

    [Description("read-write or read-only.")]
    public string? Scope { get; set; }

    [Description("The rotation counter the current key was issued for.")]
    public int? Rotation { get; set; }

    [Description("When the current key was issued; the previous one is valid until this plus the grace period.")]
    [Format("date-time")]
    public DateTime? IssuedAt { get; set; }
}

internal sealed class RetentionRunStatus
{
    [Description("When the retention job was last scheduled.")]
    [Format("date-time")]
    public DateTime? LastScheduleTime { get; set; }

    [Description("When the retention job last finished successfully.")]
    [Format("date-time")]
    public DateTime? LastSuccessfulTime { get; set; }
}
