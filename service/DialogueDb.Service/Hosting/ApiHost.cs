using System.Diagnostics;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using DialogueDb.Service.Api;
using DialogueDb.Service.Api.Dialogues;
using DialogueDb.Service.Api.Memories;
using DialogueDb.Service.Api.Messages;
using DialogueDb.Service.Api.Search;
using DialogueDb.Service.Api.Summaries;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.RateLimiting;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Search;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Summaries;
using DialogueDb.Service.Telemetry;

namespace DialogueDb.Service.Hosting;

/// <summary>Builds the API web application: the table of contents of the service.</summary>
internal static partial class ApiHost
{
    /// <summary>
    /// Configuration sources in order of precedence: command line, DIALOGUEDB_* environment, appsettings.
    /// <paramref name="traces"/> turns tracing on with the exporter it adds (tests); OTLP settings turn it on too.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(string[] args, ServiceOptions? options = null,
        IReadOnlyDictionary<string, string?>? commandLine = null, k8s.IKubernetes? kubernetes = null,
        Action<OpenTelemetry.Trace.TracerProviderBuilder>? traces = null)
    {
        // appsettings.json ships beside the binary; the working directory is wherever the operator started it.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddEnvironmentVariables(ServiceOptions.EnvironmentPrefix);

        // SQL text at Information level is noise in production; EF Core never logs parameter values here.
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Warning);
        // Unhandled exceptions are logged once, by ApiPipeline (the middleware's own log line would repeat them).
        builder.Logging.AddFilter("Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware", LogLevel.None);
        if (commandLine is not null)
        {
            builder.Configuration.AddInMemoryCollection(commandLine);
        }

        options ??= ServiceOptions.From(builder.Configuration);
        options.Validate();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(new BodyMemoryBudget(options.MaxBufferedBodyBytes, TimeProvider.System, options.MaxRequestBodyBytes));
        builder.Services.AddSingleton(new RequestsInFlight());
        builder.Services.AddSingleton(new UnauthenticatedConnections(TimeSpan.FromSeconds(options.UnauthenticatedConnectionSeconds),
            TimeProvider.System));
        builder.Services.AddSingleton(new KestrelRejections(TimeProvider.System));

        var (certPath, keyPath) = TlsCertificates.Files(options, TimeProvider.System);
        var tlsSource = $"{certPath} / {keyPath}";
        TlsCertificates.Parse(File.ReadAllText(certPath), File.ReadAllText(keyPath), tlsSource).Dispose();

        // Kubernetes rotates certificate Secrets in place: new handshakes use the new certificate within a second.
        builder.Services.AddSingleton(sp => new ReloadingFiles<X509Certificate2>("TLS certificate", [certPath, keyPath],
            contents => TlsCertificates.Parse(contents[0], contents[1], tlsSource), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb.Tls"), metrics: sp.GetService<ServiceMetrics>()));
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // The API enforces MaxRequestBodyBytes itself and drains what is over it so the client reads a clean 413;
            // Kestrel's limit is the hard stop beyond which the connection is simply closed.
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes * 4;
            kestrel.Limits.MaxConcurrentConnections = options.MaxConnections;
            kestrel.Limits.MaxConcurrentUpgradedConnections = options.MaxConnections;
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(options.KeepAliveSeconds);
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(Math.Min(30, options.UnauthenticatedConnectionSeconds));
            kestrel.ConfigureHttpsDefaults(https =>
            {
                var certificates = kestrel.ApplicationServices.GetRequiredService<ReloadingFiles<X509Certificate2>>();
                https.ServerCertificateSelector = (_, _) => certificates.Current;
                https.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
            });
            ListenAddresses.Configure(kestrel, options, kestrel.ApplicationServices.GetRequiredService<UnauthenticatedConnections>(),
                kestrel.ApplicationServices.GetRequiredService<KestrelRejections>());
        });

        var firstKey = options.PolicySecret is null ? DevProject.EnsureCreated(options) : null;
        if (firstKey is not null)
        {
            // Printed once, to the console only (never to a log): the project file keeps just its hash.
            Console.WriteLine($"""

                Created a development project with one read-write API key (shown only this once):

                    {firstKey}

                Scripts can read it from {Path.Combine(options.FullDataDir, "dev-api-key")}.

                """);
        }

        builder.Services.AddDialogueSecurity(options, kubernetes);
        builder.Services.AddRedis(options);
        builder.Services.AddRateLimits(options);
        builder.Services.AddSingleton<RequestUsage>();
        builder.Services.AddSupervisedService("request usage", sp => sp.GetRequiredService<RequestUsage>());
        builder.Services.AddSingleton<PlanQuotas>();
        builder.Services.AddSingleton(sp => new ItemReads(sp.GetService<NamespaceBatches>()));
        builder.Services.AddSingleton(sp => new MessageAppender(sp.GetService<NamespaceBatches>(), sp.GetRequiredService<ContentProtector>(),
            sp.GetRequiredService<PlanQuotas>(), sp.GetRequiredService<AuditOutbox>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<TransactionReplay>()));
        builder.Services.AddAudit(options, AuditSetup.RunsRelay(options));
        builder.Services.AddStorage(options);
        builder.Services.AddSearch(options);
        builder.Services.AddSummaries(options);
        builder.Services.AddOpenApi();
        builder.Services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database");
        builder.AddTelemetry(options, traces);
        return builder;
    }

    public static WebApplication Build(WebApplicationBuilder builder)
    {
        var app = builder.Build();

        // Created now, not at the first request: they start the file watchers.
        app.Services.GetRequiredService<ApiKeyRing>();
        app.Services.GetRequiredService<ContentProtector>();
        // Created now: its observable gauges exist from the first scrape on.
        app.Services.GetRequiredService<ServiceMetrics>();
        app.Services.GetRequiredService<QuotaUsage>();
        // Kestrel announces the requests it rejects while parsing on the host's diagnostic source.
        var rejections = app.Services.GetRequiredService<DiagnosticListener>()
            .Subscribe(app.Services.GetRequiredService<KestrelRejections>(), name => name == KestrelRejections.BadRequestEvent);
        app.Lifetime.ApplicationStopped.Register(rejections.Dispose);

        app.UseRequestIds();
        app.UseRequestTelemetry(jsonLogs: app.Services.GetRequiredService<ServiceOptions>().LogFormat == "json");
        app.Use(app.Services.GetRequiredService<UnauthenticatedConnections>().TrackRequestAsync);
        app.UseBodylessHead();
        app.UseApiErrors();
        app.UseTransientDatabaseFailureAnswers();
        app.UseMetricsEndpoint();
        app.UseUnknownDataKeyAnswers();
        app.UseHttpsOnlyApi();
        var gate = app.Services.GetRequiredService<ApiKeyGate>();
        app.Use(gate.Authenticate);
        app.UseMiddleware<RateLimitingMiddleware>();
        app.Use(ApiKeyGate.Authorize);
        // Counted once authorized: a client without a key cannot hold the background model back.
        app.Use(app.Services.GetRequiredService<RequestsInFlight>().TrackAsync);

        app.MapHealthChecks("/healthz/live", new() { Predicate = _ => false, ResponseWriter = WriteHealthAsync });
        app.MapHealthChecks("/healthz/ready", new() { ResponseWriter = WriteHealthAsync });
        app.MapOpenApi();

        // Every route is served under /api/v1 and the bare path (older SDKs); the OpenAPI document lists /api/v1 once.
        foreach (var prefix in (string[])["/api/v1", ""])
        {
            var api = app.MapGroup(prefix).RequireApiKey();
            if (prefix.Length == 0)
            {
                api.ExcludeFromDescription();
            }

            api.MapGroup("").WithTags("Dialogues").MapDialogues();
            api.MapGroup("").WithTags("Messages").MapMessages();
            api.MapGroup("").WithTags("Memories").MapMemories();
            if (app.Services.GetRequiredService<ServiceOptions>().SearchEnabled)
            {
                api.MapGroup("").WithTags("Search").MapSearch();
            }

            api.MapGroup("").WithTags("Summaries").MapSummaries();
        }

        return app;
    }

    private static Task WriteHealthAsync(HttpContext context, Microsoft.Extensions.Diagnostics.HealthChecks.HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        return new JsonPayload(w =>
        {
            w.WriteStartObject();
            w.WriteString("status", report.Status.ToString().ToLowerInvariant());
            foreach (var (name, entry) in report.Entries)
            {
                w.WriteString(name, entry.Status.ToString().ToLowerInvariant());
            }

            w.WriteEndObject();
        }, context.Response.StatusCode).ExecuteAsync(context);
    }
}
