using DialogueDb.Operator.Resources;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// The search workers: the indexer Deployment (<c>spec.search.indexer.mode: external</c>) and the reindex Jobs
/// (<c>spec.search.reindex</c>). Their pods get only what <c>dialoguedb index</c> and <c>reindex</c> read: the
/// maintenance role's connection (they see every namespace), the encryption key ring (content and vectors) and the
/// policy Secret (the project id); no Redis, TLS, API-key hash secret or event key.
/// </summary>
internal static partial class DesiredState
{
    public const string IndexerComponent = "indexer";
    public const string ReindexComponent = "reindex";

    /// <summary>How long a finished reindex Job (and its pod's log) stays before Kubernetes deletes it.</summary>
    public const int ReindexJobTtlSeconds = 86400;

    /// <summary><c>spec.search.indexer.mode</c> is external and search is on.</summary>
    public static bool ExternalIndexer(DialogueProjectSpec spec) => SearchEnabled(spec) && spec.Search?.Indexer?.Mode == "external";

    public static V1Deployment IndexerDeployment(ProjectInputs inputs)
    {
        var project = inputs.Project;
        var container = SearchWorker(inputs, IndexerComponent, ["index"],
            [new V1EnvVar { Name = "DIALOGUEDB_METRICS_URLS", Value = $"http://0.0.0.0:{MetricsPort}" }]);
        container.Ports = [new V1ContainerPort { Name = MetricsPortName, ContainerPort = MetricsPort, Protocol = "TCP" }];
        container.StartupProbe = Probe("/healthz/live", MetricsPortName, "HTTP", periodSeconds: 2, failureThreshold: 60);
        container.LivenessProbe = Probe("/healthz/live", MetricsPortName, "HTTP", periodSeconds: 10, failureThreshold: 3);
        container.ReadinessProbe = Probe("/healthz/ready", MetricsPortName, "HTTP", periodSeconds: 5, failureThreshold: 3);
        var pod = SearchWorkerPod(inputs, "Always", container);
        pod.TerminationGracePeriodSeconds = 30;
        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Meta(project, Indexer(project.Metadata.Name), IndexerComponent),
            Spec = new V1DeploymentSpec
            {
                // A project scaled to zero writes nothing: its indexer stops with its API.
                Replicas = inputs.Replicas == 0 ? 0 : project.Spec.Search?.Indexer?.Replicas ?? 1,
                RevisionHistoryLimit = 3,
                Selector = new V1LabelSelector { MatchLabels = Selector(project, IndexerComponent) },
                // A new pod stands by until the old one releases the lock on its way out.
                Strategy = new V1DeploymentStrategy
                {
                    Type = "RollingUpdate",
                    RollingUpdate = new V1RollingUpdateDeployment { MaxUnavailable = "0", MaxSurge = "1" },
                },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta
                    {
                        Labels = Labels(project, IndexerComponent),
                        Annotations = new Dictionary<string, string> { [ConfigHashAnnotation] = inputs.ConfigHash },
                    },
                    Spec = pod,
                },
            },
        };
    }

    /// <summary>The Job of reindex request <paramref name="request"/>: <c>dialoguedb reindex</c> once, kept a day after it ends.</summary>
    public static V1Job ReindexJob(ProjectInputs inputs, int request)
    {
        var project = inputs.Project;
        var pod = SearchWorkerPod(inputs, "Never", SearchWorker(inputs, ReindexComponent, ["reindex"], []));
        return new V1Job
        {
            ApiVersion = "batch/v1",
            Kind = "Job",
            Metadata = Meta(project, Reindex(project.Metadata.Name, request), ReindexComponent),
            Spec = new V1JobSpec
            {
                // The rebuild resumes where a failed attempt stopped.
                BackoffLimit = 3,
                TtlSecondsAfterFinished = ReindexJobTtlSeconds,
                Template = new V1PodTemplateSpec { Metadata = new V1ObjectMeta { Labels = Labels(project, ReindexComponent) }, Spec = pod },
            },
        };
    }

    private static V1PodSpec SearchWorkerPod(ProjectInputs inputs, string restartPolicy, V1Container container) => new()
    {
        // The API's ServiceAccount: it may read the policy Secret, nothing else.
        ServiceAccountName = Api(inputs.Project.Metadata.Name),
        AutomountServiceAccountToken = true,
        EnableServiceLinks = false,
        RestartPolicy = restartPolicy,
        SecurityContext = PodSecurity(),
        NodeSelector = RegionSelector(inputs.Project.Spec),
        Volumes =
        [
            .. ScratchVolumes(),
            SecretVolume(
                "encryption", inputs.EncryptionKeys.SecretName, [new V1KeyToPath { Key = inputs.EncryptionKeys.Key, Path = "keys.json" }]),
        ],
        Containers = [container],
    };

    private static V1Container SearchWorker(ProjectInputs inputs, string name, IList<string> args, IEnumerable<V1EnvVar> env)
    {
        var spec = inputs.Project.Spec;
        var resources = spec.Search?.Indexer?.Resources ?? spec.Resources ?? inputs.Options.DefaultResources;
        return new V1Container
        {
            Name = name,
            Image = inputs.Image,
            ImagePullPolicy = "IfNotPresent",
            Args = args,
            Env =
            [
                new V1EnvVar { Name = "DIALOGUEDB_DATA_DIR", Value = DataDir },
                new V1EnvVar
                {
                    Name = "POD_NAMESPACE",
                    ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.namespace" } },
                },
                new V1EnvVar { Name = "DIALOGUEDB_POLICY_SECRET", Value = Policy(inputs.Project.Metadata.Name) },
                SecretEnv("DIALOGUEDB_POSTGRES", inputs.MaintenanceDatabase),
                new V1EnvVar { Name = "DIALOGUEDB_ENCRYPTION_KEYS_FILE", Value = $"{SecretsDir}/encryption/keys.json" },
                .. env,
            ],
            Resources = new V1ResourceRequirements { Requests = Quantities(resources.Requests), Limits = Quantities(resources.Limits) },
            SecurityContext = ContainerSecurity(),
            VolumeMounts =
            [
                .. ScratchMounts(),
                new V1VolumeMount { Name = "encryption", MountPath = $"{SecretsDir}/encryption", ReadOnlyProperty = true },
            ],
        };
    }
}
