using DialogueDb.Service.Hosting;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Storage;

/// <summary>
/// The database of a background worker (audit relay, search indexer, summary worker): on PostgreSQL the maintenance
/// role's connection (DIALOGUEDB_RELAY_POSTGRES, else the main one), which sees every namespace; else the embedded file.
/// Each worker opens its own, so its connections are a pool of their own.
/// </summary>
internal sealed class MaintenanceDatabase
{
    private readonly DbContextOptions<DialogueDbContext> _contexts;

    private MaintenanceDatabase(NpgsqlDataSource? dataSource, DbContextOptions<DialogueDbContext> contexts)
    {
        DataSource = dataSource;
        _contexts = contexts;
    }

    /// <summary>The PostgreSQL connections (a worker's leader connection comes from here too); null on the embedded database.</summary>
    public NpgsqlDataSource? DataSource { get; }

    public DialogueDbContext NewContext() => new(_contexts);

    public static MaintenanceDatabase Open(ServiceOptions options)
    {
        var contexts = new DbContextOptionsBuilder<DialogueDbContext>();
        NpgsqlDataSource? dataSource = null;
        if (options.UsesPostgres)
        {
            dataSource = NpgsqlDataSource.Create(options.RelayPostgres ?? options.Postgres!);
            StorageSetup.Configure(contexts, dataSource);
        }
        else
        {
            StorageSetup.ConfigureSqlite(contexts, options);
        }

        return new MaintenanceDatabase(dataSource, contexts.Options);
    }
}
