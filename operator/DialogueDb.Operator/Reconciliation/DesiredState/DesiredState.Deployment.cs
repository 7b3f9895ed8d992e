using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// The API Deployment and the pod spec it shares with the retention job: containers, environment, Secret volumes,
/// probes.
/// </summary>
internal static partial class DesiredState
{
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
                // Absent in the default mode, so projects that never use the setting keep their pod template.
                .. ExternalIndexer(project.Spec) ? [new V1EnvVar { Name = "DIALOGUEDB_SEARCH_INDEXER", Value = "external" }] : Array.Empty<V1EnvVar>(),
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

    private static V1PodSpec PodSpec(ProjectInputs inputs, string component, string restartPolicy) => new()
    {
        ServiceAccountName = Api(inputs.Project.Metadata.Name),
        // The token is mounted for the one thing the pods call the Kubernetes API for: watching their policy Secret.
        AutomountServiceAccountToken = true,
        EnableServiceLinks = false,
        RestartPolicy = restartPolicy,
        TerminationGracePeriodSeconds = component == "api" ? 30 : null,
        SecurityContext = PodSecurity(),
        NodeSelector = RegionSelector(inputs.Project.Spec),
        Volumes =
        [
            .. ScratchVolumes(),
            SecretVolume("tls", inputs.TlsSecretName, null),
            SecretVolume(
                "encryption", inputs.EncryptionKeys.SecretName, [new V1KeyToPath { Key = inputs.EncryptionKeys.Key, Path = "keys.json" }]),
            SecretVolume(
                "hash-secret", inputs.ApiKeyHashSecret.SecretName,
                [new V1KeyToPath { Key = inputs.ApiKeyHashSecret.Key, Path = "api-key-hash-secret" }]),
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
            SecurityContext = ContainerSecurity(),
            VolumeMounts =
            [
                .. ScratchMounts(),
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
            container.StartupProbe = Probe("/healthz/live", HttpsPort, "HTTPS", periodSeconds: 2, failureThreshold: 60);
            container.LivenessProbe = Probe("/healthz/live", HttpsPort, "HTTPS", periodSeconds: 10, failureThreshold: 3);
            container.ReadinessProbe = Probe("/healthz/ready", HttpsPort, "HTTPS", periodSeconds: 5, failureThreshold: 3);
        }

        return container;
    }

    private static IEnumerable<V1EnvVar> CommonEnv(ProjectInputs inputs) =>
    [
        new V1EnvVar { Name = "DIALOGUEDB_DATA_DIR", Value = DataDir },
        new V1EnvVar
        {
            Name = "POD_NAMESPACE",
            ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.namespace" } },
        },
        new V1EnvVar { Name = "DIALOGUEDB_POLICY_SECRET", Value = Policy(inputs.Project.Metadata.Name) },
        SecretEnv("DIALOGUEDB_REDIS", inputs.Redis),
        new V1EnvVar { Name = "DIALOGUEDB_REDIS_KEY_PREFIX", Value = inputs.RedisKeyPrefix },
        new V1EnvVar { Name = "DIALOGUEDB_ENCRYPTION_KEYS_FILE", Value = $"{SecretsDir}/encryption/keys.json" },
        new V1EnvVar { Name = "DIALOGUEDB_API_KEY_HASH_SECRET_FILE", Value = $"{SecretsDir}/credentials/api-key-hash-secret" },
        new V1EnvVar { Name = "DIALOGUEDB_EVENTS_KEY_FILE", Value = $"{SecretsDir}/events/{EventsKeyFile}" },
        // The API and the retention job agree on whether search is on (the job's deletions leave index work only then).
        new V1EnvVar { Name = "DIALOGUEDB_SEARCH_ENABLED", Value = SearchEnabled(inputs.Project.Spec) ? "true" : "false" },
    ];

    private static V1PodSecurityContext PodSecurity() => new()
    {
        RunAsNonRoot = true,
        RunAsUser = NonRootUser,
        RunAsGroup = NonRootUser,
        FsGroup = NonRootUser,
        SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
    };

    private static V1SecurityContext ContainerSecurity() => new()
    {
        AllowPrivilegeEscalation = false,
        ReadOnlyRootFilesystem = true,
        RunAsNonRoot = true,
        Capabilities = new V1Capabilities { Drop = ["ALL"] },
        SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
    };

    private static Dictionary<string, string>? RegionSelector(DialogueDb.Operator.Resources.DialogueProjectSpec spec) =>
        spec.Region is { } region ? new Dictionary<string, string> { ["topology.kubernetes.io/region"] = region } : null;

    /// <summary>The writable folders of a read-only container: /tmp and the data folder.</summary>
    private static V1Volume[] ScratchVolumes() =>
    [
        new V1Volume { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("64Mi") } },
        new V1Volume { Name = "data", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("64Mi") } },
    ];

    private static V1VolumeMount[] ScratchMounts() =>
    [
        new V1VolumeMount { Name = "tmp", MountPath = "/tmp" },
        new V1VolumeMount { Name = "data", MountPath = DataDir },
    ];

    /// <summary><c>spec.search.enabled</c>; absent (no <c>search</c>, or no <c>enabled</c>) is on.</summary>
    public static bool SearchEnabled(DialogueDb.Operator.Resources.DialogueProjectSpec spec) => spec.Search?.Enabled != false;

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

    private static V1Probe Probe(string path, string port, string scheme, int periodSeconds, int failureThreshold) => new()
    {
        HttpGet = new V1HTTPGetAction { Path = path, Port = port, Scheme = scheme },
        PeriodSeconds = periodSeconds,
        FailureThreshold = failureThreshold,
        TimeoutSeconds = 2,
    };

    private static Dictionary<string, ResourceQuantity>? Quantities(IDictionary<string, string>? values) =>
        values?.OrderBy(v => v.Key, StringComparer.Ordinal).ToDictionary(v => v.Key, v => new ResourceQuantity(v.Value));
}
