using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
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

    public List<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(DefaultImage))
        {
            problems.Add("defaultImage is empty.");
        }

        if (Plans.Count == 0)
        {
            problems.Add("plans is empty.");
        }

        foreach (var (name, plan) in Plans)
        {
            if (!DnsLabel().IsMatch(name))
            {
                problems.Add($"plans: '{name}' is not a lowercase DNS label.");
            }

            problems.AddRange(plan.Validate().Select(p => $"plans.{name}: {p}"));
        }

        if (!Plans.ContainsKey(DefaultPlan))
        {
            problems.Add($"defaultPlan '{DefaultPlan}' is not in plans.");
        }

        if (Postgres is not null)
        {
            problems.AddRange(Postgres.Validate().Select(p => "postgres: " + p));
        }

        if (Redis is not null)
        {
            problems.AddRange(Redis.Validate().Select(p => "redis: " + p));
        }

        if (ResyncSeconds < 10)
        {
            problems.Add("resyncSeconds must be at least 10.");
        }

        if (UsageSeconds is < 5 or > 3600)
        {
            problems.Add("usageSeconds must be between 5 and 3600.");
        }

        if (WatchTimeoutSeconds is < 1 or > 1800)
        {
            problems.Add("watchTimeoutSeconds must be between 1 and 1800.");
        }

        if (EncryptionKeyActivationSeconds is < 0 or > 86400)
        {
            problems.Add("encryptionKeyActivationSeconds must be between 0 and 86400.");
        }

        if (Workers is < 1 or > 64)
        {
            problems.Add("workers must be between 1 and 64.");
        }

        if (LeaderElection.Enabled && string.IsNullOrEmpty(OperatorNamespace))
        {
            problems.Add("leader election needs operatorNamespace (or the POD_NAMESPACE environment variable).");
        }

        if (LeaderElection.LeaseSeconds <= LeaderElection.RenewSeconds || LeaderElection.RenewSeconds <= LeaderElection.RetrySeconds
            || LeaderElection.RetrySeconds < 1)
        {
            problems.Add("leaderElection needs leaseSeconds > renewSeconds > retrySeconds >= 1.");
        }

        return problems;
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    internal static partial Regex DnsLabel();
}

/// <summary>The numbers a plan stands for. A null limit is unlimited; a retention of 0 days keeps data forever.</summary>
internal sealed record PlanDefinition
{
    public long? RequestsPerSecond { get; init; }
    public long? DialoguesPerMonth { get; init; }
    public long? MessagesPerMonth { get; init; }
    public long? MemoriesStored { get; init; }
    public long? RequestsPerMonth { get; init; }
    public int DialogueRetentionDays { get; init; }
    public int ShortTermMemoryRetentionDays { get; init; }
    public int LongTermMemoryRetentionDays { get; init; }

    /// <summary>API pods when the project does not say.</summary>
    public int Replicas { get; init; } = 1;

    public IEnumerable<string> Validate()
    {
        if (RequestsPerSecond < 1)
        {
            yield return "requestsPerSecond must be at least 1 (or absent for unlimited).";
        }

        if (DialoguesPerMonth < 0 || MessagesPerMonth < 0 || MemoriesStored < 0 || RequestsPerMonth < 0)
        {
            yield return "quotas cannot be negative.";
        }

        if (DialogueRetentionDays < 0 || ShortTermMemoryRetentionDays < 0 || LongTermMemoryRetentionDays < 0)
        {
            yield return "retention days cannot be negative (0 keeps data forever).";
        }

        if (Replicas is < 0 or > 100)
        {
            yield return "replicas must be between 0 and 100.";
        }
    }

    /// <summary>The plans of the API contract (§7, §8).</summary>
    public static Dictionary<string, PlanDefinition> ContractPlans() => new(StringComparer.Ordinal)
    {
        ["free"] = new()
        {
            RequestsPerSecond = 5, DialoguesPerMonth = 100, MessagesPerMonth = 10_000, MemoriesStored = 1_000, RequestsPerMonth = 100_000,
            DialogueRetentionDays = 30, ShortTermMemoryRetentionDays = 30, LongTermMemoryRetentionDays = 60,
        },
        ["starter"] = new()
        {
            RequestsPerSecond = 10, DialoguesPerMonth = 1_000, MessagesPerMonth = 100_000, MemoriesStored = 10_000,
            RequestsPerMonth = 1_000_000, DialogueRetentionDays = 90, ShortTermMemoryRetentionDays = 45, LongTermMemoryRetentionDays = 120,
        },
        ["pro"] = new()
        {
            RequestsPerSecond = 20, DialoguesPerMonth = 10_000, MessagesPerMonth = 1_000_000, MemoriesStored = 100_000,
            RequestsPerMonth = 10_000_000, DialogueRetentionDays = 90, ShortTermMemoryRetentionDays = 60, LongTermMemoryRetentionDays = 0,
        },
        ["business"] = new()
        {
            RequestsPerSecond = 100, DialoguesPerMonth = 100_000, MessagesPerMonth = 10_000_000, MemoriesStored = 1_000_000,
            RequestsPerMonth = 100_000_000, DialogueRetentionDays = 90, ShortTermMemoryRetentionDays = 60, LongTermMemoryRetentionDays = 0,
            Replicas = 2,
        },
        ["enterprise"] = new() { Replicas = 2 },
    };
}

/// <summary>A server the operator shares between projects, reached with an admin connection read from a mounted file.</summary>
internal abstract class SharedServer(int defaultPort)
{
    public string Host { get; set; } = "";
    public int Port { get; set; } = defaultPort;

    /// <summary>A file (mounted from a Secret) holding the admin connection; read on every use, so it can rotate.</summary>
    public string AdminConnectionFile { get; set; } = "";

    /// <summary>Where the server is, for the API pods' egress rules.</summary>
    public List<NetworkPeer> Peers { get; set; } = [];

    public virtual IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(Host))
        {
            yield return "host is empty.";
        }

        if (Port is < 1 or > 65535)
        {
            yield return "port is out of range.";
        }

        if (string.IsNullOrWhiteSpace(AdminConnectionFile))
        {
            yield return "adminConnectionFile is empty.";
        }
    }
}

/// <summary>
/// The shared PostgreSQL on which the operator creates a database and roles per project (admin file: an Npgsql
/// connection string).
/// </summary>
internal sealed class SharedPostgres() : SharedServer(5432)
{
    /// <summary>Npgsql SSL Mode for the projects' connections (Require, VerifyCA, VerifyFull, Disable).</summary>
    public string SslMode { get; set; } = "Require";

    public override IEnumerable<string> Validate()
    {
        foreach (var problem in base.Validate())
        {
            yield return problem;
        }

        if (SslMode is not ("Disable" or "Allow" or "Prefer" or "Require" or "VerifyCA" or "VerifyFull"))
        {
            yield return "sslMode must be one of Disable, Allow, Prefer, Require, VerifyCA, VerifyFull.";
        }
    }
}

/// <summary>
/// The shared Redis on which the operator creates an ACL user per project (admin file: a StackExchange.Redis
/// configuration string).
/// </summary>
internal sealed class SharedRedis() : SharedServer(6379)
{
    public bool Tls { get; set; }
}

internal sealed class LeaderElectionOptions
{
    public bool Enabled { get; set; } = true;
    public string LeaseName { get; set; } = "dialoguedb-operator";
    public int LeaseSeconds { get; set; } = 15;
    public int RenewSeconds { get; set; } = 10;
    public int RetrySeconds { get; set; } = 2;
}
