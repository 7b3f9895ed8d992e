using DialogueDb.Service.Audit;
using DialogueDb.Service.RateLimiting;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Search;
using DialogueDb.Service.Security;
using DialogueDb.Service.Telemetry;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// The services the jobs share with `serve` (policy, keys, encryption, Redis, audit outbox), without the web host:
/// `relay` runs the relay in it, `retention` writes its events through it, `index` and `reindex` run the search indexer
/// in it (<paramref name="configure"/> adds a command's own services). <see cref="WorkerHost"/> adds a probe and
/// metrics listener to the same services.
/// </summary>
internal static class JobHost
{
    public static IHost Build(ServiceOptions options, bool hostRelay, Action<IServiceCollection>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        AddServices(builder.Services, builder.Configuration, options, hostRelay, scraped: false);
        configure?.Invoke(builder.Services);
        return builder.Build();
    }

    /// <summary>The shared services; <paramref name="scraped"/>: their metrics are served to Prometheus.</summary>
    public static void AddServices(IServiceCollection services, IConfiguration configuration, ServiceOptions options, bool hostRelay,
        bool scraped)
    {
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddDialogueSecurity(options);
        services.AddRedis(options);
        services.AddRateLimits(options);
        services.AddAudit(options, hostRelay);
        // The outbox queues index work with the events it writes (a retention deletion takes the items out of search);
        // the indexer of a serving replica works it off.
        services.AddSingleton<SearchSignal>();
        services.AddSingleton(sp => new SearchQueue(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<SearchSignal>(),
            options.SearchEnabled));
        // A job ends before any scrape: its metrics go out over OTLP when it is configured (flushed when the host is
        // disposed). A worker with a listener is scraped as well.
        TelemetrySetup.AddJobTelemetry(services, configuration, scraped);
    }
}
