using DialogueDb.Service.Hosting;
using DialogueDb.Service.Redis;

namespace DialogueDb.Service.RateLimiting;

internal static class RateLimitingSetup
{
    /// <summary>
    /// Redis-backed limits when DIALOGUEDB_REDIS is set (shared by all replicas; the connection comes from
    /// <see cref="RedisSetup.AddRedis"/>), else in-process (embedded mode).
    /// </summary>
    public static IServiceCollection AddRateLimits(this IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton<InProcessRateLimiter>();
        if (string.IsNullOrWhiteSpace(options.Redis))
        {
            services.AddSingleton<IRateLimiter>(sp => sp.GetRequiredService<InProcessRateLimiter>());
            return services;
        }

        services.AddSingleton(sp => new ResilientRateLimiter(
            new LeasingRateLimiter(new RedisRateLimiter(sp.GetRequiredService<RedisConnection>()), sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<LeasingRateLimiter>>()),
            sp.GetRequiredService<InProcessRateLimiter>(),
            options.RateLimitFailureMode,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ResilientRateLimiter>>()));
        services.AddSingleton<IRateLimiter>(sp => sp.GetRequiredService<ResilientRateLimiter>());
        services.AddHealthChecks().AddCheck<ResilientRateLimiter>("ratelimit");
        services.AddHostedService(sp => new RedisRecoveryProbe(sp.GetRequiredService<ResilientRateLimiter>(),
            sp.GetRequiredService<RedisConnection>(), sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
