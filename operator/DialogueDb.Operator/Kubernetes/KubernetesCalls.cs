using System.Net;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Operator.Kubernetes;

/// <summary>The client calls the reconcile steps share, with "not found" and "already exists" as results, not exceptions.</summary>
internal static class KubernetesCalls
{
    public static async Task<DialogueProject?> ReadProjectOrNullAsync(
        this IKubernetes client, string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await client.CustomObjects.GetNamespacedCustomObjectAsync<DialogueProject>(
                DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, name, cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public static async Task<V1Secret?> ReadSecretOrNullAsync(
        this IKubernetes client, string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Creates a Secret; if another writer got there first (409), theirs is kept and returned.</summary>
    public static async Task<V1Secret> CreateSecretOnceAsync(
        this IKubernetes client, V1Secret secret, string fieldManager, CancellationToken cancellationToken)
    {
        var ns = secret.Metadata.NamespaceProperty;
        try
        {
            return await client.CoreV1.CreateNamespacedSecretAsync(
                secret, ns, fieldManager: fieldManager, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return await client.CoreV1.ReadNamespacedSecretAsync(secret.Metadata.Name, ns, cancellationToken: cancellationToken);
        }
    }

    /// <summary>Runs a delete or patch call; an object that is already gone (404) counts as done.</summary>
    public static async Task IgnoreNotFoundAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }
}
