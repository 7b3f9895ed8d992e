using System.Diagnostics.Metrics;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace DialogueDb.Service.Telemetry;

/// <summary>
/// OpenTelemetry for the service: metrics (its own, ASP.NET Core's, Kestrel's, the runtime's and Npgsql's pools) served
/// to Prometheus on the plain-HTTP metrics listener and pushed over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is
/// set; traces (ASP.NET Core, Npgsql, the relay) only when OTLP is set (no tracing cost otherwise); JSON console logs
/// with the request and trace ids when <c>DIALOGUEDB_LOG_FORMAT=json</c>.
/// </summary>
internal static class TelemetrySetup
{
    public const string ServiceName = "dialoguedb";

    /// <summary>The tag every server span carries with the request id of the answer (the X-Request-Id header).</summary>
    public const string RequestIdTag = "dialoguedb.request_id";

    public static WebApplicationBuilder AddTelemetry(this WebApplicationBuilder builder, ServiceOptions options,
        Action<TracerProviderBuilder>? traces)
    {
        var services = builder.Services;
        if (!string.IsNullOrWhiteSpace(options.Redis))
        {
            services.AddSingleton<UsagePublisher>();
        }

        services.AddSingleton<QuotaUsage>();
        services.AddSupervisedService("plan usage", sp => sp.GetRequiredService<QuotaUsage>());
        services.AddSingleton(sp => new ServiceMetrics(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<TimeProvider>()));

        var otlp = OtlpConfigured(builder.Configuration);
        var tracing = otlp || traces is not null;
        services.AddSingleton(new TelemetryOptions(tracing, options.MetricsPorts()));
        var version = typeof(TelemetrySetup).Assembly.GetName().Version?.ToString(3);
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName, serviceVersion: version));
        if (options.MetricsPorts().Count > 0 || otlp)
        {
            // Without an exporter no instrument is enabled at all: recording stays a check of a flag.
            telemetry.WithMetrics(metrics =>
            {
                metrics.AddMeter(ServiceMetrics.MeterName, ResilientRateLimiterMeter)
                    .AddMeter(AspNetCoreMeters)
                    .OwnHostsMetersOnly()
                    .AddRuntimeInstrumentation()
                    .AddNpgsqlInstrumentation();
                if (options.MetricsPorts().Count > 0)
                {
                    // Scrapes read the current values (no cached answer): tests assert exact deltas between two scrapes.
                    metrics.AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0);
                }

                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        }

        if (tracing)
        {
            telemetry.WithTracing(tracer =>
            {
                tracer.AddAspNetCoreInstrumentation(aspnet =>
                {
                    aspnet.Filter = context => !context.Request.Path.StartsWithSegments("/healthz")
                        && !context.Request.Path.StartsWithSegments("/metrics");
                    // Query strings may carry a namespace (a user id): never on a span, not even redacted.
                    aspnet.EnrichWithHttpRequest = (activity, _) => activity.SetTag("url.query", null);
                })
                .AddNpgsql()
                .AddSource(RelayTracing.SourceName);
                if (otlp)
                {
                    tracer.AddOtlpExporter();
                }

                traces?.Invoke(tracer);
            });
        }

        if (string.Equals(options.LogFormat, "json", StringComparison.OrdinalIgnoreCase))
        {
            builder.Logging.ClearProviders();
            builder.Logging.Configure(logging => logging.ActivityTrackingOptions =
                ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
            builder.Logging.AddJsonConsole(json =>
            {
                json.IncludeScopes = true;
                json.UseUtcTimestamp = true;
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }

        return builder;
    }

    /// <summary>The metrics endpoint on the metrics listener only; request ids on spans and in JSON logs.</summary>
    public static IApplicationBuilder UseMetricsEndpoint(this IApplicationBuilder app)
    {
        var telemetry = app.ApplicationServices.GetRequiredService<TelemetryOptions>();
        return telemetry.MetricsPorts.Count == 0
            ? app
            : app.UseOpenTelemetryPrometheusScrapingEndpoint(context =>
                !context.Request.IsHttps && telemetry.MetricsPorts.Contains(context.Connection.LocalPort)
                && context.Request.Path == "/metrics");
    }

    /// <summary>
    /// The jobs' (<c>retention</c>, <c>relay</c>, <c>index</c>, …) metrics: the service's meter, exported over OTLP when
    /// configured. A worker with a metrics listener (<paramref name="scraped"/>) also serves them to Prometheus, with the
    /// runtime's and Npgsql's, as <c>serve</c> does.
    /// </summary>
    public static void AddJobTelemetry(IServiceCollection services, IConfiguration configuration, bool scraped = false)
    {
        services.AddSingleton(sp => new ServiceMetrics(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<TimeProvider>()));
        var otlp = OtlpConfigured(configuration);
        if (!otlp && !scraped)
        {
            return;
        }

        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(ServiceMetrics.MeterName).AddNpgsqlInstrumentation();
                if (scraped)
                {
                    metrics.OwnHostsMetersOnly()
                        .AddRuntimeInstrumentation()
                        .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0);
                }

                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
    }

    /// <summary>
    /// Meters are found by name process-wide: a second host in the process (tests run many at once) makes same-named
    /// instruments, and the exporter would keep only the first it saw, perhaps another host's. Instruments of meters
    /// that another host's <see cref="IMeterFactory"/> made are dropped; static meters (Npgsql, the runtime) stay.
    /// </summary>
    public static MeterProviderBuilder OwnHostsMetersOnly(this MeterProviderBuilder metrics) =>
        ((IDeferredMeterProviderBuilder)metrics).Configure((services, builder) =>
        {
            var own = services.GetRequiredService<IMeterFactory>();
            builder.AddView(instrument => (instrument.Meter.Scope is null || ReferenceEquals(instrument.Meter.Scope, own))
                && !PerOperationNoise(instrument)
                ? null
                : MetricStreamConfiguration.Drop);
        });

    /// <summary>
    /// Instruments recorded once or more per request that no dashboard or alert of ours reads: Npgsql's per-command
    /// counters and histogram (its pool's <c>db.client.connection.*</c> stay), Kestrel's memory-pool rentals and routing's
    /// match attempts (<c>aspnetcore.routing.match_attempts</c>: every request's route and status are already in
    /// <c>http.server.request.duration</c>). Dropped, they are not even measured (about 1.6% of the service's CPU per
    /// append for the first two).
    /// </summary>
    private static bool PerOperationNoise(Instrument instrument) =>
        (instrument.Meter.Name == "Npgsql" && !instrument.Name.StartsWith("db.client.connection", StringComparison.Ordinal))
        || instrument.Meter.Name is "Microsoft.AspNetCore.MemoryPool" or "Microsoft.AspNetCore.Routing";

    private const string ResilientRateLimiterMeter = "DialogueDb.RateLimiting";

    /// <summary>
    /// ASP.NET Core's own meters that this service records on: requests (<c>http.server.*</c>), Kestrel's connections and
    /// TLS handshakes, and exceptions the error handler answered. Named here rather than through the OpenTelemetry
    /// package's <c>AddAspNetCoreInstrumentation</c>, which also puts a middleware in front of every request to tag
    /// exceptions that escape the pipeline (the service's error handler answers them all inside it): an extra async step
    /// per request that measured work, for a tag that never fires here.
    /// </summary>
    private static readonly string[] AspNetCoreMeters =
        ["Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Diagnostics"];

    private static bool OtlpConfigured(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
        || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
}
