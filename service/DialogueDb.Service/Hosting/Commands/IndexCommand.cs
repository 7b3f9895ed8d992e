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
    public static Command Create(CliOptions shared) => WorkerHost.Command(shared, "index",
        "Run the search indexer alone: index what the API queues (PostgreSQL: connect as the maintenance role)", IndexAsync);

    private static async Task IndexAsync(ServiceOptions options, CancellationToken ct)
    {
        await PrepareAsync(options, ct);
        await WorkerHost.RunAsync(options, hostRelay: false, services => services.AddSearchEmbeddings(options).AddSearchIndexer(options),
            worker: sp => sp.GetRequiredService<SearchIndexer>(), ct);
    }

    /// <summary>Checks that search is on and, on PostgreSQL, that the connection sees every namespace (the maintenance role).</summary>
    public static async Task PrepareAsync(ServiceOptions options, CancellationToken ct)
    {
        if (!options.SearchEnabled)
        {
            throw new InvalidOperationException("Search is turned off (DIALOGUEDB_SEARCH_ENABLED=false): there is no index to build.");
        }

        await WorkerHost.UseMaintenanceConnectionAsync(options, ct);
    }
}
