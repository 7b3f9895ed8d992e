using System.Globalization;
using System.IO.Hashing;
using System.Text;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>A value the pods read from a Secret key.</summary>
internal sealed record SecretValue(string SecretName, string Key);

/// <summary>Everything the desired objects depend on besides the project itself, resolved by the reconciler.</summary>
internal sealed record ProjectInputs
{
    public required DialogueProject Project { get; init; }
    public required OperatorOptions Options { get; init; }
    public required int Replicas { get; init; }
    public required string Image { get; init; }

    /// <summary>The API role's connection (subject to row-level security).</summary>
    public required SecretValue ApiDatabase { get; init; }

    /// <summary>The owner role's connection, used only by the migration step.</summary>
    public required SecretValue OwnerDatabase { get; init; }

    /// <summary>The maintenance role's connection (sees all namespaces), for the audit relay and retention.</summary>
    public required SecretValue MaintenanceDatabase { get; init; }

    public required string ApiRole { get; init; }
    public required string MaintenanceRole { get; init; }
    public required SecretValue Redis { get; init; }
    public required string RedisKeyPrefix { get; init; }
    public required SecretValue EncryptionKeys { get; init; }
    public required SecretValue ApiKeyHashSecret { get; init; }
    public required string TlsSecretName { get; init; }

    /// <summary>The project policy document (plan numbers and API key hashes) the pods watch.</summary>
    public required string PolicyJson { get; init; }

    /// <summary>Hash of what the pods read only at start (connection Secrets' versions); a change rolls the pods.</summary>
    public required string ConfigHash { get; init; }
}

/// <summary>
/// The objects one DialogueProject becomes, as pure code: no I/O, no clock, no randomness, so the same inputs always
/// give byte-identical objects (a no-op resync writes nothing new) and every option is unit-tested without a cluster.
/// </summary>
internal static class DesiredState
{
    private const string DataDir = "/var/lib/dialoguedb";
    public const string SecretsDir = "/etc/dialoguedb";
    private const long NonRootUser = 10001;

    public static IReadOnlyList<IKubernetesObject<V1ObjectMeta>> Build(ProjectInputs inputs)
    {
        var objects = new List<IKubernetesObject<V1ObjectMeta>>
        {
            ServiceAccount(inputs),
            Role(inputs),
            RoleBinding(inputs),
            PolicySecret(inputs),
            Deployment(inputs),
            Service(inputs),
            RetentionCronJob(inputs),
            NetworkPolicy(inputs),
        };
        if (inputs.Replicas > 1)
        {
            objects.Add(DisruptionBudget(inputs));
        }

        return objects;
    }

    public static V1ServiceAccount ServiceAccount(ProjectInputs inputs) => new()
    {
        ApiVersion = "v1",
        Kind = "ServiceAccount",
        Metadata = Meta(inputs.Project, Api(inputs.Project.Metadata.Name), "api"),
        AutomountServiceAccountToken = false,
    };

    /// <summary>The pods may read and watch their own policy Secret, and nothing else.</summary>
    public static V1Role Role(ProjectInputs inputs) => new()
    {
        ApiVersion = "rbac.authorization.k8s.io/v1",
        Kind = "Role",
        Metadata = Meta(inputs.Project, Api(inputs.Project.Metadata.Name), "api"),
        Rules =
        [
            new V1PolicyRule
            {
                ApiGroups = [""],
                Resources = ["secrets"],
                ResourceNames = [Policy(inputs.Project.Metadata.Name)],
                Verbs = ["get", "list", "watch"],
            },
        ],
    };

