namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// What sets one long-running worker command (<c>relay</c>, <c>index</c>) apart from the others; <see cref="WorkerHost"/>
/// runs the rest the same way for all of them.
/// </summary>
/// <param name="Name">The sub-command.</param>
/// <param name="Description">Its help text.</param>
/// <param name="Check">Refuses, with a clear exception, settings this worker cannot run with; runs before any connection.</param>
/// <param name="HostsRelay">Whether the audit relay runs in this process.</param>
/// <param name="AddServices">Adds the command's own services (its worker among them), or null when the shared ones hold it.</param>
/// <param name="Worker">The worker whose running makes the process ready.</param>
internal sealed record WorkerCommand(
    string Name,
    string Description,
    Action<ServiceOptions> Check,
    bool HostsRelay,
    Action<ServiceOptions, IServiceCollection>? AddServices,
    Func<IServiceProvider, BackgroundService> Worker);
