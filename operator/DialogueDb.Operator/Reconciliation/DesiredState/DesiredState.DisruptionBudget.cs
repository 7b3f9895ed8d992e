using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>At most one API pod down at a time, when there is more than one.</summary>
internal static partial class DesiredState
{
    public static V1PodDisruptionBudget DisruptionBudget(ProjectInputs inputs) => new()
    {
        ApiVersion = "policy/v1",
        Kind = "PodDisruptionBudget",
        Metadata = Meta(inputs.Project, Api(inputs.Project.Metadata.Name), "api"),
        Spec = new V1PodDisruptionBudgetSpec
        {
            MaxUnavailable = 1,
            Selector = new V1LabelSelector { MatchLabels = Selector(inputs.Project, "api") },
        },
    };
}
