using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Operator.Resources;

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
