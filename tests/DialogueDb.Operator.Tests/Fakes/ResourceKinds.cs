namespace DialogueDb.Operator.Tests.Fakes;

/// <summary>One kind the fake serves. <see cref="HasGeneration"/> mirrors the real registry strategies: only kinds
/// whose strategy maintains metadata.generation get one (Secrets, ConfigMaps, RBAC, Leases and Events do not).</summary>
public sealed record ResourceKind(
    string Group,
    string Version,
    string Kind,
    string Plural,
    bool Namespaced = true,
    bool StatusSubresource = false,
    bool HasGeneration = false,
    bool Custom = false)
{
    public string ApiVersion => Group.Length == 0 ? Version : Group + "/" + Version;

    /// <summary>Kind with the group, for messages such as <c>deployments.apps "x" not found</c>.</summary>
    public string QualifiedResource => Group.Length == 0 ? Plural : Plural + "." + Group;
}

/// <summary>The kind table: adding a kind to the fake is one line here.</summary>
public static class ResourceKinds
{
    public static IReadOnlyList<ResourceKind> All { get; } =
    [
        new("", "v1", "Namespace", "namespaces", Namespaced: false, StatusSubresource: true),
        new("", "v1", "Secret", "secrets"),
        new("", "v1", "ConfigMap", "configmaps"),
        new("", "v1", "Service", "services", StatusSubresource: true),
        new("", "v1", "ServiceAccount", "serviceaccounts"),
        new("", "v1", "Event", "events"),
        new("", "v1", "Pod", "pods", StatusSubresource: true),
        new("apps", "v1", "Deployment", "deployments", StatusSubresource: true, HasGeneration: true),
        new("batch", "v1", "CronJob", "cronjobs", StatusSubresource: true, HasGeneration: true),
        new("batch", "v1", "Job", "jobs", StatusSubresource: true, HasGeneration: true),
        new("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", HasGeneration: true),
        new("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", StatusSubresource: true, HasGeneration: true),
        new("rbac.authorization.k8s.io", "v1", "Role", "roles"),
        new("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
        new("coordination.k8s.io", "v1", "Lease", "leases"),
        new("events.k8s.io", "v1", "Event", "events"),
        new("dialoguedb.io", "v1alpha1", "DialogueProject", "dialogueprojects", StatusSubresource: true, HasGeneration: true, Custom: true),
    ];

    public static ResourceKind? ByPlural(string apiVersion, string plural) =>
        All.FirstOrDefault(k => k.ApiVersion == apiVersion && k.Plural == plural);

    public static ResourceKind? ByKind(string apiVersion, string kind) =>
        All.FirstOrDefault(k => k.ApiVersion == apiVersion && k.Kind == kind);

    public static ResourceKind Require(string apiVersion, string kind) =>
        ByKind(apiVersion, kind) ?? throw new ArgumentException($"The fake API server does not serve {apiVersion} {kind}; add it to ResourceKinds.All.", nameof(kind));
}
