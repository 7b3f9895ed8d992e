using DialogueDb.Operator.Resources;
using k8s;

namespace DialogueDb.Operator.Tests;

public sealed class ModelTests
{
    [Fact]
    public void DialogueProject_SerializesCamelCaseWithoutNulls()
    {
        var project = new DialogueProject { Spec = new DialogueProjectSpec { Plan = "pro", Replicas = 2 } };
        project.Metadata.Name = "acme";

        var json = KubernetesJson.Serialize(project);

        Assert.Contains("\"apiVersion\":\"dialoguedb.io/v1alpha1\"", json, StringComparison.Ordinal);
        Assert.Contains("\"spec\":{\"plan\":\"pro\",\"replicas\":2}", json, StringComparison.Ordinal);
        Assert.DoesNotContain("status", json, StringComparison.Ordinal);
    }
}
