using System.CommandLine;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// The <c>dialoguedb</c> command line. Every option can also be set by its DIALOGUEDB_* environment variable;
/// an option given on the command line wins.
/// </summary>
internal static partial class Cli
{
    public static RootCommand Build()
    {
        var dataDir = new Option<string?>("--data-dir")
        {
            Description = "Data folder: embedded database, generated TLS files, dev project (env DIALOGUEDB_DATA_DIR; default ./.dialoguedb)",
        };
        var urls = new Option<string?>("--urls")
        {
            Description = "Listen addresses separated by ';' (env DIALOGUEDB_URLS; default https://127.0.0.1:8443)",
        };
        var postgres = new Option<string?>("--postgres")
        {
            Description = "Npgsql connection string; runs on PostgreSQL instead of SQLite (env DIALOGUEDB_POSTGRES)",
        };

        var serve = new Command("serve", "Serve the DialogueDB HTTP API over HTTPS") { dataDir, urls, postgres };
        serve.SetAction((parse, ct) => ServeAsync(Overrides(parse, dataDir, urls, postgres), ct));

        var migrate = new Command("migrate", "Apply database migrations (PostgreSQL), or create the embedded schema") { dataDir, postgres };
        migrate.SetAction((parse, ct) => MigrateAsync(Overrides(parse, dataDir, null, postgres), ct));

        return new RootCommand("DialogueDB: the conversation and memory store for AI applications") { serve, migrate };
    }

    private static Dictionary<string, string?> Overrides(ParseResult parse, Option<string?> dataDir, Option<string?>? urls,
        Option<string?> postgres)
    {
        var values = new Dictionary<string, string?>();
        Add("DATA_DIR", parse.GetValue(dataDir));
        Add("URLS", urls is null ? null : parse.GetValue(urls));
        Add("POSTGRES", parse.GetValue(postgres));
        return values;

        void Add(string key, string? value)
        {
            if (value is not null)
            {
                values[key] = value;
            }
        }
    }

    private static async Task<int> ServeAsync(Dictionary<string, string?> overrides, CancellationToken ct)
    {
        var builder = ApiHost.CreateBuilder([], commandLine: overrides);
        await using var app = ApiHost.Build(builder);
        var options = app.Services.GetRequiredService<ServiceOptions>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb");

        if (!options.UsesPostgres)
        {
            // Embedded mode creates its own schema; production applies migrations only through `dialoguedb migrate`.
            await DatabaseMigrator.MigrateAsync(app.Services, ct);
        }

        await app.StartAsync(ct);
        var listening = string.Join(", ", app.Urls);
        LogListening(logger, listening, options.UsesPostgres ? "postgresql" : "sqlite");
        if (!options.UsesPostgres)
        {
            var caPath = Path.Combine(options.FullDataDir, "tls", "ca.crt");
            LogTrustHint(logger, caPath);
        }

        await app.WaitForShutdownAsync(ct);
        return 0;
    }

    /// <summary>Needs only the database settings: no TLS, no project, nothing written to the data folder in PostgreSQL mode.</summary>
    private static async Task<int> MigrateAsync(Dictionary<string, string?> overrides, CancellationToken ct)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddEnvironmentVariables(ServiceOptions.EnvironmentPrefix).AddInMemoryCollection(overrides);
        var options = ServiceOptions.From(builder.Configuration);
        options.Validate();
        builder.Services.AddStorage(options);
        using var host = builder.Build();
        await DatabaseMigrator.MigrateAsync(host.Services, ct);
        Console.WriteLine(options.UsesPostgres ? "PostgreSQL migrations applied." : "Embedded SQLite schema is up to date.");
        return 0;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "DialogueDB serving on {Urls} (storage: {Engine})")]
    private static partial void LogListening(ILogger logger, string urls, string engine);

    [LoggerMessage(Level = LogLevel.Information, Message = "Trust the local CA with: curl --cacert {CaPath} / NODE_EXTRA_CA_CERTS={CaPath}")]
    private static partial void LogTrustHint(ILogger logger, string caPath);
}
