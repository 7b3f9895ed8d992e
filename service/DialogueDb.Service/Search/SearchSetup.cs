using DialogueDb.Service.Audit;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Search;

internal static class SearchSetup
{
    /// <summary>
    /// Search: the queue writer always (writes enqueue index work), the cache the endpoint reads through, and the
    /// indexer where the audit relay runs (embedded mode, or with the maintenance role's connection on PostgreSQL).
    /// </summary>
    public static IServiceCollection AddSearch(this IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton<SearchSignal>();
        services.AddSingleton(sp => new SearchQueue(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<SearchSignal>(),
            options.SearchEnabled));
        services.AddSingleton<IEmbedder, MiniLmEmbedder>();
        services.AddSingleton(sp =>
        {
            var protector = sp.GetRequiredService<ContentProtector>();
            return new BlindTokenKey(protector, protector.ProjectId);
        });
        services.AddSingleton(sp => new SearchCache(sp.GetRequiredService<ContentProtector>(), sp.GetRequiredService<IEmbedder>(),
            options.SearchMemoryMb * 1024L * 1024L, sp.GetRequiredService<ILogger<SearchCache>>()));
        services.AddSingleton(sp => new LowPriorityEmbedder(sp.GetRequiredService<IEmbedder>(), sp.GetRequiredService<ILogger<LowPriorityEmbedder>>()));
        services.AddSingleton(sp => new SearchItemIndexer(sp.GetRequiredService<ContentProtector>(), sp.GetRequiredService<BlindTokenKey>(),
            sp.GetRequiredService<LowPriorityEmbedder>()));
        services.AddSingleton<SearchRanker>();
        if (options.SearchEnabled && AuditSetup.RunsRelay(options))
        {
            services.AddSingleton(sp => Indexer(sp, options));
            services.AddHostedService(sp => sp.GetRequiredService<SearchIndexer>());
        }

        return services;
    }

    private static SearchIndexer Indexer(IServiceProvider services, ServiceOptions options)
    {
        var database = MaintenanceDatabase.Open(options);
        return new SearchIndexer(database.NewContext, database.DataSource, services.GetRequiredService<SearchItemIndexer>(),
            services.GetRequiredService<SearchSignal>(), services.GetRequiredService<ILogger<SearchIndexer>>(),
            services.GetService<Telemetry.ServiceMetrics>());
    }
}
