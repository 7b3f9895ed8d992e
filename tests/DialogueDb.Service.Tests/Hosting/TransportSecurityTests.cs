using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>§1: HTTPS only, TLS 1.2 or newer; a plain-HTTP listener never serves API data.</summary>
public sealed class TransportSecurityTests : IAsyncLifetime
{
    private readonly TestFolder _folder = new();
    private WebApplication _app = null!;
    private string _apiKey = null!;
    private Uri _https = null!;
    private Uri _http = null!;
    private X509Certificate2 _ca = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _apiKey = TestProject.Write(_folder.Path, "transport").ReadWrite;
        var builder = ApiHost.CreateBuilder([], new ServiceOptions
        {
            DataDir = _folder.Path,
            Urls = "https://127.0.0.1:0;http://127.0.0.1:0",
        });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        _app = ApiHost.Build(builder);
        await _app.StartAsync();
        _https = new Uri(_app.Urls.Single(u => u.StartsWith("https", StringComparison.Ordinal)));
        _http = new Uri(_app.Urls.Single(u => u.StartsWith("http:", StringComparison.Ordinal)));
        _ca = LocalCa.Load(_folder.Path);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _ca.Dispose();
        }
        finally
        {
            _folder.Dispose();
        }
    }

    [Theory]
    [InlineData("api/v1/dialogue")]
    [InlineData("dialogue")]
    [InlineData("api/v1/memory")]
    [InlineData("openapi/v1.json")]
    public async Task PlainHttp_ApiPath_HttpsRequiredAndNoData(string path)
    {
        using var client = new HttpClient { BaseAddress = _http };
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new("Bearer", _apiKey);

        using var response = await client.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("\"HTTPS_REQUIRED\"", body, StringComparison.Ordinal);
        Assert.DoesNotContain("items", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttp_WriteAttempt_RejectedAndNothingStored()
    {
        using var plain = new HttpClient { BaseAddress = _http };
        using var post = new HttpRequestMessage(HttpMethod.Post, "api/v1/dialogue?namespace=plain")
        {
            Content = new StringContent("""{"id":"over-plain-http"}"""),
        };
        post.Headers.Authorization = new("Bearer", _apiKey);
        using var rejected = await plain.SendAsync(post, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, rejected.StatusCode);

        using var secure = SecureClient();
        using var get = new HttpRequestMessage(HttpMethod.Get, "api/v1/dialogue/over-plain-http?namespace=plain");
        get.Headers.Authorization = new("Bearer", _apiKey);
        using var lookup = await secure.SendAsync(get, Ct);
        Assert.Equal(HttpStatusCode.NotFound, lookup.StatusCode);
    }

    [Fact]
    public async Task PlainHttp_LivenessProbe_Answers()
    {
        using var client = new HttpClient { BaseAddress = _http };
        using var response = await client.GetAsync("healthz/live", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public async Task Tls_ModernVersion_HandshakeSucceeds(SslProtocols protocol)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _https.Port, Ct);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = protocol,
            RemoteCertificateValidationCallback = LocalCa.Validator(_ca),
        }, Ct);

        Assert.Equal(protocol, tls.SslProtocol);
    }

    /// <summary>
    /// A hand-built TLS 1.1 ClientHello (so the client's own TLS library policy cannot be what refuses it): the server
    /// must answer with a fatal protocol_version alert, not a ServerHello.
    /// </summary>
    [Theory]
    [InlineData(0x01)] // TLS 1.0
    [InlineData(0x02)] // TLS 1.1
    public async Task Tls_LegacyVersion_ServerAnswersProtocolVersionAlert(byte minor)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _https.Port, Ct);
        var stream = tcp.GetStream();
        await stream.WriteAsync(LegacyClientHello(minor), Ct);

        var header = new byte[7];
        var read = 0;
        while (read < header.Length)
        {
            var n = await stream.ReadAsync(header.AsMemory(read), Ct);
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        Assert.True(read >= 7, "the server closed the connection without an alert");
        Assert.Equal(0x15, header[0]); // alert record, not a handshake (ServerHello)
        Assert.Equal(2, header[5]);    // fatal
        Assert.Equal(70, header[6]);   // protocol_version
    }

    private HttpClient SecureClient() => LocalCa.CreateClient(_https, _ca);

    private static byte[] LegacyClientHello(byte minor)
    {
        byte[] suites = [0xC0, 0x09, 0xC0, 0x13, 0x00, 0x2F, 0x00, 0x35];
        var body = new List<byte> { 0x03, minor };
        body.AddRange(RandomNumberGenerator.GetBytes(32));
        body.Add(0x00); // no session id
        body.AddRange([0x00, (byte)suites.Length]);
        body.AddRange(suites);
        body.AddRange([0x01, 0x00]); // null compression

        var handshake = new List<byte> { 0x01, 0x00, (byte)(body.Count >> 8), (byte)body.Count };
        handshake.AddRange(body);
        var record = new List<byte> { 0x16, 0x03, minor, (byte)(handshake.Count >> 8), (byte)handshake.Count };
        record.AddRange(handshake);
        return [.. record];
    }
}
