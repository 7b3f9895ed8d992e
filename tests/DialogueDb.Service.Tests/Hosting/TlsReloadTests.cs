using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>Certificates from PEM files (as Kubernetes mounts a TLS Secret), replaced in place while serving.</summary>
public sealed class TlsReloadTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CertificateFiles_ReplacedWhileServing_NewHandshakesUseTheNewCertificate()
    {
        using var folder = new TestFolder();
        var (dataDir, certPath, keyPath) = MountedFiles(folder);
        using var first = WriteCertificate(certPath, keyPath, "first");
        await using var host = await StartAsync(dataDir, certPath, keyPath);

        Assert.Equal(first.Thumbprint, await PresentedThumbprintAsync(host.BaseAddress.Port));
        Assert.False(File.Exists(Path.Combine(dataDir, "tls", "tls.crt")), "configured files must be used instead of generating");

        using var second = WriteCertificate(certPath, keyPath, "second");
        var watch = Stopwatch.StartNew();
        string? presented;
        do
        {
            await Task.Delay(100, Ct);
            presented = await PresentedThumbprintAsync(host.BaseAddress.Port);
        }
        while (presented != second.Thumbprint && watch.Elapsed < TimeSpan.FromSeconds(5));

        Assert.Equal(second.Thumbprint, presented);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"the new certificate took {watch.Elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task CertificateFiles_ReplacedWithGarbage_KeepsServingTheLastGoodOne()
    {
        using var folder = new TestFolder();
        var (dataDir, certPath, keyPath) = MountedFiles(folder);
        using var good = WriteCertificate(certPath, keyPath, "good");
        await using var host = await StartAsync(dataDir, certPath, keyPath);

        await File.WriteAllTextAsync(certPath, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n", Ct);
        var watch = Stopwatch.StartNew();
        while (!host.Logs.All.Contains("Rejected a change to the TLS certificate", StringComparison.Ordinal) && watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(100, Ct);
        }

        Assert.Contains("Rejected a change to the TLS certificate", host.Logs.All, StringComparison.Ordinal);
        Assert.Equal(good.Thumbprint, await PresentedThumbprintAsync(host.BaseAddress.Port));
    }

    private static (string DataDir, string CertPath, string KeyPath) MountedFiles(TestFolder folder)
    {
        TestProject.Write(folder.Path, "tls");
        return (folder.Path, Path.Combine(folder.Path, "mounted.crt"), Path.Combine(folder.Path, "mounted.key"));
    }

    private static Task<ServiceHost> StartAsync(string dataDir, string certPath, string keyPath) =>
        ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir,
            Urls = "https://127.0.0.1:0",
            TlsCertificateFile = certPath,
            TlsKeyFile = keyPath,
        });

    /// <summary>The thumbprint of the certificate the server presents on a fresh TLS 1.3 handshake.</summary>
    private static async Task<string?> PresentedThumbprintAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port, Ct);
        string? thumbprint = null;
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, cert, _, _) =>
            {
                thumbprint = cert?.GetCertHashString();
                return thumbprint is not null;
            },
        }, Ct);
        return thumbprint;
    }

    private static X509Certificate2 WriteCertificate(string certPath, string keyPath, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        return certificate;
    }
}
