using System.Collections.Concurrent;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Operator.Kubernetes;

/// <summary>
/// Reads and writes the Secrets the operator generates (labelled managed-by, so the controller's Secret watch in
/// <see cref="ChildCache"/> holds them): a read comes from the watched copy, so a resync of an unchanged project reads
/// none of them from the API server. A read the watch cannot answer yet is a GET: a Secret it has not delivered, and
/// one this operator wrote whose watched copy is not yet at the resourceVersion the write answered (the watch lags
/// the write by a moment; a reconcile in between must not act on the copy from before it). Every read is a copy, so a
/// step may change what it read before writing it back.
/// </summary>
internal sealed class OwnSecrets(IKubernetes client, ChildCache children)
{
    private const string Kind = "Secret";

    /// <summary>The resourceVersion last known to be current, per Secret, until the watched copy shows it.</summary>
    private readonly ConcurrentDictionary<(string Namespace, string Name), string> _awaited = new();

    /// <summary>The Secret, or null when it does not exist.</summary>
    public async Task<V1Secret?> ReadAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var cached = children.Get(Kind, ns, name) as V1Secret;
        var key = (ns, name);
        if (cached is not null)
        {
            if (!_awaited.TryGetValue(key, out var awaited))
            {
                return Copy(cached);
            }

            if (awaited == cached.Metadata.ResourceVersion)
            {
                _awaited.TryRemove(KeyValuePair.Create(key, awaited));
                return Copy(cached);
            }
        }

        // The watch has not caught up: trust its copy again once it shows what the API server has now.
        var read = await client.ReadSecretOrNullAsync(ns, name, cancellationToken);
        if (read is null)
        {
            _awaited.TryRemove(key, out _);
        }
        else
        {
            _awaited[key] = read.Metadata.ResourceVersion;
        }

        return read;
    }

    /// <summary>
    /// The Secrets in a namespace with every one of <paramref name="labels"/>, from the watch once it has listed, else
    /// a LIST. The watched list may still hold a Secret deleted a moment ago; a delete of it answers 404.
    /// </summary>
    public async Task<IReadOnlyList<V1Secret>> ListAsync(
        string ns, IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        bool Matches(V1Secret s) =>
            labels.All(l => s.Metadata.Labels?.TryGetValue(l.Key, out var value) == true && value == l.Value);
        if (children.Items(Kind) is { } watched)
        {
            return [.. watched.OfType<V1Secret>().Where(s => s.Metadata.NamespaceProperty == ns && Matches(s)).Select(Copy)];
        }

        var selector = string.Join(',', labels.Select(l => $"{l.Key}={l.Value}"));
        var listed = await client.CoreV1.ListNamespacedSecretAsync(ns, labelSelector: selector, cancellationToken: cancellationToken);
        return [.. listed.Items];
    }

    /// <summary>Creates a Secret; if another writer got there first (409), theirs is kept and returned.</summary>
    public async Task<V1Secret> CreateOnceAsync(V1Secret secret, string fieldManager, CancellationToken cancellationToken) =>
        Written(await client.CreateSecretOnceAsync(secret, fieldManager, cancellationToken));

    /// <summary>Replaces a Secret at the resourceVersion it was read at (409 when it changed since).</summary>
    public async Task<V1Secret> ReplaceAsync(V1Secret secret, CancellationToken cancellationToken) =>
        Written(await client.CoreV1.ReplaceNamespacedSecretAsync(
            secret, secret.Metadata.Name, secret.Metadata.NamespaceProperty, cancellationToken: cancellationToken));

    /// <summary>A JSON merge patch of a Secret.</summary>
    public async Task<V1Secret> MergePatchAsync(
        string ns, string name, object patch, string fieldManager, CancellationToken cancellationToken) =>
        Written(await client.CoreV1.PatchNamespacedSecretAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch),
            name, ns, fieldManager: fieldManager, cancellationToken: cancellationToken));

    /// <summary>Deletes a Secret; false when it was already gone.</summary>
    public async Task<bool> DeleteAsync(string ns, string name, CancellationToken cancellationToken)
    {
        _awaited.TryRemove((ns, name), out _);
        try
        {
            await client.CoreV1.DeleteNamespacedSecretAsync(name, ns, cancellationToken: cancellationToken);
            return true;
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    private V1Secret Written(V1Secret stored)
    {
        _awaited[(stored.Metadata.NamespaceProperty, stored.Metadata.Name)] = stored.Metadata.ResourceVersion;
        return stored;
    }

    /// <summary>A deep copy: the watched object is shared by every reader and must never change under them.</summary>
    private static V1Secret Copy(V1Secret secret) => KubernetesJson.Deserialize<V1Secret>(KubernetesJson.Serialize(secret));
}
