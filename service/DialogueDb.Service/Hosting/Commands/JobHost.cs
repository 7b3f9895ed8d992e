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
/// in it (<paramref name="configure"/> adds a command's own services).
/// </summary>
internal static class JobHost
{
    public static IHost Build(ServiceOptions options, bool hostRelay, Action<IServiceCollection>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(options);
        builder.Services.AddDialogueSecurity(options);
        builder.Services.AddRedis(options);
        builder.Services.AddRateLimits(options);
        builder.Services.AddAudit(options, hostRelay);
        // The outbox queues index work with the events it writes (a retention deletion takes the items out of search);
        // the indexer of a serving replica works it off.
        builder.Services.AddSingleton<SearchSignal>();
        builder.Services.AddSingleton(sp => new SearchQueue(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<SearchSignal>(),
            options.SearchEnabled));
        // Jobs end before any scrape: their metrics go out over OTLP when it is configured (flushed when the host is disposed).
        TelemetrySetup.AddJobTelemetry(builder);
        configure?.Invoke(builder.Services);
        return builder.Build();
    }
}
