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
    /// A worker command: <c>--data-dir</c> and <c>--postgres</c> over the DIALOGUEDB_* environment; <paramref name="run"/>
    /// runs until the process is stopped.
    /// </summary>
    public static Command Command(CliOptions shared, string name, string description, Func<ServiceOptions, CancellationToken, Task> run)
    {
        var command = new Command(name, description) { shared.DataDir, shared.Postgres };
        command.SetAction(async (parse, ct) =>
        {
            await run(CliOptions.Bind(shared.Overrides(parse, postgres: true)), ct);
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
    /// <param name="hostRelay">Whether the audit relay runs in this process.</param>
    /// <param name="configure">Adds the command's own services (its worker among them).</param>
    /// <param name="worker">The worker whose running makes the process ready.</param>
    /// <param name="ct">Stops the process.</param>
    public static async Task RunAsync(ServiceOptions options, bool hostRelay, Action<IServiceCollection>? configure,
        Func<IServiceProvider, BackgroundService> worker, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(options.MetricsUrls))
        {
            using var host = JobHost.Build(options, hostRelay, configure);
            await host.RunAsync(ct);
            return;
        }

        // A generic host with a web listener, not a WebApplication: that would put the API's authentication (registered
        // with the shared services) in front of every probe.
        using var listening = Host.CreateDefaultBuilder()
            .UseContentRoot(AppContext.BaseDirectory)
            .ConfigureServices((context, services) =>
            {
                JobHost.AddServices(services, context.Configuration, options, hostRelay, scraped: true);
                configure?.Invoke(services);
                // The readiness check's own connection, made as the worker's are (the maintenance role on PostgreSQL).
                services.AddSingleton(_ => MaintenanceDatabase.Open(options));
                services.AddSingleton(sp => new WorkerHealthCheck(worker(sp)));
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
