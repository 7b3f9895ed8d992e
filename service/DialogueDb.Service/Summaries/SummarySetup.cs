using DialogueDb.Service.Audit;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Search;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Summaries;

internal static class SummarySetup
{
    /// <summary>
    /// Summaries: the signal the API nudges always; the worker where the background jobs run (embedded mode, or with the
    /// maintenance role's connection on PostgreSQL, which sees every namespace) unless its concurrency is 0.
    /// </summary>
    public static IServiceCollection AddSummaries(this IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton<SummarySignal>();
        if (!AuditSetup.RunsRelay(options) || options.SummaryConcurrency == 0)
        {
            return services;
        }

        services.AddSingleton(sp => new SummaryJobs(MaintenanceDatabase.Open(options).NewContext,
            sp.GetRequiredService<ContentProtector>(), sp.GetRequiredService<AuditOutbox>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new ChatCompletionsClient(
            new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan },
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new ExtractiveSummarizer(sp.GetService<IEmbedder>()));
        services.AddSingleton(sp => Runner(sp, sp.GetRequiredService<SummaryJobs>().NewContext, options));
        services.AddSingleton(sp => new SummaryWorker(sp.GetRequiredService<SummaryJobs>(), sp.GetRequiredService<SummaryRunner>(),
            sp.GetRequiredService<SummarySignal>(), SummaryWorkerSettings.From(options), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<SummaryWorker>>()));
        services.AddSupervisedService("summary worker", sp => sp.GetRequiredService<SummaryWorker>());
        return services;
    }

    /// <summary>The runner with the providers of this process: the extractive one, or the project's LLM endpoint.</summary>
    public static SummaryRunner Runner(IServiceProvider services, Func<DialogueDbContext> newContext, ServiceOptions options)
    {
        var extractive = services.GetRequiredService<ExtractiveSummarizer>();
        var client = services.GetRequiredService<ChatCompletionsClient>();
        return new SummaryRunner(newContext, services.GetRequiredService<ContentProtector>(), services.GetRequiredService<ProjectPolicy>(),
            settings => settings.Provider == SummarySettings.OpenAiCompatible
                ? new OpenAiCompatibleSummarizer(client, options.SummaryApiKeyFile)
                : extractive);
    }
}
