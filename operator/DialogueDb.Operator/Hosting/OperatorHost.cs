using System.Diagnostics.Metrics;
using DialogueDb.Operator.Kubernetes;
using k8s;
using DialogueDb.Service.Telemetry;
using OpenTelemetry.Metrics;

namespace DialogueDb.Operator.Hosting;

/// <summary>
/// The operator process: the controller (behind leader election), plus <c>/healthz</c> and <c>/readyz</c> for the
/// kubelet's probes and <c>/metrics</c> for Prometheus on the same plain-HTTP health port (no tenant data is served there).
/// </summary>
internal static class OperatorHost
{
    public static WebApplication Build(OperatorOptions options, IKubernetes client, string[] args, string? urls = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.WebHost.UseUrls(urls ?? "http://0.0.0.0:8081");
        builder.Services.AddOperator(options, client);
        builder.Services.AddHostedService<ControllerService>();
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(OperatorMetrics.MeterName)
            .OwnHostsMetersOnly()
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0));

        var app = builder.Build();
        // Created now: the gauges (queue depth, projects, leadership) exist from the first scrape on.
        app.Services.GetRequiredService<ProjectController>();
        app.Services.GetRequiredService<ControllerState>();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/healthz", () => Results.Ok("ok"));
        app.MapGet("/readyz", (ProjectController controller, ControllerState state) =>
            !state.IsLeader || controller.IsSynced ? Results.Ok(state.IsLeader ? "leading" : "standby") : Results.StatusCode(503));
        return app;
    }
}

/// <summary>Whether this replica leads (standby replicas report ready but do nothing).</summary>
internal sealed class ControllerState
{
    public ControllerState(OperatorMetrics? metrics = null) =>
        // client-go's name: 1 on the leader, 0 on standby replicas.
        metrics?.Meter.CreateObservableGauge("leader_election_master_status",
            () => new Measurement<int>(IsLeader ? 1 : 0, new KeyValuePair<string, object?>("name", OperatorMetrics.ControllerName)),
            "{leader}", "Whether this replica leads (1) or stands by (0)");

    public bool IsLeader { get; set; }
}

/// <summary>Runs the controller while this replica leads; exits the process with code 1 when leadership is lost.</summary>
internal sealed partial class ControllerService(
    ProjectController controller, OperatorOptions options, IKubernetes client, ControllerState state,
    IHostApplicationLifetime lifetime, ILogger<ControllerService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.LeaderElection.Enabled)
        {
            state.IsLeader = true;
            await controller.RunAsync(stoppingToken);
            return;
        }

        var identity = Environment.GetEnvironmentVariable("POD_NAME") ?? Environment.MachineName;
        var election = new LeaderElection(LeaderElection.Lease(client, options, identity), options.LeaderElection, logger);
        var lost = await election.RunAsync(async ct =>
        {
            state.IsLeader = true;
            await controller.RunAsync(ct);
        }, stoppingToken);
        state.IsLeader = false;
        if (lost)
        {
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }
}
