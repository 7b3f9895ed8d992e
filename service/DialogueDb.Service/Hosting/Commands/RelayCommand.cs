using System.CommandLine;
using DialogueDb.Service.Storage;
using Npgsql;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary><c>dialoguedb relay</c>: the audit relay alone, for PostgreSQL deployments whose API pods run none.</summary>
internal static class RelayCommand
{
    public static Command Create(CliOptions shared)
    {
        var relay = new Command("relay",
            "Run the audit relay alone: publish the outbox to the event stream (PostgreSQL: connect as the maintenance role)")
        {
            shared.DataDir, shared.Postgres,
        };
        relay.SetAction((parse, ct) => RelayAsync(CliOptions.Bind(shared.Overrides(parse, postgres: true)), ct));
        return relay;
    }

    private static async Task<int> RelayAsync(ServiceOptions options, CancellationToken ct)
    {
        if (!options.UsesPostgres)
        {
            throw new InvalidOperationException("In embedded mode `dialoguedb serve` runs the relay itself; `relay` is for PostgreSQL.");
        }

        options.RelayPostgres ??= options.Postgres!;
        await using (var check = NpgsqlDataSource.Create(options.RelayPostgres))
        {
            await DatabaseMigrator.EnsureSeesAllNamespacesAsync(check, ct);
        }

        using var host = JobHost.Build(options, hostRelay: true);
        await host.RunAsync(ct);
        return 0;
    }
}
