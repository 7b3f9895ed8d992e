using System.CommandLine;
using DialogueDb.Service.Search;
using DialogueDb.Service.Storage;
using Npgsql;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// <c>dialoguedb index</c>: the search indexer alone, for deployments whose API runs with
/// <c>DIALOGUEDB_SEARCH_INDEXER=external</c> (indexing on its own pods or cores). One indexer is active at a time
/// whichever processes run one; the others stand by. Runs until stopped (SIGTERM/SIGINT).
/// </summary>
internal static class IndexCommand
{
    public static Command Create(CliOptions shared)
    {
        var index = new Command("index",
            "Run the search indexer alone: index what the API queues (PostgreSQL: connect as the maintenance role)")
        {
            shared.DataDir, shared.Postgres,
        };
        index.SetAction((parse, ct) => IndexAsync(CliOptions.Bind(shared.Overrides(parse, postgres: true)), ct));
        return index;
    }

    private static async Task<int> IndexAsync(ServiceOptions options, CancellationToken ct)
    {
        await PrepareAsync(options, ct);
        using var host = JobHost.Build(options, hostRelay: false,
            services => services.AddSearchEmbeddings(options).AddSearchIndexer(options));
        await host.RunAsync(ct);
        return 0;
    }

    /// <summary>Checks that search is on and, on PostgreSQL, that the connection sees every namespace (the maintenance role).</summary>
    public static async Task PrepareAsync(ServiceOptions options, CancellationToken ct)
    {
        if (!options.SearchEnabled)
        {
            throw new InvalidOperationException("Search is turned off (DIALOGUEDB_SEARCH_ENABLED=false): there is no index to build.");
        }

        if (options.UsesPostgres)
        {
            options.RelayPostgres ??= options.Postgres!;
            await using var check = NpgsqlDataSource.Create(options.RelayPostgres);
            await DatabaseMigrator.EnsureSeesAllNamespacesAsync(check, ct);
        }
    }
}
