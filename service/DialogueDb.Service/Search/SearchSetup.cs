using DialogueDb.Service.Audit;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Search;

internal static class SearchSetup
{
    /// <summary>
    /// Search: the queue writer always (writes enqueue index work), the cache the endpoint reads through, and the
    /// indexer where the audit relay runs (embedded mode, or with the maintenance role's connection on PostgreSQL)
    /// unless <c>DIALOGUEDB_SEARCH_INDEXER=external</c> leaves it to a <c>dialoguedb index</c> process.
    /// </summary>
    public static IServiceCollection AddSearch(this IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton<SearchSignal>();
        services.AddSingleton(sp => new SearchQueue(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<SearchSignal>(),
            options.SearchEnabled));
        services.AddSearchEmbeddings(options);
        services.AddSingleton(sp => new SearchCache(sp.GetRequiredService<ContentProtector>(), sp.GetRequiredService<IEmbedder>(),
            sp.GetRequiredService<BlindTokenKey>(), sp.GetRequiredService<SearchQueue>(), options.SearchMemoryMb * 1024L * 1024L,
            sp.GetRequiredService<ILogger<SearchCache>>()));
        services.AddSingleton<SearchRanker>();
        if (options.SearchEnabled && options.RunsSearchIndexerInProcess && AuditSetup.RunsRelay(options))
        {
            services.AddSearchIndexer(options, besideTheApi: true);
        }

        return services;
    }

    /// <summary>
    /// The embedder (the endpoint when DIALOGUEDB_EMBEDDINGS_URL is set, else the in-process model) and the blind-index key.
    /// </summary>
    public static IServiceCollection AddSearchEmbeddings(this IServiceCollection services, ServiceOptions options)
    {
        if (options.UsesEmbeddingsEndpoint)
        {
            services.AddSingleton<IEmbedder>(sp => new EndpointEmbedder(
                new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
                {
                    Timeout = Timeout.InfiniteTimeSpan,
                },
                EndpointEmbedderSettings.From(options), sp.GetRequiredService<TimeProvider>()));
        }
        else
        {
            services.AddSingleton<IEmbedder>(_ => new MiniLmEmbedder());
        }

        services.AddSingleton(sp =>
        {
            var protector = sp.GetRequiredService<ContentProtector>();
            return new BlindTokenKey(protector, protector.ProjectId);
        });
        return services;
    }

    /// <summary>
    /// The indexer, hosted: by <c>serve</c> (in-process, <paramref name="besideTheApi"/>) or by <c>dialoguedb index</c>.
    /// The in-process model runs on a thread at the lowest CPU priority, on one core beside the API and on all of them in
    /// a process that only indexes (measured: 80 and 158 items/s on 1 and 2 cores); see <see cref="IndexingModel"/>. An
    /// endpoint is called directly (its work is elsewhere). Beside the API the model also waits while the API is busy
    /// (up to <see cref="LowPriorityEmbedder.MaxYield"/> per batch): see <see cref="ApiBusy"/>.
    /// </summary>
    public static IServiceCollection AddSearchIndexer(this IServiceCollection services, ServiceOptions options, bool besideTheApi = false)
    {
        services.AddSingleton(sp =>
        {
            var model = IndexingModel(sp.GetRequiredService<IEmbedder>(), besideTheApi);
            // The in-process model's inference is the CPU the API would miss; CPU counters are read in real time, and
            // what the model itself used (its wall time on its threads) does not count against it.
            LowPriorityEmbedder? embedder = null;
            var busy = besideTheApi && model is MiniLmEmbedder mini && sp.GetService<RequestsInFlight>() is { } requests
                ? ApiBusy(requests, new CpuPressure(TimeProvider.System, ownWork: () => (embedder?.Working ?? TimeSpan.Zero) * mini.Threads))
                : null;
            embedder = new LowPriorityEmbedder(model, sp.GetRequiredService<ILogger<LowPriorityEmbedder>>(), busy);
            return embedder;
        });
        services.AddSingleton(sp =>
        {
            var (embedder, tokens) = (sp.GetRequiredService<IEmbedder>(), sp.GetRequiredService<BlindTokenKey>());
            return new SearchRebuild(() => SearchIndexIdentity.Of(embedder, tokens), sp.GetRequiredService<TimeProvider>());
        });
        services.AddSingleton(sp =>
        {
            var embedder = sp.GetRequiredService<IEmbedder>();
            return new SearchVectorIndexer(sp.GetRequiredService<ContentProtector>(),
                options.UsesEmbeddingsEndpoint ? embedder : sp.GetRequiredService<LowPriorityEmbedder>(), sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<SearchVectorIndexer>>(), sp.GetService<Telemetry.ServiceMetrics>());
        });
        services.AddSingleton(sp => new SearchItemIndexer(sp.GetRequiredService<ContentProtector>(), sp.GetRequiredService<BlindTokenKey>(),
            sp.GetRequiredService<SearchRebuild>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => Indexer(sp, options));
        services.AddHostedService(sp => sp.GetRequiredService<SearchIndexer>());
        return services;
    }

    /// <summary>
    /// The model the indexer's low-priority thread runs. Beside the API, not the queries' <see cref="MiniLmEmbedder"/>:
    /// its pool threads take the nice value of whichever thread loads its session first, so sharing it would run the
    /// queries partly at nice 19 when the indexer loaded it, or the indexer partly at normal priority when a query did.
    /// The indexer runs <see cref="MiniLmEmbedder.SingleThreaded"/> instead (no pool: all its inference on its own
    /// thread). A process that only indexes runs the model alone, on all the cores (its pool starts on the lowered
    /// thread). Any other embedder (an endpoint, a test's) is used as it is beside the API.
    /// </summary>
    internal static IEmbedder IndexingModel(IEmbedder embedder, bool besideTheApi) => (embedder, besideTheApi) switch
    {
        (MiniLmEmbedder, true) => MiniLmEmbedder.SingleThreaded(),
        (_, true) => embedder,
        _ => new MiniLmEmbedder(Environment.ProcessorCount),
    };

    private static SearchIndexer Indexer(IServiceProvider services, ServiceOptions options)
    {
        var database = MaintenanceDatabase.Open(options);
        return new SearchIndexer(database.NewContext, database.DataSource, options.UsesPostgres ? null : SearchIndexer.LockFileOf(options),
            services.GetRequiredService<SearchItemIndexer>(), services.GetRequiredService<SearchVectorIndexer>(),
            services.GetRequiredService<SearchRebuild>(),
            options.UsesPostgres
                ? new SearchMessageFollower(new SearchDocuments(services.GetRequiredService<ContentProtector>()),
                    services.GetRequiredService<ILogger<SearchMessageFollower>>())
                : null,
            services.GetRequiredService<SearchSignal>(), services.GetRequiredService<ILogger<SearchIndexer>>(),
            services.GetRequiredService<TimeProvider>(), services.GetService<Telemetry.ServiceMetrics>());
    }

    /// <summary>
    /// Busy for the model beside the API: requests in flight, or the CPU nearly all taken (a saturated machine queues its
    /// requests before the pipeline counts them; PostgreSQL on the same cores counts too).
    /// </summary>
    private static Func<bool> ApiBusy(RequestsInFlight requests, CpuPressure cpu) => () => requests.Busy || cpu.Busy;
}
