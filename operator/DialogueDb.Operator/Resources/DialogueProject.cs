using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Resources;

/// <summary>
/// One tenant project: the operator turns it into an isolated deployment of the DialogueDB service in the same
/// namespace, plus a database and a Redis user on the shared servers. Every field is nullable so that server-side
/// apply of the status never claims spec fields (and the reverse).
/// </summary>
[Description("A DialogueDB project: an isolated deployment of the DialogueDB API for one tenant, with its own database, Redis user, " +
    "keys and plan.")]
[PrinterColumn("Plan", "string", ".status.effective.plan")]
[PrinterColumn("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")]
[PrinterColumn("Replicas", "integer", ".status.readyReplicas", Description = "Pods of the API that are ready")]
[PrinterColumn("Usage", "string", ".status.usage.highest",
    Description = "The highest share of any plan limit used (this month's dialogues, messages and requests, stored memories)")]
[PrinterColumn("Endpoint", "string", ".status.endpoint")]
[PrinterColumn("Age", "date", ".metadata.creationTimestamp")]
internal sealed class DialogueProject : IKubernetesObject<V1ObjectMeta>, ISpec<DialogueProjectSpec>, IStatus<DialogueProjectStatus?>
{
    public const string Group = "dialoguedb.io";
    public const string Version = "v1alpha1";
    public const string KindName = "DialogueProject";
    public const string Plural = "dialogueprojects";
    public const string Singular = "dialogueproject";
    public const string ShortName = "dp";
    public const string GroupVersion = Group + "/" + Version;

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = GroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = KindName;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    [Description("What the platform team wants for this project.")]
    public DialogueProjectSpec Spec { get; set; } = new();

    [JsonPropertyName("status")]
    [Description("What the operator observed and did; written only by the operator.")]
    public DialogueProjectStatus? Status { get; set; }
}

internal sealed class DialogueProjectList : IKubernetesObject<V1ListMeta>, IItems<DialogueProject>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = DialogueProject.GroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = DialogueProject.KindName + "List";

    [JsonPropertyName("metadata")]
    public V1ListMeta Metadata { get; set; } = new();

    [JsonPropertyName("items")]
    public IList<DialogueProject> Items { get; set; } = [];
}

