using DialogueDb.Operator.Resources;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>Names and labels of a project's Kubernetes objects, all derived from the project's name.</summary>
internal static class ProjectNaming
{
    public const string FieldManager = "dialoguedb-operator";
    public const string Finalizer = "dialoguedb.io/cleanup";

    /// <summary>
    /// On the credentials and encryption Secrets: a deletion waits until the project goes (their loss cannot be
    /// repaired).
    /// </summary>
    public const string ProtectedSecretFinalizer = "dialoguedb.io/protected";
    public const string ProjectLabel = "dialoguedb.io/project";
    public const string ComponentLabel = "app.kubernetes.io/component";
    public const string ConfigHashAnnotation = "dialoguedb.io/config-hash";
    public const string RotationAnnotation = "dialoguedb.io/rotation";

    /// <summary>On the encryption Secret during a rotation: the new data key's id and when it becomes the active one.</summary>
    public const string PendingKeyAnnotation = "dialoguedb.io/pending-key";
    public const string ActivateAtAnnotation = "dialoguedb.io/activate-at";
    public const string KeyNameLabel = "dialoguedb.io/api-key";

    /// <summary>Any new value (e.g. a timestamp) makes the operator reconcile the project at once, without the error backoff.</summary>
    public const string ReconcileAtAnnotation = "dialoguedb.io/reconcile-at";
    public const string HttpsPort = "https";
    public const int ContainerPort = 8443;

    /// <summary>The API pods' plain-HTTP Prometheus listener (<c>/metrics</c> only; no API data).</summary>
    public const string MetricsPortName = "metrics";

    public const int MetricsPort = 9464;

    /// <summary>The longest project name whose derived names (e.g. <c>-retention-</c> Jobs) stay within Kubernetes limits.</summary>
    public const int MaxProjectNameLength = 40;

    public static string Api(string project) => $"{project}-api";
    public static string Retention(string project) => $"{project}-retention";
    public static string Indexer(string project) => $"{project}-indexer";
    public static string Reindex(string project, int request) => $"{project}-reindex-{request}";
    public static string SearchWorkers(string project) => $"{project}-search-workers";
    public static string Policy(string project) => $"{project}-policy";
    public static string Credentials(string project) => $"{project}-credentials";
    public static string Connection(string project) => $"{project}-connection";
    public static string Encryption(string project) => $"{project}-encryption";
    public static string Tls(string project) => $"{project}-tls";
    public static string ApiKey(string project, string key) => $"{project}-key-{key}";

    public static Dictionary<string, string> Labels(DialogueProject project, string component) => new()
    {
        ["app.kubernetes.io/name"] = "dialoguedb",
        ["app.kubernetes.io/instance"] = project.Metadata.Name,
        ["app.kubernetes.io/managed-by"] = FieldManager,
        ["app.kubernetes.io/part-of"] = "dialoguedb",
        [ComponentLabel] = component,
        [ProjectLabel] = project.Metadata.Name,
    };

    public static Dictionary<string, string> Selector(DialogueProject project, string component) => new()
    {
        [ProjectLabel] = project.Metadata.Name,
        [ComponentLabel] = component,
    };

    public static string Endpoint(DialogueProject project, string clusterDomain) =>
        $"https://{Api(project.Metadata.Name)}.{project.Metadata.NamespaceProperty}.svc.{clusterDomain}";

    /// <summary>DNS names the API's certificate must cover.</summary>
    public static IReadOnlyList<string> ServiceDnsNames(DialogueProject project, string clusterDomain)
    {
        var service = Api(project.Metadata.Name);
        var ns = project.Metadata.NamespaceProperty;
        return [service, $"{service}.{ns}", $"{service}.{ns}.svc", $"{service}.{ns}.svc.{clusterDomain}"];
    }
}
