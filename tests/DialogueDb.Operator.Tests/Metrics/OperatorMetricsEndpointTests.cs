using System.Net;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Tests.Fakes;
using Microsoft.AspNetCore.Builder;

namespace DialogueDb.Operator.Tests.Metrics;

/// <summary>Issue #17: the operator serves <c>/metrics</c> on its health port, with the names the dashboard queries.</summary>
public sealed class OperatorMetricsEndpointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task HealthPort_Metrics_ServesTheGaugesUnderTheDeclaredNames()
    {
        var api = new FakeKubeApi();
        using var client = api.CreateClient();
        var port = FreePort();
        WebApplication? app = null;
        var declared = await ExportedMetrics.DeclaredDuringAsync(new HashSet<string> { OperatorMetrics.MeterName }, async () =>
        {
            app = OperatorHost.Build(new OperatorOptions { LeaderElection = { Enabled = false }, ResyncSeconds = 3600 }, client, [],
                $"http://127.0.0.1:{port}");
            await app.StartAsync(Ct);
        });
        await using var running = app!;
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        // Without leader election the controller leads at once; wait (bounded) for the hosted service to say so.
        var text = "";
        for (var i = 0; i < 200 && Sample(text, "leader_election_master_status", "name=\"dialogueproject\"") != 1; i++)
        {
            await Task.Delay(i == 0 ? 0 : 50, Ct);
            using var response = await http.GetAsync("metrics", Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            text = await response.Content.ReadAsStringAsync(Ct);
        }

        Assert.Equal(1, Sample(text, "leader_election_master_status", "name=\"dialogueproject\""));
        Assert.Equal(0, Sample(text, "workqueue_depth", "name=\"dialogueproject\""));
        Assert.Equal(0, Sample(text, "dialoguedb_operator_projects", "condition=\"Ready\"", "status=\"True\""));
        foreach (var gauge in (string[])["workqueue_depth", "leader_election_master_status", "dialoguedb_operator_projects"])
        {
            Assert.Contains(gauge, declared);
        }

        Assert.Contains("controller_runtime_reconcile_total", declared);
        Assert.Contains("workqueue_queue_duration_seconds_bucket", declared);
        using var health = await http.GetAsync("healthz", Ct);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels include all of <paramref name="labels"/>.</summary>
    internal static double? Sample(string text, string name, params string[] labels)
    {
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith(name + "{", StringComparison.Ordinal)
            && labels.All(label => l.Contains(label, StringComparison.Ordinal)));
        return line is null ? null : double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    internal static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
