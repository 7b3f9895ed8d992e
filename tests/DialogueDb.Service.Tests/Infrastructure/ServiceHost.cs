using System.Collections.Concurrent;
using DialogueDb.Service.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>A service instance a test configures itself (its own data folder, options and log capture).</summary>
public sealed class ServiceHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2? _ca;

    private ServiceHost(WebApplication app, string dataDir, LogCapture logs)
    {
        _app = app;
        DataDir = dataDir;
        Logs = logs;
        BaseAddress = new Uri(app.Urls.First(u => u.StartsWith("https", StringComparison.Ordinal)));
        // Only when the service generated its own CA (no TLS files configured).
        _ca = File.Exists(Path.Combine(dataDir, "tls", "ca.crt")) ? LocalCa.Load(dataDir) : null;
    }

    public string DataDir { get; }

    public Uri BaseAddress { get; }

    public LogCapture Logs { get; }

    public IServiceProvider Services => _app.Services;

    private static readonly int DefaultUnauthenticatedSeconds = new ServiceOptions().UnauthenticatedConnectionSeconds;

    /// <summary>Starts the service over <paramref name="options"/> (embedded SQLite unless Postgres is set), logging everything into <see cref="Logs"/>.</summary>
    /// <param name="services">Replaces registrations after the service's own (e.g. a fake embedder for fault injection).</param>
    internal static async Task<ServiceHost> StartAsync(ServiceOptions options, k8s.IKubernetes? kubernetes = null,
        Action<OpenTelemetry.Trace.TracerProviderBuilder>? traces = null, Action<Microsoft.Extensions.DependencyInjection.IServiceCollection>? services = null)
    {
        var logs = new LogCapture();
        if (options.UnauthenticatedConnectionSeconds == DefaultUnauthenticatedSeconds)
        {
            // The early close of unauthenticated connections (10 s in production) also cut connections whose first
            // request was still waiting for a thread when the whole suite ran on a starved machine ("connection reset
            // by peer" in unrelated tests at load 40-80). Tests of that feature set their own, shorter grace.
            options.UnauthenticatedConnectionSeconds = 120;
        }

        var builder = ApiHost.CreateBuilder([], options, kubernetes: kubernetes, traces: traces);
        services?.Invoke(builder.Services);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddFilter((_, _) => true);
        builder.Logging.AddProvider(logs);
        var app = ApiHost.Build(builder);
        await app.StartAsync();
        return new ServiceHost(app, options.DataDir, logs);
    }

    public HttpClient CreateClient(string? bearer = null)
    {
        var client = LocalCa.CreateClient(BaseAddress, _ca ?? throw new InvalidOperationException("The service uses configured TLS files."));
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", bearer);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _ca?.Dispose();
    }

    /// <summary>
    /// A second replica's data folder: the same project, keys and certificates (as the operator mounts the same Secrets
    /// into every pod), without the embedded database file.
    /// </summary>
    internal static TestFolder ReplicaOf(string dataDir)
    {
        var copy = new TestFolder();
        foreach (var file in Directory.GetFiles(dataDir, "*", SearchOption.AllDirectories).Where(f => !f.Contains(".sqlite", StringComparison.Ordinal)))
        {
            var target = Path.Combine(copy.Path, Path.GetRelativePath(dataDir, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return copy;
    }

    /// <summary>
    /// A loopback port free right now, for a listener that needs a fixed port (the metrics listener is told apart by
    /// its port). Another process could take it before the host binds it; the host's start then fails loudly.
    /// </summary>
    public static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }
}

/// <summary>Every log line the service writes (message, state values and exception text), for leak checks.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public string All => string.Join('\n', _lines);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            lines.Enqueue($"{category} scope: {state}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? string.Join(' ', pairs.Select(p => $"{p.Key}={p.Value}"))
                : "";
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} [{values}] {exception}");
        }
    }
}
