using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>The API's ClusterIP Service (443 to the pods' HTTPS port).</summary>
internal static partial class DesiredState
{
    public static V1Service Service(ProjectInputs inputs) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = Meta(inputs.Project, Api(inputs.Project.Metadata.Name), "api"),
        Spec = new V1ServiceSpec
        {
            Type = "ClusterIP",
            Selector = Selector(inputs.Project, "api"),
            Ports = [new V1ServicePort { Name = HttpsPort, Port = 443, TargetPort = HttpsPort, Protocol = "TCP", AppProtocol = "https" }],
        },
    };
}
