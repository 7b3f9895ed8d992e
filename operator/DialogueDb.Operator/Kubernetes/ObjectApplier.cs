using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Kubernetes;

/// <summary>
/// Writes child objects with server-side apply under one field manager (force: the operator owns these fields and
/// takes them back from manual edits). It remembers, per object, the hash of what it applied and the
/// resourceVersion the server answered; when the desired object is unchanged and the watched copy still has that
/// resourceVersion, nothing was edited since and the apply is skipped, so a resync of an unchanged project writes
/// nothing.
/// </summary>
internal sealed class ObjectApplier(IKubernetes client, string fieldManager)
{
    private readonly ConcurrentDictionary<string, (string Hash, string? ResourceVersion)> _applied = new();

    /// <summary>
    /// Applies <paramref name="desired"/> unless <paramref name="live"/> shows it is already in place; returns the
    /// object as stored.
    /// </summary>
    public async Task<IKubernetesObject<V1ObjectMeta>?> ApplyAsync(
        IKubernetesObject<V1ObjectMeta> desired, IKubernetesObject<V1ObjectMeta>? live, CancellationToken cancellationToken)
    {
        var key = Key(desired);
        var hash = Hash(desired);
        if (live is not null && _applied.TryGetValue(key, out var last)
            && last.Hash == hash && last.ResourceVersion == live.Metadata.ResourceVersion)
        {
            return live;
        }

        var stored = await PatchAsync(desired, cancellationToken);
        _applied[key] = (hash, stored.Metadata.ResourceVersion);
        return stored;
    }

    private Task<IKubernetesObject<V1ObjectMeta>> PatchAsync(IKubernetesObject<V1ObjectMeta> desired, CancellationToken ct)
    {
        var patch = new V1Patch(desired, V1Patch.PatchType.ApplyPatch);
        var name = desired.Metadata.Name;
        var ns = desired.Metadata.NamespaceProperty;
        return desired switch
        {
            V1Secret => Cast(
                client.CoreV1.PatchNamespacedSecretAsync(patch, name, ns, fieldManager: fieldManager, force: true, cancellationToken: ct)),
            V1Service => Cast(
                client.CoreV1.PatchNamespacedServiceAsync(patch, name, ns, fieldManager: fieldManager, force: true, cancellationToken: ct)),
            V1ServiceAccount => Cast(client.CoreV1.PatchNamespacedServiceAccountAsync(
                patch, name, ns, fieldManager: fieldManager, force: true, cancellationToken: ct)),
            V1Deployment => Cast(client.AppsV1.PatchNamespacedDeploymentAsync(
                patch, name, ns, fieldManager: fieldManager, force: true, cancellationToken: ct)),
            V1CronJob => Cast(client.BatchV1.PatchNamespacedCronJobAsync(
                patch, name, ns, fieldManager: fieldManager, force: true, cancellationToken: ct)),
            V1NetworkPolicy => Cast(client.NetworkingV1.PatchNamespacedNetworkPolicyAsync(
                patch, name, ns, fieldManager: fieldManager, force: true, cancellationToken: ct)),
            V1PodDisruptionBudget => Cast(client.PolicyV1.PatchNamespacedPodDisruptionBudgetAsync(
                patch, name, ns, fieldManager: fieldManager, force: true, cancellationToken: ct)),
            V1Role => Cast(client.RbacAuthorizationV1.PatchNamespacedRoleAsync(
                patch, name, ns, fieldManager: fieldManager, force: true, cancellationToken: ct)),
            V1RoleBinding => Cast(client.RbacAuthorizationV1.PatchNamespacedRoleBindingAsync(
                patch, name, ns, fieldManager: fieldManager, force: true, cancellationToken: ct)),
            _ => throw new NotSupportedException($"No apply for {desired.Kind}."),
        };
    }

    private static async Task<IKubernetesObject<V1ObjectMeta>> Cast<TObject>(Task<TObject> task)
        where TObject : IKubernetesObject<V1ObjectMeta> =>
        await task;

    private static string Key(IKubernetesObject<V1ObjectMeta> o) => $"{o.Kind}/{o.Metadata.NamespaceProperty}/{o.Metadata.Name}";

    public static string Hash(object value) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(KubernetesJson.Serialize(value))))[..16].ToLowerInvariant();
}