internal sealed class DialogueProjectSpec
{
    [Description("Plan of the operator's plan catalog (e.g. free, starter, pro, business, enterprise). Absent: the catalog's default " +
        "plan.")]
    [RegularExpression("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    [MaxLength(63)]
    public string? Plan { get; set; }

    [Description("Per-project overrides of the plan's rate limit and monthly quotas; an absent field keeps the plan's number.")]
    public LimitOverrides? Limits { get; set; }

    [Description("Per-project overrides of the plan's retention periods in days; 0 keeps data forever.")]
    public RetentionOverrides? Retention { get; set; }

    [Description("Cron schedule (UTC) of the retention job. Absent: once a day at a minute derived from the project's name.")]
    [MaxLength(100)]
    public string? RetentionSchedule { get; set; }

    [Description("Number of API pods. Absent: 1 (or the plan's default). 0 stops the API and keeps the data.")]
    [Range(0, 100)]
    public int? Replicas { get; set; }

    [Description("Container image of the DialogueDB service. Absent: the operator's default image.")]
    [MaxLength(512)]
    public string? Image { get; set; }

    [Description("CPU and memory requests and limits of each API pod. Absent: the operator's defaults.")]
    public ResourceRequirements? Resources { get; set; }

    [Description("Data residency: the API pods run only on nodes labelled topology.kubernetes.io/region=<region>.")]
    [RegularExpression("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    [MaxLength(63)]
    public string? Region { get; set; }

    [Description("API keys for applications. Each key is written to its own Secret <project>-key-<name>, with the endpoint and the CA " +
        "certificate.")]
    [ListMapKeys("name")]
    [MaxLength(32)]
    public IList<ApiKeySpec>? ApiKeys { get; set; }

    [Description("After a key's rotation counter is raised, how long the previous key stays valid, in seconds. Absent: 86400 (one day).")]
    [Range(0, 2592000)]
    public int? ApiKeyGracePeriodSeconds { get; set; }

    [Description("Where the project's data lives. Absent: a database of its own on the operator's shared PostgreSQL.")]
    public ConnectionSpec? Database { get; set; }

    [Description("Where rate limits and audit events live. Absent: an ACL user of its own on the operator's shared Redis, limited to " +
        "the project's key prefix.")]
    public ConnectionSpec? Redis { get; set; }

    [Description("The key ring that encrypts content at rest. Absent: a key generated once by the operator.")]
    public EncryptionSpec? Encryption { get; set; }

    [Description("The API's TLS certificate. Absent: a certificate issued by the operator's per-project CA.")]
    public TlsSpec? Tls { get; set; }

    [Description("The published audit events. Absent: sealed under an event key generated once (Secret <project>-events-key).")]
    public EventsSpec? Events { get; set; }

    [Description("Who may call the API. Absent: the operator's default peers.")]
    public NetworkPolicySpec? NetworkPolicy { get; set; }

    [Description("How summaries (POST /summary) are written. Absent: the offline extractive provider.")]
    public SummariesSpec? Summaries { get; set; }

    [Description("Search (POST /search) of the project's messages, dialogues and memories. Absent: on.")]
    public SearchSpec? Search { get; set; }

    [Description("True: the operator stops changing the project's objects (deletion is still handled).")]
    public bool? Suspend { get; set; }

    [Description("What deleting the project does to its database and Redis data: Retain (default) keeps them, Delete drops them.")]
    [AllowedValues("Retain", "Delete")]
    public string? DeletionPolicy { get; set; }
}

internal sealed class LimitOverrides
{
    [Description("Sustained requests per second (GCRA rate limit; burst is twice the rate).")]
    [Range(1, long.MaxValue)]
    public long? RequestsPerSecond { get; set; }

    [Description("Dialogues created per calendar month (UTC).")]
    [Range(0, long.MaxValue)]
    public long? DialoguesPerMonth { get; set; }

    [Description("Messages written per calendar month (UTC).")]
    [Range(0, long.MaxValue)]
    public long? MessagesPerMonth { get; set; }

    [Description("Memories stored at any one time.")]
    [Range(0, long.MaxValue)]
    public long? MemoriesStored { get; set; }

    [Description("API requests per calendar month (UTC).")]
    [Range(0, long.MaxValue)]
    public long? RequestsPerMonth { get; set; }
}

internal sealed class RetentionOverrides
{
    [Description("Days after its last activity that a dialogue (with its messages, state and threads) is deleted; 0 keeps it forever.")]
    [Range(0, 36500)]
    public int? DialogueDays { get; set; }

    [Description("Days a short-term memory is kept; 0 keeps it forever.")]
    [Range(0, 36500)]
    public int? ShortTermMemoryDays { get; set; }

    [Description("Days a long-term memory is kept; 0 keeps it forever.")]
    [Range(0, 36500)]
    public int? LongTermMemoryDays { get; set; }
}

internal sealed class ApiKeySpec
{
    [Description("Name of the key, unique in the project; also part of its Secret's name.")]
    [Required]
    [RegularExpression("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    [MaxLength(40)]
    public string? Name { get; set; }

    [Description("read-write (default) or read-only.")]
    [AllowedValues("read-write", "read-only")]
    public string? Scope { get; set; }

    [Description("Raise to issue a new key; the previous one stays valid for apiKeyGracePeriodSeconds.")]
    [Range(0, int.MaxValue)]
    public int? Rotation { get; set; }
}

[ValidationRule("has(self.secretRef) == has(oldSelf.secretRef)", "secretRef can be set only when the project is created, and never " +
    "removed.")]
internal sealed class ConnectionSpec
{
    [Description("A Secret of the project's namespace holding the customer's own connection string. Absent: managed by the operator.")]
    [ValidationRule("self == oldSelf", "secretRef cannot change: the data lives behind it.")]
    public SecretKeyReference? SecretRef { get; set; }
}

[ValidationRule("has(self.keySecretRef) == has(oldSelf.keySecretRef)", "keySecretRef can be set only when the project is created, and " +
    "never removed.")]
internal sealed class EncryptionSpec
{
    [Description("A Secret of the project's namespace holding the customer's key ring (bring your own key). Cannot change once set.")]
    [ValidationRule("self == oldSelf", "keySecretRef cannot change: content encrypted under it would become unreadable.")]
    public SecretKeyReference? KeySecretRef { get; set; }

    [Description("Raise to add a new generated key and make it the active one; older keys stay for decryption.")]
    [Range(0, int.MaxValue)]
    public int? Rotation { get; set; }
}

internal sealed class EventsSpec
{
    [Description("Raise to add a new event key: consumers get it first (open-only), events are sealed with it once every reader has it; " +
        "older keys stay.")]
    [Range(0, int.MaxValue)]
    public int? KeyRotation { get; set; }
}

internal sealed class TlsSpec
{
    [Description("A kubernetes.io/tls Secret of the project's namespace (tls.crt, tls.key and optionally ca.crt) to serve instead of " +
        "the generated certificate.")]
    public SecretKeyReference? SecretRef { get; set; }
}

internal sealed class SecretKeyReference
{
    [Description("Name of the Secret, in the project's namespace.")]
    [Required]
    [RegularExpression("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    [MaxLength(253)]
    public string? Name { get; set; }

    [Description("Key in the Secret's data. Absent: the kind's usual key (uri, keys.json).")]
    [MaxLength(253)]
    public string? Key { get; set; }
}

internal sealed class NetworkPolicySpec
{
    [Description("Peers allowed to call the API port. Absent: the operator's default peers; an empty list admits nobody.")]
    [MaxLength(32)]
    public IList<NetworkPeer>? IngressFrom { get; set; }
}

internal sealed class NetworkPeer
{
    [Description("Namespaces whose pods may call, by label (e.g. kubernetes.io/metadata.name: my-app).")]
    public IDictionary<string, string>? NamespaceLabels { get; set; }

    [Description("Pods that may call, by label (within the namespaces above, or the project's namespace when none are given).")]
    public IDictionary<string, string>? PodLabels { get; set; }

    [Description("An IP range (CIDR) that may call, e.g. the ingress controller's.")]
    [MaxLength(64)]
    public string? Cidr { get; set; }
}

internal sealed class ResourceRequirements
{
    [Description("Requested CPU and memory (quantities, e.g. cpu: 100m, memory: 256Mi).")]
    [IntOrString]
    public IDictionary<string, string>? Requests { get; set; }

    [Description("CPU and memory limits (quantities).")]
    [IntOrString]
    public IDictionary<string, string>? Limits { get; set; }
}

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

internal sealed class ProjectCondition
{
    [Description("Ready, Progressing or Degraded.")]
    [Required]
    public string? Type { get; set; }

    [Description("True, False or Unknown.")]
    [Required]
    [AllowedValues("True", "False", "Unknown")]
    public string? Status { get; set; }

    [Description("A CamelCase reason code.")]
    public string? Reason { get; set; }

    [Description("What happened, for humans.")]
    public string? Message { get; set; }

    [Description("The generation this condition describes.")]
    public long? ObservedGeneration { get; set; }

    [Description("When the status last changed.")]
    [Format("date-time")]
    public DateTime? LastTransitionTime { get; set; }
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
