using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;

namespace DialogueDb.Service.Redis;

internal static class RedisSetup
{
    /// <summary>
    /// The project's key names always; the one shared connection when DIALOGUEDB_REDIS is set (rate limits and the audit
    /// stream use it; without it both stay in this process: in-process limits, the embedded events file).
    /// </summary>
    public static IServiceCollection AddRedis(this IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton(sp => RedisKeys.For(options, sp.GetRequiredService<ProjectPolicy>().Current.ProjectId));
        if (!string.IsNullOrWhiteSpace(options.Redis))
        {
            services.AddSingleton(new RedisConnection(options.Redis));
        }

        return services;
    }
}
