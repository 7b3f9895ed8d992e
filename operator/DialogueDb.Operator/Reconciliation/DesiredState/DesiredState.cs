using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// The objects one DialogueProject becomes, as pure code: no I/O, no clock, no randomness, so the same inputs always
/// give byte-identical objects (a no-op resync writes nothing new) and every option is unit-tested without a cluster.
/// </summary>
internal static partial class DesiredState
{
    private const string DataDir = "/var/lib/dialoguedb";
    public const string SecretsDir = "/etc/dialoguedb";
    private const long NonRootUser = 10001;

    public static IReadOnlyList<IKubernetesObject<V1ObjectMeta>> Build(ProjectInputs inputs)
    {
        var objects = new List<IKubernetesObject<V1ObjectMeta>>
        {
            ServiceAccount(inputs),
            Role(inputs),
            RoleBinding(inputs),
            PolicySecret(inputs),
            Deployment(inputs),
            Service(inputs),
            RetentionCronJob(inputs),
            NetworkPolicy(inputs),
            SearchWorkersNetworkPolicy(inputs),
        };
        if (ExternalIndexer(inputs.Project.Spec))
        {
            objects.Add(IndexerDeployment(inputs));
        }

        if (inputs.Replicas > 1)
        {
            objects.Add(DisruptionBudget(inputs));
        }

        return objects;
    }

    public static V1OwnerReference OwnerReference(DialogueProject project) => new()
    {
        ApiVersion = DialogueProject.GroupVersion,
        Kind = DialogueProject.KindName,
        Name = project.Metadata.Name,
        Uid = project.Metadata.Uid,
        Controller = true,
        BlockOwnerDeletion = true,
    };

    public static V1ObjectMeta Meta(DialogueProject project, string name, string component) => new()
    {
        Name = name,
        NamespaceProperty = project.Metadata.NamespaceProperty,
        Labels = Labels(project, component),
        OwnerReferences = [OwnerReference(project)],
    };
}
