using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Kubernetes;

/// <summary>The watched copies of the operator's child objects, by kind, namespace and name (null: not seen, or not yet synced).</summary>
internal interface IChildLookup
{
    IKubernetesObject<V1ObjectMeta>? Get(string kind, string ns, string name);
}
