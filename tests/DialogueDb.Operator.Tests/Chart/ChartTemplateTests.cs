using YamlDotNet.RepresentationModel;

namespace DialogueDb.Operator.Tests.Chart;

/// <summary>Static checks on the templates: YAML apart from their template actions, restricted pod security, probes.</summary>
public sealed class ChartTemplateTests
{
    /// <summary>Every template but the CRD's, which is one action including a plain file (ChartCrdTests checks it).</summary>
    public static TheoryData<string> Templates() =>
        [.. Directory.EnumerateFiles(Path.Combine(ChartFiles.ChartDir, "templates"), "*.yaml", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(ChartFiles.ChartDir, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith("templates/crds/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Templates))]
    public void Template_IsYaml_ApartFromItsTemplateActions(string template)
    {
        var documents = ChartFiles.TemplateDocuments(template);

        Assert.NotEmpty(documents);
        foreach (var document in documents.Where(d => d.RootNode is YamlMappingNode))
        {
            var root = (YamlMappingNode)document.RootNode;
            Assert.True(root.Children.ContainsKey("apiVersion"), $"{template}: a document without apiVersion.");
            Assert.True(root.Children.ContainsKey("kind"), $"{template}: a document without kind.");
        }
    }

    [Fact]
    public void Deployment_IsRestricted_WithProbes_LeaderIdentity_AndNoLatestTag()
    {
        var deployment = (YamlMappingNode)ChartFiles.TemplateDocuments("templates/deployment.yaml").Single().RootNode;
        var pod = Map(deployment, "spec", "template", "spec");
        var container = (YamlMappingNode)((YamlSequenceNode)pod["containers"]).Children.Single();

        Assert.Equal("true", Scalar(pod, "securityContext", "runAsNonRoot"));
        Assert.Equal("10001", Scalar(pod, "securityContext", "runAsUser"));
        Assert.Equal("RuntimeDefault", Scalar(pod, "securityContext", "seccompProfile", "type"));
        Assert.Equal("false", Scalar(container, "securityContext", "allowPrivilegeEscalation"));
        Assert.Equal("true", Scalar(container, "securityContext", "readOnlyRootFilesystem"));
        Assert.Equal("ALL", ((YamlSequenceNode)Map(container, "securityContext", "capabilities")["drop"]).Children.Single().ToString());
        Assert.Equal("/healthz", Scalar(container, "livenessProbe", "httpGet", "path"));
        Assert.Equal("/readyz", Scalar(container, "readinessProbe", "httpGet", "path"));
        Assert.Equal("8081", Scalar((YamlMappingNode)((YamlSequenceNode)container["ports"]).Children.Single(), "containerPort"));
        var env = ((YamlSequenceNode)container["env"]).Children.Cast<YamlMappingNode>().ToDictionary(e => e["name"].ToString(), e => Scalar(e, "valueFrom", "fieldRef", "fieldPath"));
        Assert.Equal("metadata.namespace", env["POD_NAMESPACE"]);
        Assert.Equal("metadata.name", env["POD_NAME"]);
        Assert.Contains("resources", container.Children.Keys.Select(k => k.ToString()));
        Assert.DoesNotContain(":latest", ChartFiles.Read("templates/deployment.yaml") + ChartFiles.Read("values.yaml"), StringComparison.Ordinal);
    }

    [Fact]
    public void Notes_ExplainTheFirstProjectAndItsKey()
    {
        var notes = ChartFiles.Read("templates/NOTES.txt");

        Assert.Contains("kind: DialogueProject", notes, StringComparison.Ordinal);
        Assert.Contains("kubectl -n default wait --for=condition=Ready dp/support", notes, StringComparison.Ordinal);
        Assert.Contains("secret support-key-default -o jsonpath='{.data.api-key}'", notes, StringComparison.Ordinal);
        Assert.Contains("Authorization: Bearer", notes, StringComparison.Ordinal);
    }

    private static YamlMappingNode Map(YamlMappingNode node, params string[] path) =>
        path.Aggregate(node, (n, key) => (YamlMappingNode)n[key]);

    private static string Scalar(YamlMappingNode node, params string[] path) =>
        ((YamlScalarNode)Map(node, path[..^1])[path[^1]]).Value!;
}
