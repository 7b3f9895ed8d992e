using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Operator.Resources;

internal sealed class NetworkPolicySpec
{
    [Description("Peers allowed to call the API port. Absent: the operator's default peers; an empty list admits nobody.")]
    [MaxLength(32)]
    public IList<NetworkPeer>? IngressFrom { get; set; }
}

internal sealed class NetworkPeer
{
    [Description("Namespaces whose pods may call, by label (e.g. kubernetes.io/metadata.name: my-app).")]
    public IDictionary<string, string>? NamespaceLabels { get; set; }

    [Description("Pods that may call, by label (within the namespaces above, or the project's namespace when none are given).")]
    public IDictionary<string, string>? PodLabels { get; set; }

    [Description("An IP range (CIDR) that may call, e.g. the ingress controller's.")]
    [MaxLength(64)]
    public string? Cidr { get; set; }
}
