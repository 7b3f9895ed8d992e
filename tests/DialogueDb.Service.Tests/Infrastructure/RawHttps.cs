using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>Hand-written HTTP/1.1 over TLS, for requests HttpClient refuses to send (broken framing, bad headers).</summary>
internal static class RawHttps
{
    /// <summary>Sends <paramref name="request"/> as is and returns everything the server answers until it closes or 5 s pass.</summary>
    public static async Task<string> SendAsync(Uri server, string dataDir, byte[] request, CancellationToken ct)
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
        await tls.WriteAsync(request, ct);
        await tls.FlushAsync(ct);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var answer = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await tls.ReadAsync(buffer, timeout.Token)) > 0)
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
