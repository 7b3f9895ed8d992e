using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>The pods' own identity: a ServiceAccount without a mounted token, and a Role that reads only the policy Secret.</summary>
internal static partial class DesiredState
{
    public static V1ServiceAccount ServiceAccount(ProjectInputs inputs) => new()
    {
        ApiVersion = "v1",
        Kind = "ServiceAccount",
        Metadata = Meta(inputs.Project, Api(inputs.Project.Metadata.Name), "api"),
        AutomountServiceAccountToken = false,
    };

    /// <summary>The pods may read and watch their own policy Secret, and nothing else.</summary>
    public static V1Role Role(ProjectInputs inputs) => new()
    {
        ApiVersion = "rbac.authorization.k8s.io/v1",
        Kind = "Role",
        Metadata = Meta(inputs.Project, Api(inputs.Project.Metadata.Name), "api"),
        Rules =
        [
            new V1PolicyRule
            {
                ApiGroups = [""],
                Resources = ["secrets"],
                ResourceNames = [Policy(inputs.Project.Metadata.Name)],
                Verbs = ["get", "list", "watch"],
            },
        ],
    };

    public static V1RoleBinding RoleBinding(ProjectInputs inputs) => new()
    {
        ApiVersion = "rbac.authorization.k8s.io/v1",
        Kind = "RoleBinding",
        Metadata = Meta(inputs.Project, Api(inputs.Project.Metadata.Name), "api"),
        RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "Role", Name = Api(inputs.Project.Metadata.Name) },
        Subjects =
        [
            new Rbacv1Subject { Kind = "ServiceAccount", Name = Api(
                inputs.Project.Metadata.Name), NamespaceProperty = inputs.Project.Metadata.NamespaceProperty },
        ],
    };
}
