using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// Redis for tests: the shared server tests/infra/start-services.sh starts (DIALOGUEDB_TEST_REDIS), or a private
/// redis-server this class starts on a spare loopback port, for tests that stop and restart it.
/// </summary>
public sealed class TestRedis : IAsyncDisposable
{
    public const string SharedVariable = "DIALOGUEDB_TEST_REDIS";

    private readonly TestFolder _folder = new("redis-");
    private Process? _process;

    private TestRedis(int port) => Port = port;

    public int Port { get; }

    public string Configuration => $"redis://127.0.0.1:{Port}";

    /// <summary>Where this server keeps its append-only file (what a stolen Redis disk would hold).</summary>
    public string DataDirectory => _folder.Path;

    /// <summary>The shared server's configuration string, or a skip (a failure under CI) when there is none.</summary>
    public static string Shared()
    {
        var value = Environment.GetEnvironmentVariable(SharedVariable);
        if (!string.IsNullOrWhiteSpace(value))
        {
            return value;
        }

        SkipOrFail($"{SharedVariable} is not set: start Redis with tests/infra/start-services.sh (make test does this).");
        return "";
    }

    /// <summary>Starts a private redis-server on a free port.</summary>
    public static async Task<TestRedis> StartPrivateAsync()
    {
        if (!File.Exists("/usr/bin/redis-server"))
        {
            SkipOrFail("redis-server is not installed (tests/infra/start-services.sh installs it).");
        }

        var redis = new TestRedis(FreePort());
        try
        {
            await redis.StartAsync();
            return redis;
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
    }

    public async Task StartAsync()
    {
        // Durable like a production Redis (every acknowledged write is in the append-only file), so a stop and restart
        // loses nothing that Redis accepted: what the tests measure is the service, not Redis's persistence.
        _process = Process.Start(new ProcessStartInfo("/usr/bin/redis-server",
            ["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", _folder.Path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new InvalidOperationException($"redis-server did not start on port {Port}");
    }

    public async Task StopAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    /// <summary>Stops the server, then deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _folder.Dispose();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void SkipOrFail(string reason)
    {
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException("CI must run the Redis tests: " + reason);
        }

        Assert.Skip(reason);
    }
}
