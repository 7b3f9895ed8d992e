using System.CommandLine;
using DialogueDb.Service.Search;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// <c>dialoguedb reindex</c>: rebuilds the project's search index (all namespaces or one) from the stored, encrypted
/// data — after turning search on, restoring a backup, or to force it; a changed embedder or keyword analysis is rebuilt
/// by the indexer on its own. It asks for the rebuilds, then runs an indexer until they are done: when another indexer
/// is active (<c>serve</c> or <c>dialoguedb index</c>), this one stands by and the active one does the work. Stopped
/// early, the rebuilds go on in the active indexer from where they were. Exit code 0 when done, 1 on failure.
/// Needs the same DIALOGUEDB_EMBEDDINGS_* settings as the service.
/// </summary>
internal static class ReindexCommand
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Report = TimeSpan.FromSeconds(10);

    public static Command Create(CliOptions shared)
    {
        var ns = new Option<string?>("--namespace") { Description = "Rebuild only this namespace's index (default: every namespace)" };
        var reindex = new Command("reindex",
            "Rebuild the search index from the stored data (PostgreSQL: connect as the maintenance role)")
        {
            shared.DataDir, shared.Postgres, ns,
        };
        reindex.SetAction((parse, ct) =>
            ReindexAsync(CliOptions.Bind(shared.Overrides(parse, postgres: true)), parse.GetValue(ns), parse.InvocationConfiguration, ct));
        return reindex;
    }

    private static async Task<int> ReindexAsync(ServiceOptions options, string? ns, InvocationConfiguration console, CancellationToken ct)
    {
        if (ns is not null && (ns.Length is 0 or > 128))
        {
            console.Error.WriteLine("--namespace must be 1 to 128 characters.");
            return 2;
        }

        await IndexCommand.PrepareAsync(options, ct);
        using var host = JobHost.Build(options, hostRelay: false,
            services => services.AddSearchEmbeddings(options).AddSearchIndexer(options));
        var database = MaintenanceDatabase.Open(options);
        try
        {
            var request = new SearchReindexRequest(database.NewContext, ns);
            var identity = host.Services.GetRequiredService<SearchRebuild>().Identity;
            var requested = await request.RequestAsync(ct);
            console.Output.WriteLine($"Rebuild requested for {requested} namespace index(es) ({identity}); waiting for the indexer.");
            await host.StartAsync(ct);
            var time = TimeProvider.System;
            var nextReport = time.GetUtcNow() + Report;
            while (true)
            {
                var (rebuilding, queued) = await request.ProgressAsync(identity, ct);
                if (rebuilding == 0 && queued == 0)
                {
                    break;
                }

                if (time.GetUtcNow() >= nextReport)
                {
                    console.Output.WriteLine($"{rebuilding} namespace index(es) still being rebuilt, {queued} item(s) queued.");
                    nextReport = time.GetUtcNow() + Report;
                }

                await Task.Delay(Poll, time, ct);
            }

            console.Output.WriteLine("The search index is rebuilt.");
            await host.StopAsync(CancellationToken.None);
            return 0;
        }
        catch (Exception ex) when (ex is NpgsqlException or DbUpdateException or Microsoft.Data.Sqlite.SqliteException)
        {
            console.Error.WriteLine($"dialoguedb reindex failed: {ex.GetType().Name}: {ex.Message}");
            return 1;
        }
        finally
        {
            if (database.DataSource is not null)
            {
                await database.DataSource.DisposeAsync();
            }
        }
    }
}
