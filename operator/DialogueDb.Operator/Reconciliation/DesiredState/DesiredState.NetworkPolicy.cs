using DialogueDb.Operator.Resources;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>Who may reach the pods, and what they may reach.</summary>
internal static partial class DesiredState
{
    /// <summary>
    /// Ingress only from the allowed peers to the API port; egress only to DNS, PostgreSQL, Redis and the Kubernetes API
    /// (the pods watch their policy Secret), and to the LLM endpoint when the project's summary provider calls one.
    /// Applies to the API and the retention pods alike; the search workers have <see cref="SearchWorkersNetworkPolicy"/>.
    /// </summary>
    public static V1NetworkPolicy NetworkPolicy(ProjectInputs inputs)
    {
        var project = inputs.Project;
        var options = inputs.Options;
        var peers = project.Spec.NetworkPolicy?.IngressFrom ?? options.DefaultIngressFrom;
        var egress = new List<V1NetworkPolicyEgressRule> { DnsEgress(), KubernetesApiEgress(options) };
        if (project.Spec.Database?.SecretRef is null && options.Postgres is { } postgres)
        {
            egress.Add(EgressTo(postgres.Peers, postgres.Port));
        }

        if (project.Spec.Redis?.SecretRef is null && options.Redis is { } redis)
        {
            egress.Add(EgressTo(redis.Peers, redis.Port));
        }

        if (SummaryKey.Egress(project.Spec, options) is { } llm)
        {
            egress.Add(llm);
        }

        if (project.Spec.Database?.SecretRef is not null || project.Spec.Redis?.SecretRef is not null)
        {
            // The customer's own servers are known only by address inside their Secret: allow their usual ports.
            var ports = new List<V1NetworkPolicyPort>();
            if (project.Spec.Database?.SecretRef is not null)
            {
                ports.Add(new V1NetworkPolicyPort { Protocol = "TCP", Port = 5432 });
            }

            if (project.Spec.Redis?.SecretRef is not null)
            {
                ports.Add(new V1NetworkPolicyPort { Protocol = "TCP", Port = 6379 });
            }

            egress.Add(new V1NetworkPolicyEgressRule { Ports = ports });
        }

        return new V1NetworkPolicy
        {
            ApiVersion = "networking.k8s.io/v1",
            Kind = "NetworkPolicy",
            Metadata = Meta(project, Api(project.Metadata.Name), "api"),
            Spec = new V1NetworkPolicySpec
            {
                // Every pod of the project but the search workers, which have a narrower policy of their own.
                PodSelector = new V1LabelSelector
                {
                    MatchLabels = new Dictionary<string, string> { [ProjectLabel] = project.Metadata.Name },
                    MatchExpressions =
                    [
                        new V1LabelSelectorRequirement { Key = ComponentLabel, OperatorProperty = "NotIn", Values = SearchWorkerComponents },
                    ],
                },
                PolicyTypes = ["Ingress", "Egress"],
                Ingress =
                [
                    .. peers.Count == 0 ? [] : (V1NetworkPolicyIngressRule[])[new V1NetworkPolicyIngressRule
                    {
                        FromProperty = peers.Select(Peer).ToList(), Ports = [new V1NetworkPolicyPort { Protocol = "TCP", Port = ContainerPort }],
                    }],
                    // Prometheus (the chart's metrics.scrapeFrom) reaches the metrics port only, never the API's.
                    .. MetricsIngress(options),
                ],
                Egress = egress,
            },
        };
    }

    private static V1NetworkPolicyIngressRule[] MetricsIngress(Hosting.OperatorOptions options) =>
        options.MetricsScrapeFrom.Count == 0 ? [] :
        [
            new V1NetworkPolicyIngressRule
            {
                FromProperty = options.MetricsScrapeFrom.Select(Peer).ToList(),
                Ports = [new V1NetworkPolicyPort { Protocol = "TCP", Port = MetricsPort }],
            },
        ];

    private static V1NetworkPolicyEgressRule DnsEgress() => new()
    {
        To =
        [
            new V1NetworkPolicyPeer
            {
                NamespaceSelector = MatchLabel("kubernetes.io/metadata.name", "kube-system"),
                PodSelector = MatchLabel("k8s-app", "kube-dns"),
            },
        ],
        Ports = [new V1NetworkPolicyPort { Protocol = "UDP", Port = 53 }, new V1NetworkPolicyPort { Protocol = "TCP", Port = 53 }],
    };

    private static V1NetworkPolicyEgressRule KubernetesApiEgress(Hosting.OperatorOptions options) => new()
    {
        To = options.KubernetesApiCidrs.Count == 0
            ? null
            : options.KubernetesApiCidrs.Select(c => new V1NetworkPolicyPeer { IpBlock = new V1IPBlock { Cidr = c } }).ToList(),
        Ports =
        [
            new V1NetworkPolicyPort { Protocol = "TCP", Port = 443 },
            new V1NetworkPolicyPort { Protocol = "TCP", Port = 6443 },
        ],
    };

    public static V1NetworkPolicyPeer Peer(NetworkPeer peer) => new()
    {
        NamespaceSelector =
            peer.NamespaceLabels is { } ns ? new V1LabelSelector { MatchLabels = new Dictionary<string, string>(ns) } : null,
        PodSelector = peer.PodLabels is { } pods ? new V1LabelSelector { MatchLabels = new Dictionary<string, string>(pods) } : null,
        IpBlock = peer.Cidr is { } cidr ? new V1IPBlock { Cidr = cidr } : null,
    };

    private static V1LabelSelector MatchLabel(string key, string value) =>
        new() { MatchLabels = new Dictionary<string, string> { [key] = value } };

    private static V1NetworkPolicyEgressRule EgressTo(List<NetworkPeer> peers, int port) => new()
    {
        To = peers.Count == 0 ? null : peers.Select(Peer).ToList(),
        Ports = [new V1NetworkPolicyPort { Protocol = "TCP", Port = port }],
    };
}
