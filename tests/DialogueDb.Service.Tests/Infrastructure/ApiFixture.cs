using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// Runs the real service (Kestrel, HTTPS on a loopback port, the real storage engine) in-process for a test class.
/// Each fixture owns a fresh data folder (and, for PostgreSQL, a fresh database), so test classes never share rows.
/// </summary>
public abstract class ApiFixture : IAsyncLifetime
{
    private readonly TestFolder _folder = new();
    private WebApplication? _app;
    private X509Certificate2? _ca;

    /// <summary>Which storage engine this fixture runs on: "sqlite" or "postgres".</summary>
    public abstract string Engine { get; }

    public string DataDir => _folder.Path;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>A read-write API key of the fixture's project.</summary>
    public string ApiKey { get; private set; } = null!;

    /// <summary>A read-only API key of the same project.</summary>
    public string ReadOnlyApiKey { get; private set; } = null!;

    public string ProjectId { get; } = "test-project";

    /// <summary>Client authorised with <see cref="ApiKey"/>.</summary>
    public HttpClient Client { get; private set; } = null!;

    /// <summary>Every line the service logged at Warning and above (unhandled errors with their stack traces).</summary>
    public LogCapture Logs { get; } = new();

    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("Fixture not started.");

    /// <summary>A new client over HTTPS that trusts the service's CA; sends <paramref name="bearer"/> when given.</summary>
    public HttpClient CreateClient(string? bearer = null)
    {
        var client = LocalCa.CreateClient(BaseAddress, _ca ?? throw new InvalidOperationException("Fixture not started."));
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>Set when this engine cannot run on this machine; test classes skip with it in their constructor.</summary>
    public string? SkipReason { get; protected set; }

    /// <summary>Engine-specific storage setup; returns the PostgreSQL connection string or null for SQLite.</summary>
    protected abstract ValueTask<string?> PrepareStorageAsync();

    protected virtual ValueTask CleanupStorageAsync() => ValueTask.CompletedTask;

    /// <summary>Settings a fixture adds to the service's (after storage is prepared).</summary>
    private protected virtual void ConfigureOptions(ServiceOptions options)
    {
    }

    public async ValueTask InitializeAsync()
    {
        var postgres = await PrepareStorageAsync();
        if (SkipReason is not null)
        {
            return;
        }

        var keys = TestProject.Write(DataDir, ProjectId);
        ApiKey = keys.ReadWrite;
        ReadOnlyApiKey = keys.ReadOnly;

        var options = new ServiceOptions
        {
            DataDir = DataDir,
            Urls = "https://127.0.0.1:0",
            Postgres = postgres,
            // A server (PostgreSQL mode) never generates its own key ring: write one, as the operator writes its Secret.
            EncryptionKeysFile = TestProject.WriteEncryptionKeys(DataDir),
            // As ServiceHost does: the 10 s production grace for unauthenticated connections cut connections whose first
            // request still waited for a thread on a starved machine ('connection reset by peer' in unrelated tests).
            UnauthenticatedConnectionSeconds = 120,
        };
        ConfigureOptions(options);
        var builder = ApiHost.CreateBuilder([], options);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(Logs);
        _app = ApiHost.Build(builder);
        // Starting runs the storage step `dialoguedb serve` runs (PostgreSQL was migrated by TestDatabase, as `dialoguedb migrate` would).
        await _app.StartAsync();

        var address = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>()
            .Addresses.Single();
        BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        _ca = LocalCa.Load(DataDir);
        Client = CreateClient(ApiKey);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            Client?.Dispose();
            if (_app is not null)
            {
                await _app.StopAsync();
                await _app.DisposeAsync();
            }

            _ca?.Dispose();
            await CleanupStorageAsync();
        }
        finally
        {
            _folder.Dispose();
        }

        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteApiFixture : ApiFixture
{
    public override string Engine => "sqlite";

    protected override ValueTask<string?> PrepareStorageAsync() => ValueTask.FromResult<string?>(null);
}

public class PostgresApiFixture : ApiFixture
{
    private TestDatabase? _database;

    public TestDatabase Database => _database ?? throw new InvalidOperationException("Fixture not started.");

    public override string Engine => "postgres";

    protected override async ValueTask<string?> PrepareStorageAsync()
    {
        SkipReason = TestDatabase.UnavailableReason();
        if (SkipReason is not null)
        {
            return null;
        }

        _database = await TestDatabase.CreateAsync();
        return _database.AppConnectionString;
    }

    protected override async ValueTask CleanupStorageAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}

/// <summary>
/// PostgreSQL with the background jobs a deployed pod runs beside the API (the audit relay and the search indexer), on
/// the maintenance role's connection as the operator configures them.
/// </summary>
public sealed class PostgresWithJobsApiFixture : PostgresApiFixture
{
    private protected override void ConfigureOptions(ServiceOptions options)
    {
        // The relay seals events under the project's event key, which production mode requires to be given.
        options.RelayPostgres = Database.MaintenanceConnectionString;
        options.EventsKeyFile = TestProject.WriteEventKey(DataDir);
    }
}
