using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>Hand-written HTTP/1.1 over TLS or plain TCP, for requests HttpClient refuses to send (broken framing, bad headers).</summary>
internal static class RawHttps
{
    private static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Sends <paramref name="request"/> as is over TLS and returns everything the server answers until it closes or
    /// <paramref name="wait"/> (30 s) passes.
    /// </summary>
    public static async Task<string> SendAsync(Uri server, string dataDir, byte[] request, CancellationToken ct, TimeSpan? wait = null)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port, ct);
        using var ca = LocalCa.Load(dataDir);
        await using var tls = new SslStream(tcp.GetStream(), false, LocalCa.Validator(ca));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = server.Host,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
        }, ct);
        return await ExchangeAsync(tls, request, wait ?? DefaultWait, ct);
    }

    /// <summary>As <see cref="SendAsync"/>, over plain TCP (the probe and metrics listeners).</summary>
    public static async Task<string> SendPlainAsync(Uri server, byte[] request, CancellationToken ct, TimeSpan? wait = null)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port, ct);
        return await ExchangeAsync(tcp.GetStream(), request, wait ?? DefaultWait, ct);
    }

    private static async Task<string> ExchangeAsync(Stream connection, byte[] request, TimeSpan wait, CancellationToken ct)
    {
        await connection.WriteAsync(request, ct);
        await connection.FlushAsync(ct);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(wait);
        var answer = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await connection.ReadAsync(buffer, timeout.Token)) > 0)
            {
                answer.Write(buffer, 0, read);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The server kept the connection open (or reset it after answering): what arrived is the answer.
        }

        return Encoding.UTF8.GetString(answer.ToArray());
    }
}
