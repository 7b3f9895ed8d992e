using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.RateLimiting;

internal static class RateLimitingSetup
{
    /// <summary>Redis-backed limits when DIALOGUEDB_REDIS is set (shared by all replicas), else in-process (embedded mode).</summary>
    public static IServiceCollection AddRateLimits(this IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton(sp => new RateLimitKeys(
            options.RedisKeyPrefix ?? RateLimitKeys.DefaultPrefix(sp.GetRequiredService<Policy.ProjectPolicy>().Current.ProjectId)));
        services.AddSingleton<InProcessRateLimiter>();
        if (string.IsNullOrWhiteSpace(options.Redis))
        {
            services.AddSingleton<IRateLimiter>(sp => sp.GetRequiredService<InProcessRateLimiter>());
            return services;
        }

        services.AddSingleton(new RedisConnection(options.Redis));
        services.AddSingleton(sp => new ResilientRateLimiter(
            new LeasingRateLimiter(new RedisRateLimiter(sp.GetRequiredService<RedisConnection>()), sp.GetRequiredService<TimeProvider>()),
            sp.GetRequiredService<InProcessRateLimiter>(),
            options.RateLimitFailureMode,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ResilientRateLimiter>>()));
        services.AddSingleton<IRateLimiter>(sp => sp.GetRequiredService<ResilientRateLimiter>());
        services.AddHealthChecks().AddCheck<ResilientRateLimiter>("ratelimit");
        return services;
    }
}
