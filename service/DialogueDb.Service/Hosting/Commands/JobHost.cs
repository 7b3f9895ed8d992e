using DialogueDb.Service.Audit;
using DialogueDb.Service.RateLimiting;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Security;
using DialogueDb.Service.Telemetry;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// The services the jobs share with `serve` (policy, keys, encryption, Redis, audit outbox), without the web host:
/// `relay` runs the relay in it, `retention` writes its events through it.
/// </summary>
internal static class JobHost
{
    public static IHost Build(ServiceOptions options, bool hostRelay)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(options);
        builder.Services.AddDialogueSecurity(options);
        builder.Services.AddRedis(options);
        builder.Services.AddRateLimits(options);
        builder.Services.AddAudit(options, hostRelay);
        // Jobs end before any scrape: their metrics go out over OTLP when it is configured (flushed when the host is disposed).
        TelemetrySetup.AddJobTelemetry(builder);
        return builder.Build();
    }
}
