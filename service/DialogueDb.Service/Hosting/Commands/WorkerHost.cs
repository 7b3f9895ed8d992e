using System.CommandLine;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Telemetry;
using Npgsql;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// Runs a command whose worker runs until the process is stopped (<c>relay</c>, <c>index</c>) in the jobs' services
/// (<see cref="JobHost"/>). With <c>DIALOGUEDB_METRICS_URLS</c> set, the process also listens there, plain HTTP, for
/// Kubernetes and Prometheus: <c>/healthz/live</c> (the process answers), <c>/healthz/ready</c> (the database answers
/// on the worker's connection and the worker runs; a standby waiting for another process's lock is ready too) and
/// <c>/metrics</c>. Nothing of the API is served there. Without it the worker has no listener (OTLP only): several
/// workers and <c>serve</c> may then run side by side on one machine.
/// </summary>
internal static class WorkerHost
{
    /// <summary>Connections the listener accepts at once: probes and a scraper, never a crowd.</summary>
    private const int MaxConnections = 32;

    /// <summary>
    /// A worker command: <c>--data-dir</c> and <c>--postgres</c> over the DIALOGUEDB_* environment. It checks the
    /// settings, connects as the maintenance role (<see cref="UseMaintenanceConnectionAsync"/>) and runs the worker
    /// until the process is stopped.
    /// </summary>
    public static Command Command(CliOptions shared, WorkerCommand definition)
    {
        var command = new Command(definition.Name, definition.Description) { shared.DataDir, shared.Postgres };
        command.SetAction(async (parse, ct) =>
        {
            var options = CliOptions.Bind(shared.Overrides(parse, postgres: true));
            definition.Check(options);
            await UseMaintenanceConnectionAsync(options, ct);
            await RunAsync(options, definition, ct);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// On PostgreSQL, makes the worker connect as the maintenance role (DIALOGUEDB_RELAY_POSTGRES, else
    /// DIALOGUEDB_POSTGRES) and checks that the role sees every namespace; a wrong role stops the command at once.
    /// </summary>
    public static async Task UseMaintenanceConnectionAsync(ServiceOptions options, CancellationToken ct)
    {
        if (options.UsesPostgres)
        {
            options.RelayPostgres ??= options.Postgres!;
            await using var check = NpgsqlDataSource.Create(options.RelayPostgres);
            await DatabaseMigrator.EnsureSeesAllNamespacesAsync(check, ct);
        }
    }

    /// <param name="options">The command's settings (<see cref="ServiceOptions.MetricsUrls"/> names the listener).</param>
    /// <param name="definition">The command's relay, services and worker.</param>
    /// <param name="ct">Stops the process.</param>
    private static async Task RunAsync(ServiceOptions options, WorkerCommand definition, CancellationToken ct)
    {
        Action<IServiceCollection>? configure = definition.AddServices is { } add ? services => add(options, services) : null;
        if (string.IsNullOrWhiteSpace(options.MetricsUrls))
        {
            using var host = JobHost.Build(options, definition.HostsRelay, configure);
            await host.RunAsync(ct);
            return;
        }

        // A generic host with a web listener, not a WebApplication: that would put the API's authentication (registered
        // with the shared services) in front of every probe.
        using var listening = Host.CreateDefaultBuilder()
            .UseContentRoot(AppContext.BaseDirectory)
            .ConfigureServices((context, services) =>
            {
                JobHost.AddServices(services, context.Configuration, options, definition.HostsRelay, scraped: true);
                configure?.Invoke(services);
                // The readiness check's own connection, made as the worker's are (the maintenance role on PostgreSQL).
                services.AddSingleton(_ => MaintenanceDatabase.Open(options));
                services.AddSingleton(sp => new WorkerHealthCheck(definition.Worker(sp)));
                services.AddRouting();
                services.AddHealthChecks()
                    .AddCheck<WorkerDatabaseHealthCheck>("database")
                    .AddCheck<WorkerHealthCheck>("worker");
            })
            .ConfigureWebHost(web => web
                .UseKestrel(kestrel =>
                {
                    kestrel.AddServerHeader = false;
                    kestrel.Limits.MaxConcurrentConnections = MaxConnections;
                })
                .UseUrls(options.MetricsUrls)
                .Configure(app =>
                {
                    app.UseOpenTelemetryPrometheusScrapingEndpoint();
                    app.UseRouting();
                    app.UseEndpoints(endpoints =>
                    {
                        endpoints.MapHealthChecks("/healthz/live", new() { Predicate = _ => false });
                        endpoints.MapHealthChecks("/healthz/ready");
                    });
                }))
            .Build();
        // Created now: its observable gauges exist from the first scrape on.
        listening.Services.GetRequiredService<ServiceMetrics>();
        await listening.RunAsync(ct);
    }
}
