namespace DialogueDb.Operator.Kubernetes;

/// <summary>One RBAC rule the operator needs: API group, resource and verbs.</summary>
internal sealed record PermissionRule(string ApiGroup, string Resource, IReadOnlyList<string> Verbs, bool OperatorNamespaceOnly = false);

/// <summary>
/// Every Kubernetes permission the operator uses, in one place. The Helm chart's RBAC is checked against this list,
/// and a test records every request the operator makes to the fake API server and checks each one is covered here.
/// Server-side apply of an object that does not exist yet needs <c>create</c> as well as <c>patch</c>.
/// </summary>
internal static class OperatorPermissions
{
    public static readonly IReadOnlyList<PermissionRule> Rules =
    [
        new("dialoguedb.io", "dialogueprojects", ["get", "list", "watch", "patch"]),
        new("dialoguedb.io", "dialogueprojects/status", ["patch"]),
        // Setting blockOwnerDeletion on children needs update on the owner's finalizers (OwnerReferencesPermissionEnforcement).
        new("dialoguedb.io", "dialogueprojects/finalizers", ["update"]),
        new("", "secrets", ["get", "list", "watch", "create", "update", "patch", "delete"]),
        new("", "services", ["list", "watch", "create", "patch"]),
        new("", "serviceaccounts", ["list", "watch", "create", "patch"]),
        new("", "events", ["create"]),
        // The indexer Deployment is deleted when a project goes back to the in-process indexer.
        new("apps", "deployments", ["list", "watch", "create", "patch", "delete"]),
        new("batch", "cronjobs", ["list", "watch", "create", "patch"]),
        // Reindex Jobs are created and watched (read once when a running one is missing from the watch, to tell "too new"
        // from "deleted"); deletion stops the project's workloads before its data goes: its Jobs are deleted, its pods counted.
        new("batch", "jobs", ["get", "list", "watch", "create", "delete"]),
        new("", "pods", ["list"]),
        new("networking.k8s.io", "networkpolicies", ["list", "watch", "create", "patch"]),
        new("policy", "poddisruptionbudgets", ["list", "watch", "create", "patch", "delete"]),
        new("rbac.authorization.k8s.io", "roles", ["list", "watch", "create", "patch"]),
        new("rbac.authorization.k8s.io", "rolebindings", ["list", "watch", "create", "patch"]),
        new("coordination.k8s.io", "leases", ["get", "create", "update"], OperatorNamespaceOnly: true),
    ];

    public static bool Allows(string apiGroup, string resource, string verb) =>
        Rules.Any(r => r.ApiGroup == apiGroup && r.Resource == resource && r.Verbs.Contains(verb));
}
