using DialogueDb.Service.Hosting;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using OpenTelemetry.Trace;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>Where the hosts of a <see cref="HostsOnTestStore"/> test class keep their data.</summary>
public enum TestStore
{
    /// <summary>Each host's own embedded SQLite file in its data folder.</summary>
    Sqlite,

    /// <summary>One throw-away <see cref="TestDatabase"/> per test, shared by its hosts; skipped where there is no server.</summary>
    Postgres,
}

/// <summary>
/// Base of test classes that run on either store (one sealed subclass per <see cref="TestStore"/>) and start service hosts
/// in folders of their own. After each test it stops the hosts, drops the database, then deletes the folders, the
/// folders also when stopping throws.
/// </summary>
public abstract class HostsOnTestStore(TestStore store) : IAsyncLifetime
{
    private readonly List<ServiceHost> _hosts = [];
    private readonly List<TestFolder> _folders = [];
    private TestDatabase? _database;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The API role's connection string on <see cref="TestStore.Postgres"/>; null on SQLite.</summary>
    protected string? Postgres => _database?.AppConnectionString;

    /// <summary>
    /// The maintenance role (BYPASSRLS, as `reencrypt` and retention connect) on <see cref="TestStore.Postgres"/>; null
    /// on SQLite. Disposed after the hosts stop, before the database is dropped.
    /// </summary>
    private protected NpgsqlDataSource? Maintenance { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (store == TestStore.Postgres)
        {
            if (TestDatabase.UnavailableReason() is { } reason)
            {
                Assert.Skip(reason);
            }

            _database = await TestDatabase.CreateAsync();
            Maintenance = NpgsqlDataSource.Create(_database.MaintenanceConnectionString);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var host in _hosts)
            {
                await host.DisposeAsync();
            }

            if (Maintenance is not null)
            {
                await Maintenance.DisposeAsync();
            }

            if (_database is not null)
            {
                await _database.DisposeAsync();
            }
        }
        finally
        {
            _folders.ForEach(f => f.Dispose());
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>A new empty folder, deleted after the test.</summary>
    private protected TestFolder NewFolder() => DeleteAfterTest(new TestFolder());

    /// <summary>Deletes <paramref name="folder"/> after the test (and after the hosts have stopped).</summary>
    private protected TestFolder DeleteAfterTest(TestFolder folder)
    {
        _folders.Add(folder);
        return folder;
    }

    /// <summary>Starts a host that is stopped after the test unless the test stops it first with <see cref="StopHostAsync"/>.</summary>
    private protected async Task<ServiceHost> StartHostAsync(ServiceOptions options, Action<TracerProviderBuilder>? traces = null)
    {
        var host = await ServiceHost.StartAsync(options, traces: traces);
        _hosts.Add(host);
        return host;
    }

    /// <summary>
    /// A context on the store of a host started with <paramref name="options"/>, connected as the maintenance commands
    /// (`reencrypt`, retention) connect: the embedded file on SQLite, <see cref="Maintenance"/> on PostgreSQL.
    /// </summary>
    private protected DialogueDbContext MaintenanceContext(ServiceOptions options)
    {
        var builder = new DbContextOptionsBuilder<DialogueDbContext>();
        if (Maintenance is null)
        {
            StorageSetup.ConfigureSqlite(builder, options);
        }
        else
        {
            StorageSetup.Configure(builder, Maintenance);
        }

        return new DialogueDbContext(builder.Options);
    }

    protected async Task StopHostAsync(ServiceHost host)
    {
        _hosts.Remove(host);
        await host.DisposeAsync();
    }
}
