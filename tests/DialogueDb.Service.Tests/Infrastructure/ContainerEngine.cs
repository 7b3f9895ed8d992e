using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// The Docker engine for the Testcontainers fault tests, and the images they run: built locally from Debian packages
/// by tests/infra/base-images.sh (no registry is needed). A test skips with the reason when no engine answers; under
/// CI an engine without the images is a failure. Before the first container is created this configures Testcontainers
/// for the engine it found: the engine's own API version (Debian's engine speaks an older one than the client's
/// default), no reaper container (its image cannot be pulled; every test disposes its containers) and published
/// ports reached on 127.0.0.1. Settings already in the environment win.
/// </summary>
internal static class ContainerEngine
{
    public const string RedisImage = "dialoguedb.local/redis:7.0";
    public const string PostgresImage = "dialoguedb.local/postgres:15";

    private static readonly Lazy<Task<string?>> Probe = new(ProbeAsync);

    /// <summary>Skips the test (with why) unless an engine answers and has <paramref name="images"/>.</summary>
    public static async Task RequireAsync(params string[] images)
    {
        if (await Probe.Value is { } reason)
        {
            Assert.Skip(reason);
        }

        using var client = EngineClient();
        foreach (var image in images)
        {
            using var response = await client.GetAsync($"images/{Uri.EscapeDataString(image)}/json");
            if (!response.IsSuccessStatusCode)
            {
                var missing = $"the image {image} is missing: build it with tests/infra/base-images.sh (make images does).";
                if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
                {
                    throw new InvalidOperationException("CI has a container engine, but " + missing);
                }

                Assert.Skip(missing);
            }
        }
    }

    /// <summary>
    /// A free port on the host's loopback, for a container published on a fixed port: Docker picks a new random port
    /// when a stopped container starts again, and a client reconnecting after a restart needs the same address.
    /// </summary>
    public static int FreeHostPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string?> ProbeAsync()
    {
        var socket = SocketPath();
        if (socket is null)
        {
            return $"DOCKER_HOST={Environment.GetEnvironmentVariable("DOCKER_HOST")} is not a unix socket; these tests use the local engine.";
        }

        if (!File.Exists(socket))
        {
            return $"no container engine: {socket} does not exist (start one with tests/infra/start-docker.sh; .ci/run does).";
        }

        try
        {
            using var client = EngineClient();
            var version = await client.GetFromJsonAsync<JsonObject>("version");
            Default("DOCKER_API_VERSION", (string?)version?["ApiVersion"]);
            Default("TESTCONTAINERS_RYUK_DISABLED", "true");
            Default("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1");
            return null;
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException or TaskCanceledException)
        {
            return $"no container engine answers on {socket}: {ex.Message}";
        }

        static void Default(string name, string? value)
        {
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(name)) && !string.IsNullOrEmpty(value))
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
    }

    private static string? SocketPath()
    {
        var host = Environment.GetEnvironmentVariable("DOCKER_HOST");
        if (string.IsNullOrEmpty(host))
        {
            return "/var/run/docker.sock";
        }

        return host.StartsWith("unix://", StringComparison.Ordinal) ? host["unix://".Length..] : null;
    }

    /// <summary>An HTTP client for the engine's API over its unix socket (answers within 5 s or not at all).</summary>
    private static HttpClient EngineClient()
    {
        var socket = SocketPath()!;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var connection = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await connection.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
                    return new NetworkStream(connection, ownsSocket: true);
                }
                catch
                {
                    connection.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://engine/"), Timeout = TimeSpan.FromSeconds(5) };
    }
}
