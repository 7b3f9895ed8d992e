using System.CommandLine;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// <c>dialoguedb serve</c>: the HTTP API over HTTPS until the process is stopped. The database step before it listens is
/// registered with storage (<see cref="Storage.StorageStartupCheck"/>).
/// </summary>
internal static partial class ServeCommand
{
    public static Command Create(CliOptions shared)
    {
        var serve = new Command("serve", "Serve the DialogueDB HTTP API over HTTPS") { shared.DataDir, shared.Urls, shared.Postgres };
        serve.SetAction((parse, ct) => ServeAsync(shared.Overrides(parse, urls: true, postgres: true), ct));
        return serve;
    }

    private static async Task<int> ServeAsync(Dictionary<string, string?> overrides, CancellationToken ct)
    {
        var builder = ApiHost.CreateBuilder([], commandLine: overrides);
        await using var app = ApiHost.Build(builder);
        var options = app.Services.GetRequiredService<ServiceOptions>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb");
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

    [LoggerMessage(Level = LogLevel.Information, Message = "DialogueDB serving on {Urls} (storage: {Engine})")]
    private static partial void LogListening(ILogger logger, string urls, string engine);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Trust the local CA with: curl --cacert {CaPath} / NODE_EXTRA_CA_CERTS={CaPath}")]
    private static partial void LogTrustHint(ILogger logger, string caPath);
}