    public static V1RoleBinding RoleBinding(ProjectInputs inputs) => new()
    {
        ApiVersion = "rbac.authorization.k8s.io/v1",
        Kind = "RoleBinding",
        Metadata = Meta(inputs.Project, Api(inputs.Project.Metadata.Name), "api"),
        RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "Role", Name = Api(inputs.Project.Metadata.Name) },
        Subjects =
        [
            new Rbacv1Subject { Kind = "ServiceAccount", Name = Api(inputs.Project.Metadata.Name), NamespaceProperty = inputs.Project.Metadata.NamespaceProperty },
        ],
    };

    public static V1Secret PolicySecret(ProjectInputs inputs) =>
        Secret(inputs.Project, Policy(inputs.Project.Metadata.Name), "policy", new() { ["project.json"] = Encoding.UTF8.GetBytes(inputs.PolicyJson) });

    /// <summary>A Secret of the project, owned by it and labelled like its other children.</summary>
    public static V1Secret Secret(DialogueProject project, string name, string component, Dictionary<string, byte[]> data, string type = "Opaque") => new()
    {
        ApiVersion = "v1",
        Kind = "Secret",
        Metadata = Meta(project, name, component),
        Type = type,
        Data = data,
    };

    /// <summary>The key of the event key Secret the pods mount and event consumers read.</summary>
    public const string EventsKeyFile = "events-key.json";

    /// <summary>
    /// The Secret <c>&lt;project&gt;-events-key</c> holding the key that seals published audit events (see the
    /// service's README): created once with a generated key (<c>dialoguedb events rotate-key</c> writes the same form),
    /// never overwritten; consumers of the event stream are given read access to it.
    /// </summary>
    public static V1Secret EventsKeySecret(DialogueProject project, string eventKeyJson) =>
        Secret(project, EventsKeySecretName(project.Metadata.Name), "events", new Dictionary<string, byte[]>
        {
            [EventsKeyFile] = Encoding.UTF8.GetBytes(eventKeyJson),
        });

    public static string EventsKeySecretName(string project) => $"{project}-events-key";

    public static V1Deployment Deployment(ProjectInputs inputs)
    {
        var project = inputs.Project;
        var name = Api(project.Metadata.Name);
        var template = new V1PodTemplateSpec
        {
            Metadata = new V1ObjectMeta
            {
                Labels = Labels(project, "api"),
                Annotations = new Dictionary<string, string> { [ConfigHashAnnotation] = inputs.ConfigHash },
            },
            Spec = PodSpec(inputs, "api", "Always"),
        };
        template.Spec.InitContainers =
        [
            Container(inputs, "migrate", ["migrate", "--app-role", inputs.ApiRole, "--maintenance-role", inputs.MaintenanceRole],
                [SecretEnv("DIALOGUEDB_POSTGRES", inputs.OwnerDatabase)], withProbes: false),
        ];
        template.Spec.Containers =
        [
            Container(inputs, "api", ["serve"],
            [
                new V1EnvVar { Name = "DIALOGUEDB_URLS", Value = $"https://0.0.0.0:{ContainerPort}" },
                new V1EnvVar { Name = "DIALOGUEDB_METRICS_URLS", Value = $"http://0.0.0.0:{MetricsPort}" },
                SecretEnv("DIALOGUEDB_POSTGRES", inputs.ApiDatabase),
                SecretEnv("DIALOGUEDB_RELAY_POSTGRES", inputs.MaintenanceDatabase),
                new V1EnvVar { Name = "DIALOGUEDB_TLS_CERT", Value = $"{SecretsDir}/tls/tls.crt" },
                new V1EnvVar { Name = "DIALOGUEDB_TLS_KEY", Value = $"{SecretsDir}/tls/tls.key" },
            ], withProbes: true),
        ];
        SummaryKey.AddTo(template.Spec, project.Spec);
        if (inputs.Replicas > 1)
        {
            template.Spec.TopologySpreadConstraints =
            [
                new V1TopologySpreadConstraint
                {
                    MaxSkew = 1,
                    TopologyKey = "kubernetes.io/hostname",
                    WhenUnsatisfiable = "ScheduleAnyway",
                    LabelSelector = new V1LabelSelector { MatchLabels = Selector(project, "api") },
                },
            ];
        }

        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Meta(project, name, "api"),
            Spec = new V1DeploymentSpec
            {
                Replicas = inputs.Replicas,
                RevisionHistoryLimit = 3,
                Selector = new V1LabelSelector { MatchLabels = Selector(project, "api") },
                Strategy = new V1DeploymentStrategy
                {
                    Type = "RollingUpdate",
                    RollingUpdate = new V1RollingUpdateDeployment { MaxUnavailable = "0", MaxSurge = "1" },
                },
                Template = template,
            },
        };
    }

    public static V1Service Service(ProjectInputs inputs) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = Meta(inputs.Project, Api(inputs.Project.Metadata.Name), "api"),
        Spec = new V1ServiceSpec
        {
            Type = "ClusterIP",
            Selector = Selector(inputs.Project, "api"),
            Ports = [new V1ServicePort { Name = HttpsPort, Port = 443, TargetPort = HttpsPort, Protocol = "TCP", AppProtocol = "https" }],
        },
    };

    public static V1CronJob RetentionCronJob(ProjectInputs inputs)
    {
        var project = inputs.Project;
        var pod = PodSpec(inputs, "retention", "Never");
        pod.Containers = [Container(inputs, "retention", ["retention"], [SecretEnv("DIALOGUEDB_POSTGRES", inputs.MaintenanceDatabase)], withProbes: false)];
        return new V1CronJob
        {
            ApiVersion = "batch/v1",
            Kind = "CronJob",
            Metadata = Meta(project, Retention(project.Metadata.Name), "retention"),
            Spec = new V1CronJobSpec
            {
                Schedule = project.Spec.RetentionSchedule ?? DefaultRetentionSchedule(project),
                TimeZone = "Etc/UTC",
                ConcurrencyPolicy = "Forbid",
                StartingDeadlineSeconds = 3600,
                SuccessfulJobsHistoryLimit = 1,
                FailedJobsHistoryLimit = 3,
                Suspend = project.Spec.Suspend == true ? true : null,
                JobTemplate = new V1JobTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = Labels(project, "retention") },
                    Spec = new V1JobSpec
                    {
                        BackoffLimit = 3,
                        TtlSecondsAfterFinished = 86400,
                        Template = new V1PodTemplateSpec
                        {
                            Metadata = new V1ObjectMeta { Labels = Labels(project, "retention") },
                            Spec = pod,
                        },
                    },
                },
            },
        };
    }

    /// <summary>
    /// Ingress only from the allowed peers to the API port; egress only to DNS, PostgreSQL, Redis and the Kubernetes API
    /// (the pods watch their policy Secret), and to the LLM endpoint when the project's summary provider calls one. Applies to the API and the retention pods alike.
    /// </summary>
    public static V1NetworkPolicy NetworkPolicy(ProjectInputs inputs)
    {
        var project = inputs.Project;
        var options = inputs.Options;
        var peers = project.Spec.NetworkPolicy?.IngressFrom ?? options.DefaultIngressFrom;
        var egress = new List<V1NetworkPolicyEgressRule>
        {
            new()
            {
                To =
                [
                    new V1NetworkPolicyPeer
                    {
                        NamespaceSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = "kube-system" } },
                        PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["k8s-app"] = "kube-dns" } },
                    },
                ],
                Ports = [new V1NetworkPolicyPort { Protocol = "UDP", Port = 53 }, new V1NetworkPolicyPort { Protocol = "TCP", Port = 53 }],
            },
            new()
            {
                To = options.KubernetesApiCidrs.Count == 0 ? null : options.KubernetesApiCidrs.Select(c => new V1NetworkPolicyPeer { IpBlock = new V1IPBlock { Cidr = c } }).ToList(),
                Ports = [new V1NetworkPolicyPort { Protocol = "TCP", Port = 443 }, new V1NetworkPolicyPort { Protocol = "TCP", Port = 6443 }],
            },
        };
        if (project.Spec.Database?.SecretRef is null && options.Postgres is { } postgres)
        {
            egress.Add(EgressTo(postgres.Peers, postgres.Port));
        }

        if (project.Spec.Redis?.SecretRef is null && options.Redis is { } redis)
        {
            egress.Add(EgressTo(redis.Peers, redis.Port));
        }

        if (SummaryKey.Egress(project.Spec, options) is { } llm)
        {
            egress.Add(llm);
        }

        if (project.Spec.Database?.SecretRef is not null || project.Spec.Redis?.SecretRef is not null)
        {
            // The customer's own servers are known only by address inside their Secret: allow their usual ports.
            var ports = new List<V1NetworkPolicyPort>();
            if (project.Spec.Database?.SecretRef is not null)
            {
                ports.Add(new V1NetworkPolicyPort { Protocol = "TCP", Port = 5432 });
            }

            if (project.Spec.Redis?.SecretRef is not null)
            {
                ports.Add(new V1NetworkPolicyPort { Protocol = "TCP", Port = 6379 });
            }

            egress.Add(new V1NetworkPolicyEgressRule { Ports = ports });
        }

        return new V1NetworkPolicy
        {
            ApiVersion = "networking.k8s.io/v1",
            Kind = "NetworkPolicy",
            Metadata = Meta(project, Api(project.Metadata.Name), "api"),
            Spec = new V1NetworkPolicySpec
            {
                PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { [ProjectLabel] = project.Metadata.Name } },
                PolicyTypes = ["Ingress", "Egress"],
                Ingress =
                [
                    .. peers.Count == 0 ? [] : (V1NetworkPolicyIngressRule[])[new V1NetworkPolicyIngressRule
                    {
                        FromProperty = peers.Select(Peer).ToList(), Ports = [new V1NetworkPolicyPort { Protocol = "TCP", Port = ContainerPort }],
                    }],
                    // Prometheus (the chart's metrics.scrapeFrom) reaches the metrics port only, never the API's.
                    .. options.MetricsScrapeFrom.Count == 0 ? [] : (V1NetworkPolicyIngressRule[])[new V1NetworkPolicyIngressRule
                    {
                        FromProperty = options.MetricsScrapeFrom.Select(Peer).ToList(),
                        Ports = [new V1NetworkPolicyPort { Protocol = "TCP", Port = MetricsPort }],
                    }],
                ],
                Egress = egress,
            },
        };
    }

    public static V1PodDisruptionBudget DisruptionBudget(ProjectInputs inputs) => new()
    {
        ApiVersion = "policy/v1",
        Kind = "PodDisruptionBudget",
        Metadata = Meta(inputs.Project, Api(inputs.Project.Metadata.Name), "api"),
        Spec = new V1PodDisruptionBudgetSpec
        {
            MaxUnavailable = 1,
            Selector = new V1LabelSelector { MatchLabels = Selector(inputs.Project, "api") },
        },
    };

    /// <summary>Once a day at a minute between 00:00 and 05:59 UTC derived from the project, so projects do not all run at once.</summary>
    public static string DefaultRetentionSchedule(DialogueProject project)
    {
        var hash = Crc32.HashToUInt32(Encoding.UTF8.GetBytes($"{project.Metadata.NamespaceProperty}/{project.Metadata.Name}"));
        return string.Create(CultureInfo.InvariantCulture, $"{hash % 60} {hash / 60 % 6} * * *");
    }

    public static V1OwnerReference OwnerReference(DialogueProject project) => new()
    {
        ApiVersion = DialogueProject.GroupVersion,
        Kind = DialogueProject.KindName,
        Name = project.Metadata.Name,
        Uid = project.Metadata.Uid,
        Controller = true,
        BlockOwnerDeletion = true,
    };

    public static V1ObjectMeta Meta(DialogueProject project, string name, string component) => new()
    {
        Name = name,
        NamespaceProperty = project.Metadata.NamespaceProperty,
        Labels = Labels(project, component),
        OwnerReferences = [OwnerReference(project)],
    };

    private static V1PodSpec PodSpec(ProjectInputs inputs, string component, string restartPolicy) => new()
    {
        ServiceAccountName = Api(inputs.Project.Metadata.Name),
        // The token is mounted for the one thing the pods call the Kubernetes API for: watching their policy Secret.
        AutomountServiceAccountToken = true,
        EnableServiceLinks = false,
        RestartPolicy = restartPolicy,
        TerminationGracePeriodSeconds = component == "api" ? 30 : null,
        SecurityContext = new V1PodSecurityContext
        {
            RunAsNonRoot = true,
            RunAsUser = NonRootUser,
            RunAsGroup = NonRootUser,
            FsGroup = NonRootUser,
            SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
        },
        NodeSelector = inputs.Project.Spec.Region is { } region
            ? new Dictionary<string, string> { ["topology.kubernetes.io/region"] = region }
            : null,
        Volumes =
        [
            new V1Volume { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("64Mi") } },
            new V1Volume { Name = "data", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("64Mi") } },
            SecretVolume("tls", inputs.TlsSecretName, null),
            SecretVolume("encryption", inputs.EncryptionKeys.SecretName, [new V1KeyToPath { Key = inputs.EncryptionKeys.Key, Path = "keys.json" }]),
            SecretVolume("hash-secret", inputs.ApiKeyHashSecret.SecretName, [new V1KeyToPath { Key = inputs.ApiKeyHashSecret.Key, Path = "api-key-hash-secret" }]),
            // Optional: until the Secret exists the relay publishes nothing (events wait in the outbox), it never starts unsealed.
            new V1Volume
            {
                Name = "events-key",
                Secret = new V1SecretVolumeSource
                {
                    SecretName = EventsKeySecretName(inputs.Project.Metadata.Name),
                    Items = [new V1KeyToPath { Key = EventsKeyFile, Path = EventsKeyFile }],
                    DefaultMode = 0x100 /* 0400 */,
                    Optional = true,
                },
            },
        ],
    };

    private static V1Container Container(ProjectInputs inputs, string name, IList<string> args, IEnumerable<V1EnvVar> env, bool withProbes)
    {
        var resources = inputs.Project.Spec.Resources ?? inputs.Options.DefaultResources;
        var container = new V1Container
        {
            Name = name,
            Image = inputs.Image,
            ImagePullPolicy = "IfNotPresent",
            Args = args,
            Env = [.. CommonEnv(inputs), .. env],
            Resources = new V1ResourceRequirements
            {
                Requests = Quantities(resources.Requests),
                Limits = Quantities(resources.Limits),
            },
            SecurityContext = new V1SecurityContext
            {
                AllowPrivilegeEscalation = false,
                ReadOnlyRootFilesystem = true,
                RunAsNonRoot = true,
                Capabilities = new V1Capabilities { Drop = ["ALL"] },
                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
            },
            VolumeMounts =
            [
                new V1VolumeMount { Name = "tmp", MountPath = "/tmp" },
                new V1VolumeMount { Name = "data", MountPath = DataDir },
                new V1VolumeMount { Name = "tls", MountPath = $"{SecretsDir}/tls", ReadOnlyProperty = true },
                new V1VolumeMount { Name = "encryption", MountPath = $"{SecretsDir}/encryption", ReadOnlyProperty = true },
                new V1VolumeMount { Name = "hash-secret", MountPath = $"{SecretsDir}/credentials", ReadOnlyProperty = true },
                new V1VolumeMount { Name = "events-key", MountPath = $"{SecretsDir}/events", ReadOnlyProperty = true },
            ],
        };
        if (withProbes)
        {
            container.Ports =
            [
                new V1ContainerPort { Name = HttpsPort, ContainerPort = ContainerPort, Protocol = "TCP" },
                new V1ContainerPort { Name = MetricsPortName, ContainerPort = MetricsPort, Protocol = "TCP" },
            ];
            container.StartupProbe = Probe("/healthz/live", periodSeconds: 2, failureThreshold: 60);
            container.LivenessProbe = Probe("/healthz/live", periodSeconds: 10, failureThreshold: 3);
            container.ReadinessProbe = Probe("/healthz/ready", periodSeconds: 5, failureThreshold: 3);
        }

        return container;
    }

    private static IEnumerable<V1EnvVar> CommonEnv(ProjectInputs inputs) =>
    [
        new V1EnvVar { Name = "DIALOGUEDB_DATA_DIR", Value = DataDir },
        new V1EnvVar { Name = "POD_NAMESPACE", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.namespace" } } },
        new V1EnvVar { Name = "DIALOGUEDB_POLICY_SECRET", Value = Policy(inputs.Project.Metadata.Name) },
        SecretEnv("DIALOGUEDB_REDIS", inputs.Redis),
        new V1EnvVar { Name = "DIALOGUEDB_REDIS_KEY_PREFIX", Value = inputs.RedisKeyPrefix },
        new V1EnvVar { Name = "DIALOGUEDB_ENCRYPTION_KEYS_FILE", Value = $"{SecretsDir}/encryption/keys.json" },
        new V1EnvVar { Name = "DIALOGUEDB_API_KEY_HASH_SECRET_FILE", Value = $"{SecretsDir}/credentials/api-key-hash-secret" },
        new V1EnvVar { Name = "DIALOGUEDB_EVENTS_KEY_FILE", Value = $"{SecretsDir}/events/{EventsKeyFile}" },
    ];

    private static V1EnvVar SecretEnv(string name, SecretValue value) => new()
    {
        Name = name,
        ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = value.SecretName, Key = value.Key } },
    };

    private static V1Volume SecretVolume(string name, string secret, IList<V1KeyToPath>? items) => new()
    {
        Name = name,
        Secret = new V1SecretVolumeSource { SecretName = secret, Items = items, DefaultMode = 0x100 /* 0400 */ },
    };

    private static V1Probe Probe(string path, int periodSeconds, int failureThreshold) => new()
    {
        HttpGet = new V1HTTPGetAction { Path = path, Port = HttpsPort, Scheme = "HTTPS" },
        PeriodSeconds = periodSeconds,
        FailureThreshold = failureThreshold,
        TimeoutSeconds = 2,
    };

    private static Dictionary<string, ResourceQuantity>? Quantities(IDictionary<string, string>? values) =>
        values?.OrderBy(v => v.Key, StringComparer.Ordinal).ToDictionary(v => v.Key, v => new ResourceQuantity(v.Value));

    public static V1NetworkPolicyPeer Peer(NetworkPeer peer) => new()
    {
        NamespaceSelector = peer.NamespaceLabels is { } ns ? new V1LabelSelector { MatchLabels = new Dictionary<string, string>(ns) } : null,
        PodSelector = peer.PodLabels is { } pods ? new V1LabelSelector { MatchLabels = new Dictionary<string, string>(pods) } : null,
        IpBlock = peer.Cidr is { } cidr ? new V1IPBlock { Cidr = cidr } : null,
    };

    private static V1NetworkPolicyEgressRule EgressTo(List<NetworkPeer> peers, int port) => new()
    {
        To = peers.Count == 0 ? null : peers.Select(Peer).ToList(),
        Ports = [new V1NetworkPolicyPort { Protocol = "TCP", Port = port }],
    };
}
