using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Tests.Fakes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Telemetry;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;

namespace DialogueDb.Operator.Tests.Metrics;

/// <summary>Issue #17: every metric the chart's Grafana dashboard queries is one that the service or the operator exports.</summary>
public sealed partial class DashboardTests
{
    private static readonly string DashboardPath = Path.Combine(RepositoryRoot.Path, "charts", "dialoguedb-operator", "dashboards", "dialoguedb.json");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dashboard_EveryQueriedMetric_IsExportedByTheBinaries()
    {
        var dashboard = JsonNode.Parse(await File.ReadAllTextAsync(DashboardPath, Ct))!;
        var panels = dashboard["panels"]!.AsArray().Where(p => (string)p!["type"]! != "row").ToList();
        var rows = dashboard["panels"]!.AsArray().Where(p => (string)p!["type"]! == "row").Select(p => (string)p!["title"]!).ToList();
        Assert.Equal(["Traffic and errors", "Plan usage", "Events and retention", "Operator"], rows);
        Assert.All(panels, p => Assert.NotEmpty(p!["targets"]!.AsArray()));

        var queries = panels.SelectMany(p => p!["targets"]!.AsArray().Select(t => (string)t!["expr"]!))
            .Concat(dashboard["templating"]!["list"]!.AsArray().Select(v => (string?)v!["definition"]).OfType<string>())
            .ToList();
        var queried = queries.SelectMany(q => MetricSelector().Matches(q).Select(m => m.Groups["name"].Value)).ToHashSet();
        Assert.True(queried.Count >= 25, $"only {queried.Count} metric names found: the extraction is broken");

        var exported = await ExportedAsync();
        var missing = queried.Where(name => !exported.Contains(name)).Order().ToList();
        Assert.True(missing.Count == 0, "Queried but never exported: " + string.Join(", ", missing) +
            "\nExported: " + string.Join(", ", exported.Order()));
    }

    /// <summary>Both binaries built and started in this process (embedded service, operator on the fake API server).</summary>
    private static async Task<HashSet<string>> ExportedAsync()
    {
        using var folder = new TestFolder();
        var dataDir = Path.Combine(folder.Path, "data"); // created by the service, as on a first start
        WebApplication? service = null;
        WebApplication? operatorHost = null;
        var api = new FakeKubeApi();
        using var client = api.CreateClient();
        try
        {
            return await ExportedMetrics.DeclaredDuringAsync(
                new HashSet<string> { ServiceMetrics.MeterName, OperatorMetrics.MeterName, "Microsoft.AspNetCore.Hosting" }, async () =>
                {
                    service = ApiHost.Build(ApiHost.CreateBuilder([], new ServiceOptions { DataDir = dataDir, Urls = "https://127.0.0.1:0" }));
                    await service.StartAsync(Ct);
                    operatorHost = OperatorHost.Build(new OperatorOptions { LeaderElection = { Enabled = false }, ResyncSeconds = 3600 }, client, [],
                        $"http://127.0.0.1:{OperatorMetricsEndpointTests.FreePort()}");
                    await operatorHost.StartAsync(Ct);
                });
        }
        finally
        {
            if (service is not null)
            {
                await service.StopAsync(Ct);
                await service.DisposeAsync();
            }

            if (operatorHost is not null)
            {
                await operatorHost.StopAsync(Ct);
                await operatorHost.DisposeAsync();
            }
        }
    }

    /// <summary>A metric name in PromQL: an identifier followed by a label matcher or a range (functions are followed by '(').</summary>
    [GeneratedRegex(@"(?<![\w$])(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*[\{\[]|label_values\((?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)")]
    private static partial Regex MetricSelector();
}
