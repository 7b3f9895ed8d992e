using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>Who may reach the search workers, and what they may reach.</summary>
internal static partial class DesiredState
{
    /// <summary>
    /// The search workers (indexer and reindex pods): no ingress but Prometheus to the metrics port; egress only to DNS,
    /// the Kubernetes API (their policy Secret) and PostgreSQL. They never call Redis, the LLM endpoint or the API.
    /// </summary>
    public static V1NetworkPolicy SearchWorkersNetworkPolicy(ProjectInputs inputs)
    {
        var project = inputs.Project;
        var options = inputs.Options;
        var egress = new List<V1NetworkPolicyEgressRule> { DnsEgress(), KubernetesApiEgress(options) };
        if (project.Spec.Database?.SecretRef is not null)
        {
            egress.Add(new V1NetworkPolicyEgressRule { Ports = [new V1NetworkPolicyPort { Protocol = "TCP", Port = 5432 }] });
        }
        else if (options.Postgres is { } postgres)
        {
            egress.Add(EgressTo(postgres.Peers, postgres.Port));
        }

        return new V1NetworkPolicy
        {
            ApiVersion = "networking.k8s.io/v1",
            Kind = "NetworkPolicy",
            Metadata = Meta(project, SearchWorkers(project.Metadata.Name), IndexerComponent),
            Spec = new V1NetworkPolicySpec
            {
                PodSelector = new V1LabelSelector
                {
                    MatchLabels = new Dictionary<string, string> { [ProjectLabel] = project.Metadata.Name },
                    MatchExpressions =
                    [
                        new V1LabelSelectorRequirement { Key = ComponentLabel, OperatorProperty = "In", Values = SearchWorkerComponents },
                    ],
                },
                PolicyTypes = ["Ingress", "Egress"],
                Ingress = [.. MetricsIngress(options)],
                Egress = egress,
            },
        };
    }

    private static string[] SearchWorkerComponents => [IndexerComponent, ReindexComponent];
}
