using System.CommandLine;
using DialogueDb.Service.Search;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// <c>dialoguedb index</c>: the search indexer alone, for deployments whose API runs with
/// <c>DIALOGUEDB_SEARCH_INDEXER=external</c> (indexing on its own pods or cores). One indexer is active at a time
/// whichever processes run one; the others stand by. Runs until stopped (SIGTERM/SIGINT); probes and metrics on
/// DIALOGUEDB_METRICS_URLS when set (<see cref="WorkerHost"/>).
/// </summary>
internal static class IndexCommand
{
    public static Command Create(CliOptions shared) => WorkerHost.Command(shared, new WorkerCommand(
        "index",
        "Run the search indexer alone: index what the API queues (PostgreSQL: connect as the maintenance role)",
        Check: RequireSearch,
        HostsRelay: false,
        AddServices: (options, services) => services.AddSearchEmbeddings(options).AddSearchIndexer(options),
        Worker: sp => sp.GetRequiredService<SearchIndexer>()));

    /// <summary>Checks that search is on and, on PostgreSQL, that the connection sees every namespace (the maintenance role).</summary>
    public static async Task PrepareAsync(ServiceOptions options, CancellationToken ct)
    {
        RequireSearch(options);
        await WorkerHost.UseMaintenanceConnectionAsync(options, ct);
    }

    private static void RequireSearch(ServiceOptions options)
    {
        if (!options.SearchEnabled)
        {
            throw new InvalidOperationException("Search is turned off (DIALOGUEDB_SEARCH_ENABLED=false): there is no index to build.");
        }
    }
}
