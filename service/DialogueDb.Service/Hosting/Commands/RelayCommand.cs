using System.CommandLine;
using DialogueDb.Service.Audit;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// <c>dialoguedb relay</c>: the audit relay alone, for PostgreSQL deployments whose API pods run none. Runs until
/// stopped; probes and metrics on DIALOGUEDB_METRICS_URLS when set (<see cref="WorkerHost"/>).
/// </summary>
internal static class RelayCommand
{
    public static Command Create(CliOptions shared) => WorkerHost.Command(shared, new WorkerCommand(
        "relay",
        "Run the audit relay alone: publish the outbox to the event stream (PostgreSQL: connect as the maintenance role)",
        Check: RequirePostgres,
        HostsRelay: true,
        AddServices: null,
        Worker: sp => sp.GetRequiredService<OutboxRelay>()));

    private static void RequirePostgres(ServiceOptions options)
    {
        if (!options.UsesPostgres)
        {
            throw new InvalidOperationException("In embedded mode `dialoguedb serve` runs the relay itself; `relay` is for PostgreSQL.");
        }
    }
}
