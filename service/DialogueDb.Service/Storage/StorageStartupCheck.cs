using DialogueDb.Service.Hosting;
using Npgsql;

namespace DialogueDb.Service.Storage;

/// <summary>
/// The database step before the host listens (<see cref="IHostedLifecycleService.StartingAsync"/> runs before any hosted
/// service starts, Kestrel included). PostgreSQL: the API role must be subject to row-level security, or the process stops;
/// the schema itself is applied only by <c>dialoguedb migrate</c>. Embedded SQLite: the schema is created or brought up
/// to date here.
/// </summary>
internal sealed class StorageStartupCheck(ServiceOptions options, IServiceProvider services) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => options.UsesPostgres
        ? DatabaseMigrator.EnsureApiRoleIsolatedAsync(services.GetRequiredService<NpgsqlDataSource>(), cancellationToken)
        : DatabaseMigrator.EnsureEmbeddedSchemaAsync(services, cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
