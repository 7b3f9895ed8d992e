using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Kubernetes;

/// <summary>
/// The watched copies of the operator's child objects, by kind, namespace and name. One instance is shared: the
/// controller registers a watch per kind (and per watched namespace) into it, the reconciler reads from it.
/// </summary>
internal sealed class ChildCache
{
    private readonly Dictionary<string, List<IResourceCache<IKubernetesObject<V1ObjectMeta>>>> _byKind = new(StringComparer.Ordinal);

    /// <summary>Whether every registered watch has listed once.</summary>
    public bool IsSynced => _byKind.Values.SelectMany(c => c).All(c => c.IsSynced);

    /// <summary>Registers a watch of <paramref name="kind"/>; called while the controller is built, before it runs.</summary>
    public void Add(string kind, IResourceCache<IKubernetesObject<V1ObjectMeta>> cache)
    {
        if (!_byKind.TryGetValue(kind, out var list))
        {
            _byKind[kind] = list = [];
        }

        list.Add(cache);
    }

    /// <summary>Every watched object of <paramref name="kind"/>, or null when it has no watch or one has not listed yet.</summary>
    public IReadOnlyCollection<IKubernetesObject<V1ObjectMeta>>? Items(string kind) =>
        _byKind.TryGetValue(kind, out var caches) && caches.All(c => c.IsSynced) ? [.. caches.SelectMany(c => c.Items)] : null;

    /// <summary>The watched copy, or null when it does not exist (or its watch has not listed yet).</summary>
    public IKubernetesObject<V1ObjectMeta>? Get(string kind, string ns, string name) =>
        _byKind.TryGetValue(kind, out var caches) ? caches.Select(c => c.Get(ns, name)).FirstOrDefault(o => o is not null) : null;
}
