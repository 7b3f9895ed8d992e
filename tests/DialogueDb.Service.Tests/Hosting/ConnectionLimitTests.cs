using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using DialogueDb.Service.Api;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>Bounded connections and body memory: idle unauthenticated connections close early; bodies share a byte budget.</summary>
public sealed class ConnectionLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Connection_WithoutAnAuthenticatedRequest_ClosedAfterTheGrace_AuthenticatedOneKept()
    {
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "idle").ReadWrite;
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", UnauthenticatedConnectionSeconds = 5, KeepAliveSeconds = 120,
        });
        await WarmUpAsync(host, key);

        await using var idle = await OpenTlsAsync(host); // handshake done, then nothing: a client without a key
        await using var authenticated = await OpenTlsAsync(host);
        var request = Encoding.ASCII.GetBytes(
            $"GET /api/v1/dialogue HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n");
        await authenticated.WriteAsync(request, Ct);
        Assert.StartsWith("HTTP/1.1 200", await ReadSomeAsync(authenticated), StringComparison.Ordinal);

        // The idle connection is closed by the server (a read returns 0) well before Kestrel's keep-alive would.
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        wait.CancelAfter(TimeSpan.FromSeconds(30));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(await ClosedByServerAsync(idle, wait.Token), "the idle connection was not closed");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"closed only after {watch.Elapsed.TotalSeconds:F1} s (keep-alive: 120 s)");

        // Past the same grace, the connection that authenticated still serves.
        await authenticated.WriteAsync(request, Ct);
        Assert.StartsWith("HTTP/1.1 200", await ReadSomeAsync(authenticated), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_OverTheLimit_ClosedAtOnce_AnAuthenticatedClientServedAfterTheyGo()
    {
        const int Limit = 16; // the smallest MAX_CONNECTIONS the settings accept
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "limit").ReadWrite;
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", MaxConnections = Limit, UnauthenticatedConnectionSeconds = 120,
        });
        await WarmUpAsync(host, key);

        // The warm-up client's connection is released once it is closed; then every slot is taken by a client without a key.
        var held = new List<SslStream>();
        try
        {
            while (held.Count < Limit)
            {
                try
                {
                    held.Add(await OpenTlsAsync(host));
                }
                catch (Exception ex) when (ex is IOException or AuthenticationException && held.Count == Limit - 1)
                {
                    await Task.Delay(50, Ct); // the warm-up connection is still being torn down
                }
            }

            // One more: Kestrel accepts the socket and closes it before the TLS handshake ends.
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => OpenTlsAsync(host));
            Assert.True(refused is IOException or AuthenticationException, refused.ToString());

            // The held ones are real connections: one of them is served.
            var request = Encoding.ASCII.GetBytes(
                $"GET /api/v1/dialogue HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n");
            await held[0].WriteAsync(request, Ct);
            Assert.StartsWith("HTTP/1.1 200", await ReadSomeAsync(held[0]), StringComparison.Ordinal);
        }
        finally
        {
            foreach (var connection in held)
            {
                await connection.DisposeAsync();
            }
        }

        // Once they are gone, slots are free again: an authenticated client is served (Kestrel frees a slot when it has
        // seen the close, so the first attempt may still find the limit reached).
        await WarmUpAsync(host, key);
    }

    [Fact]
    public async Task BodyBudget_FullyReserved_NextWaitsInOrderAndCancellationGivesWayToTheNext()
    {
        var budget = new BodyMemoryBudget(100, TimeProvider.System);
        var first = await budget.ReserveAsync(80, Ct);

        var second = budget.ReserveAsync(50, Ct).AsTask();
        using var cancel = new CancellationTokenSource();
        var third = budget.ReserveAsync(60, cancel.Token).AsTask();
        var fourth = budget.ReserveAsync(10, Ct).AsTask();
        Assert.False(second.IsCompleted);
        Assert.False(fourth.IsCompleted); // first come, first served: 10 bytes are free, but the 50 wait first

        first.Dispose();
        using (await second)
        {
            Assert.False(third.IsCompleted); // 50 free: not enough for the 60, and the 10 stay behind them
            Assert.False(fourth.IsCompleted);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => third);
            using (await fourth)
            {
                Assert.Equal(40, budget.Available);
            }
        }

        Assert.Equal(100, budget.Available);
    }

    [Theory]
    [InlineData(100, 100 + 128)]
    [InlineData(2 * MiB, (2 * MiB) + MiB)]
    [InlineData(35 * MiB, (35 * MiB) + (64 * MiB))]
    [InlineData(36 * MiB, (36 * MiB) + (64 * MiB))]
    public void BodyBudget_ReservesTheBufferAndTheParsersPooledMetadata(long body, long reserved) =>
        // JsonDocument rents metadata as large as the body (1 MiB for 1-4 MiB), in the pool's power-of-two sizes.
        Assert.Equal(reserved, BodyMemoryBudget.ParsedBodyBytes(body));

    private const long MiB = 1024 * 1024;

    /// <summary>
    /// A cold process under a loaded machine can take longer than the grace to reach its first request (JIT), which
    /// is not what the grace is about: warm it up, retrying a connection it closed meanwhile.
    /// </summary>
    private static async Task WarmUpAsync(ServiceHost host, string key)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var warm = host.CreateClient(key);
            try
            {
                Assert.Equal(System.Net.HttpStatusCode.OK, (await warm.GetAsync("api/v1/dialogue", Ct)).StatusCode);
                return;
            }
            catch (HttpRequestException) when (attempt < 20)
            {
                await Task.Delay(50, Ct);
            }
        }
    }

    private static async Task<SslStream> OpenTlsAsync(ServiceHost host)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port, Ct);
        using var ca = LocalCa.Load(host.DataDir);
        var tls = new SslStream(tcp.GetStream(), false, LocalCa.Validator(ca));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = host.BaseAddress.Host,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
        }, Ct);
        return tls;
    }

    /// <summary>True when the server closed the connection: a read ends (0 bytes) or is reset (an abort sends RST).</summary>
    private static async Task<bool> ClosedByServerAsync(Stream stream, CancellationToken ct)
    {
        try
        {
            return await stream.ReadAsync(new byte[16], ct) == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private static async Task<string> ReadSomeAsync(Stream stream)
    {
        var buffer = new byte[16 * 1024];
        var read = await stream.ReadAsync(buffer, Ct);
        return Encoding.ASCII.GetString(buffer, 0, read);
    }
}
