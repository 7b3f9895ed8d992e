using System.Text.Json;
using System.Text.Json.Nodes;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Resources;
using Json.Schema;

namespace DialogueDb.Operator.Tests.Chart;

/// <summary>values.yaml against values.schema.json (as Helm checks it on install, upgrade, lint and template), and the
/// values that become the operator's configuration against the operator's own types and validation.</summary>
public sealed class ChartValuesTests
{
    private static readonly JsonSchema Schema = JsonSchema.FromText(ChartFiles.Read("values.schema.json"));

    [Fact]
    public void ValuesYaml_PassesTheSchema()
    {
        var problems = Evaluate(ChartFiles.ValuesAsJson());

        Assert.Empty(problems);
    }

    [Theory]
    [InlineData("postgres", """{"password": "hunter2"}""")]
    [InlineData("redis", """{"adminSecret": {"name": "redis-admin", "key": "connection", "value": "secret"}}""")]
    [InlineData("plans", """{"free": {"requestsPerMinute": 5}}""")]
    [InlineData("plans", """{"Gold": {"replicas": 1}}""")]
    [InlineData("plans", """{"free": {"requestsPerSecond": 0}}""")]
    [InlineData("postgres", """{"host": "pg.example.internal"}""")]
    [InlineData("postgres", """{"sslMode": "verify-full"}""")]
    [InlineData("defaultIngressFrom", """[{"namespaceSelector": {"matchLabels": {"a": "b"}}}]""")]
    [InlineData("watchNamespaces", """["Team_A"]""")]
    [InlineData("password", "\"hunter2\"")]
    public void Schema_RejectsCredentialsUnknownKeysAndBadValues(string key, string json)
    {
        var values = ChartFiles.ValuesAsJson()!.AsObject();
        var change = JsonNode.Parse(json);
        if (change is JsonObject patch && values[key] is JsonObject existing)
        {
            // Merge like Helm merges a user's values over the chart's: the rest of the block stays as it was.
            foreach (var (name, value) in patch.ToList())
            {
                patch.Remove(name);
                existing[name] = existing[name] is JsonObject inner && value is JsonObject innerPatch ? Merge(inner, innerPatch) : value;
            }
        }
        else
        {
            values[key] = change;
        }

        Assert.NotEmpty(Evaluate(values));
    }

    [Fact]
    public void Schema_AcceptsSharedServersWithSecretReferences()
    {
        var values = ChartFiles.ValuesAsJson()!.AsObject();
        values["postgres"]!["host"] = "pg.example.internal";
        values["postgres"]!["adminSecret"]!["name"] = "dialoguedb-postgres-admin";
        values["redis"]!["host"] = "redis.example.internal";
        values["redis"]!["tls"] = true;
        values["redis"]!["adminSecret"]!["name"] = "dialoguedb-redis-admin";
        values["watchNamespaces"] = new JsonArray("team-a", "team-b");

        Assert.Empty(Evaluate(values));
    }

    [Fact]
    public void ValuesPlans_AreTheOperatorsPlanCatalog_AndPassItsValidation()
    {
        var values = ChartFiles.ValuesAsJson()!;
        var options = new OperatorOptions
        {
            Plans = Deserialize<Dictionary<string, PlanDefinition>>(values["plans"]),
            DefaultPlan = values["defaultPlan"]!.GetValue<string>(),
            DefaultIngressFrom = Deserialize<List<NetworkPeer>>(values["defaultIngressFrom"]),
            KubernetesApiCidrs = Deserialize<List<string>>(values["kubernetesApiCidrs"]),
            SummaryEndpointPeers = Deserialize<List<NetworkPeer>>(values["summaryEndpointPeers"]),
            DefaultResources = Deserialize<ResourceRequirements>(values["projectResources"]),
            LeaderElection = Deserialize<LeaderElectionOptions>(values["leaderElection"]),
            ClusterDomain = values["clusterDomain"]!.GetValue<string>(),
            ResyncSeconds = Deserialize<int>(values["resyncSeconds"]),
            UsageSeconds = Deserialize<int>(values["usageSeconds"]),
            Workers = Deserialize<int>(values["workers"]),
            OperatorNamespace = "dialoguedb-system",
        };

        Assert.Empty(options.Validate());
        // The chart ships the contract's plans unchanged, so a default install behaves like the embedded service.
        Assert.Equal(PlanDefinition.ContractPlans(), options.Plans);
        // Peers of the shared servers have the operator's NetworkPeer shape too.
        Deserialize<List<NetworkPeer>>(values["postgres"]!["peers"]);
        Deserialize<List<NetworkPeer>>(values["redis"]!["peers"]);
    }

    [Fact]
    public void ValuesYaml_HoldsNoCredential()
    {
        var text = ChartFiles.Read("values.yaml");

        // Only Secret references: no password, token or connection string can be given as a value.
        Assert.DoesNotMatch(@"(?im)^\s*(password|token|connectionString|adminConnection)\s*:", text);
    }

    /// <summary>Deserializes with the operator's own JSON settings, which reject unknown members as the operator does.</summary>
    private static T Deserialize<T>(JsonNode? node) =>
        JsonSerializer.Deserialize<T>(node?.ToJsonString() ?? "null", OperatorOptions.Json)
        ?? throw new InvalidOperationException($"{typeof(T).Name} deserialized to null.");

    private static List<string> Evaluate(JsonNode? values)
    {
        using var document = JsonDocument.Parse(values?.ToJsonString() ?? "null");
        var result = Schema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return result.IsValid
            ? []
            : (result.Details ?? []).Where(d => d.Errors is not null)
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")).DefaultIfEmpty("invalid").ToList();
    }

    private static JsonObject Merge(JsonObject target, JsonObject patch)
    {
        foreach (var (name, value) in patch.ToList())
        {
            patch.Remove(name);
            target[name] = value;
        }

        return target;
    }
}
