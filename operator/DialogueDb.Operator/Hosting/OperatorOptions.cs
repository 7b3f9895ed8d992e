using System.Text.Json;
using System.Text.Json.Serialization;
using DialogueDb.Operator.Resources;

namespace DialogueDb.Operator.Hosting;

/// <summary>
/// The operator's configuration, read from a JSON file (the Helm chart's ConfigMap) and validated at start: a
/// misconfigured operator exits at once with every problem listed. No credential is ever part of it; the shared
/// servers' admin connections are files mounted from Secrets.
/// </summary>
internal sealed partial class OperatorOptions
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>The service image for projects that do not name one.</summary>
    public string DefaultImage { get; set; } = "ghcr.io/dialoguedb/dialoguedb:0.1.0";

    public string DefaultPlan { get; set; } = "free";

    /// <summary>Plan name → the numbers it stands for. Defaults to the plans of the API contract.</summary>
    public Dictionary<string, PlanDefinition> Plans { get; set; } = PlanDefinition.ContractPlans();

    /// <summary>Namespaces whose projects this operator manages; empty: all.</summary>
    public List<string> WatchNamespaces { get; set; } = [];

    /// <summary>Where the leader-election Lease lives (the operator's own namespace; POD_NAMESPACE in a pod).</summary>
    public string? OperatorNamespace { get; set; }

    public SharedPostgres? Postgres { get; set; }

    public SharedRedis? Redis { get; set; }

    /// <summary>Who may call a project's API when the project does not say.</summary>
    public List<NetworkPeer> DefaultIngressFrom { get; set; } = [];

    /// <summary>Who may scrape the API and indexer pods' metrics port (Prometheus); empty: nobody from outside the pod.</summary>
    public List<NetworkPeer> MetricsScrapeFrom { get; set; } = [];

    /// <summary>Where the Kubernetes API server is, for the API pods' egress (they watch their policy Secret).</summary>
    public List<string> KubernetesApiCidrs { get; set; } = [];

    /// <summary>
    /// Where LLM endpoints of the openai-compatible summary provider are, for the egress of projects that use one
    /// (on the port of the project's baseUrl); empty: any address on that port. Projects without one get no such egress.
    /// </summary>
    public List<NetworkPeer> SummaryEndpointPeers { get; set; } = [];

    public ResourceRequirements DefaultResources { get; set; } = new()
    {
        Requests = new Dictionary<string, string> { ["cpu"] = "100m", ["memory"] = "256Mi" },
        Limits = new Dictionary<string, string> { ["memory"] = "512Mi" },
    };

    public string ClusterDomain { get; set; } = "cluster.local";

    /// <summary>How often every project is reconciled even when nothing changed (drift repair).</summary>
    public int ResyncSeconds { get; set; } = 600;

    /// <summary>
    /// How often the plan usage the projects' pods publish is read into <c>status.usage</c> (one Redis round trip for all
    /// projects; a project's status is patched only when a number changed, so at most once an interval).
    /// </summary>
    public int UsageSeconds { get; set; } = 60;

    /// <summary>How long the server keeps one watch open before the operator reconnects (client-side deadline: a tenth more).</summary>
    public int WatchTimeoutSeconds { get; set; } = 300;

    /// <summary>Projects reconciled at the same time.</summary>
    public int Workers { get; set; } = 4;

    /// <summary>
    /// How long a new data key is decrypt-only (and a new event key open-only) before it becomes the active one: longer
    /// than any kubelet takes to refresh a Secret volume (its sync period plus the cache TTL, about a minute by default),
    /// so no replica meets a ciphertext, and no event consumer an event, under a key it has not read yet.
    /// </summary>
    public int EncryptionKeyActivationSeconds { get; set; } = 180;

    public LeaderElectionOptions LeaderElection { get; set; } = new();

    public static OperatorOptions Load(string? path)
    {
        OperatorOptions? options;
        if (path is null)
        {
            options = new OperatorOptions();
        }
        else
        {
            try
            {
                options = JsonSerializer.Deserialize<OperatorOptions>(File.ReadAllText(path), Json);
            }
            catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"Cannot read the operator configuration {path}: {ex.Message}", ex);
            }
        }

        options ??= new OperatorOptions();
        options.OperatorNamespace ??= Environment.GetEnvironmentVariable("POD_NAMESPACE");
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new InvalidOperationException(
                $"The operator configuration{(path is null ? "" : " " + path)} is invalid:\n  - " + string.Join("\n  - ", problems));
        }

        return options;
    }
}
