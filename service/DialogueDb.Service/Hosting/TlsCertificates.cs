using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// The HTTPS certificate: the configured PEM pair, or (embedded mode) a local CA and a server certificate generated
/// once into DATA_DIR/tls. Clients trust <c>tls/ca.crt</c> (<c>curl --cacert</c>, <c>NODE_EXTRA_CA_CERTS</c>).
/// </summary>
internal static class TlsCertificates
{
    /// <summary>The PEM certificate and key files to serve, generating the embedded pair first when none is configured.</summary>
    public static (string Certificate, string Key) Files(ServiceOptions options, TimeProvider time)
    {
        if (options.TlsCertificateFile is not null && options.TlsKeyFile is not null)
        {
            return (options.TlsCertificateFile, options.TlsKeyFile);
        }

        var folder = Path.Combine(options.FullDataDir, "tls");
        var certPath = Path.Combine(folder, "tls.crt");
        var keyPath = Path.Combine(folder, "tls.key");
        if (!File.Exists(certPath) || !File.Exists(keyPath))
        {
            Generate(folder, time.GetUtcNow());
        }

        return (certPath, keyPath);
    }

    /// <summary>Parses a PEM certificate chain and its private key (a failure names the files, never their content).</summary>
    public static X509Certificate2 Parse(string certificatePem, string keyPem, string source)
    {
        try
        {
            return X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException($"The TLS certificate or key in {source} cannot be used: {ex.GetType().Name}.", ex);
        }
    }

    private static void Generate(string folder, DateTimeOffset now)
    {
        Directory.CreateDirectory(folder);

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=DialogueDB local CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var server = request.Create(ca, now.AddMinutes(-5), now.AddYears(2), serial);

        WriteSecret(Path.Combine(folder, "ca.key"), caKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(folder, "ca.crt"), ca.ExportCertificatePem() + "\n");
        WriteSecret(Path.Combine(folder, "tls.key"), serverKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(folder, "tls.crt"),
            server.ExportCertificatePem() + "\n" + ca.ExportCertificatePem() + "\n");
    }

    /// <summary>Writes a file readable only by its owner.</summary>
    public static void WriteSecret(string path, string contents)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(contents);
    }
}
