using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Tests;

public sealed class CustomResourceDefinitionTests
{
    private static readonly string CrdPath = Path.Combine(RepositoryRoot.Path, "crds", CrdGenerator.FileName);

    [Fact]
    public void CrdFile_MatchesTheCSharpTypes()
    {
        var expected = CrdGenerator.ToYaml();
        var actual = File.ReadAllText(CrdPath);

        // On drift: dotnet run --project operator/DialogueDb.Operator -- crd > crds/dialogueprojects.dialoguedb.io.yaml
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Crd_IsStructural_EveryFieldTypedAndDescribed()
    {
        var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(File.ReadAllText(CrdPath));
        var version = Assert.Single(crd.Spec.Versions);
        var schema = version.Schema.OpenAPIV3Schema;

        var problems = new List<string>();
        Walk(schema.Properties["spec"], "spec", problems);
        Walk(schema.Properties["status"], "status", problems);

        Assert.Empty(problems);
        Assert.Equal("Namespaced", crd.Spec.Scope);
        Assert.Equal(["dp"], crd.Spec.Names.ShortNames);
        Assert.NotNull(version.Subresources.Status);
        Assert.True(version.Served);
        Assert.True(version.Storage);
    }

    [Fact]
    public void Crd_KeyedListsAreMaps_WithRequiredKeys()
    {
        var schema = CrdGenerator.Build().Spec.Versions[0].Schema.OpenAPIV3Schema;
        var apiKeys = schema.Properties["spec"].Properties["apiKeys"];
        var conditions = schema.Properties["status"].Properties["conditions"];

        Assert.Equal("map", apiKeys.XKubernetesListType);
        Assert.Equal(["name"], apiKeys.XKubernetesListMapKeys);
        Assert.Contains("name", ((V1JSONSchemaProps)apiKeys.Items).Required);
        Assert.Equal("map", conditions.XKubernetesListType);
        Assert.Equal(["type"], conditions.XKubernetesListMapKeys);
        Assert.Contains("type", ((V1JSONSchemaProps)conditions.Items).Required);
    }

    [Fact]
    public void Crd_ValidatesEnumsRangesAndImmutability()
    {
        var spec = CrdGenerator.Build().Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"];

        Assert.Equal(["Retain", "Delete"], spec.Properties["deletionPolicy"].EnumProperty.Cast<string>());
        Assert.Equal(["read-write", "read-only"], ((V1JSONSchemaProps)spec.Properties["apiKeys"].Items).Properties["scope"].EnumProperty.Cast<string>());
        Assert.Equal(1, spec.Properties["limits"].Properties["requestsPerSecond"].Minimum);
        Assert.Equal(0, spec.Properties["replicas"].Minimum);
        var keyRef = spec.Properties["encryption"].Properties["keySecretRef"];
        Assert.Contains(keyRef.XKubernetesValidations, r => r.Rule == "self == oldSelf");
        Assert.Contains(spec.Properties["encryption"].XKubernetesValidations, r => r.Rule.Contains("oldSelf", StringComparison.Ordinal));
        Assert.Equal("date-time", ((V1JSONSchemaProps)CrdGenerator.Build().Spec.Versions[0].Schema.OpenAPIV3Schema
            .Properties["status"].Properties["conditions"].Items).Properties["lastTransitionTime"].Format);
    }

    [Fact]
    public void Crd_Search_IndexerModeIsAnEnumDefaultingToInprocess_ReplicasAndReindexAreBounded()
    {
        var search = CrdGenerator.Build().Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["search"];
        var indexer = search.Properties["indexer"];

        Assert.Equal(["inprocess", "external"], indexer.Properties["mode"].EnumProperty.Cast<string>());
        Assert.Equal("inprocess", indexer.Properties["mode"].DefaultProperty?.ToString());
        Assert.Equal((1d, 10d), (indexer.Properties["replicas"].Minimum, indexer.Properties["replicas"].Maximum));
        Assert.Equal(["limits", "requests"], indexer.Properties["resources"].Properties.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(("integer", 0d), (search.Properties["reindex"].Type, search.Properties["reindex"].Minimum));
        var reindex = CrdGenerator.Build().Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties["search"].Properties["reindex"];
        Assert.Equal(["request", "job", "state", "reason", "message", "completionTime"], reindex.Properties.Keys);
    }

    [Fact]
    public void Crd_PrinterColumns_ShowPlanReadyReplicasUsageEndpointAge()
    {
        var columns = CrdGenerator.Build().Spec.Versions[0].AdditionalPrinterColumns;

        Assert.Equal(["Plan", "Ready", "Replicas", "Usage", "Endpoint", "Age"], columns.Select(c => c.Name));
        Assert.Equal(".status.conditions[?(@.type==\"Ready\")].status", columns[1].JsonPath);
        Assert.Equal((".status.usage.highest", "string"), (columns[3].JsonPath, columns[3].Type));
    }

    private static void Walk(V1JSONSchemaProps schema, string path, List<string> problems)
    {
        if (string.IsNullOrEmpty(schema.Description))
        {
            problems.Add($"{path}: no description");
        }

        Check(schema, path, problems);
    }

    private static void Check(V1JSONSchemaProps schema, string path, List<string> problems)
    {
        if (schema.Type is null && schema.XKubernetesIntOrString != true)
        {
            problems.Add($"{path}: no type");
        }

        foreach (var (name, child) in schema.Properties ?? new Dictionary<string, V1JSONSchemaProps>())
        {
            Walk(child, $"{path}.{name}", problems);
        }

        if (schema.Items is V1JSONSchemaProps items)
        {
            Check(items, path + "[]", problems);
        }

        if (schema.AdditionalProperties is V1JSONSchemaProps values)
        {
            Check(values, path + "{}", problems);
        }
    }
}
