using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// A private CA per project and the API's certificate issued by it. Applications trust the project's CA (it is in
/// every API key Secret), so the API certificate can be renewed without touching them.
/// </summary>
internal static class TlsIssuer
{
    public static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3650);
    public static readonly TimeSpan ServerLifetime = TimeSpan.FromDays(365);

    /// <summary>Renew a server certificate that has less than this left.</summary>
    public static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    public static (string CertificatePem, string KeyPem) NewCa(string project, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=DialogueDB project CA {project}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var ca = request.CreateSelfSigned(now.AddMinutes(-5), now + CaLifetime);
        return (ca.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    public static (string CertificatePem, string KeyPem) IssueServer(
        string caCertificatePem, string caKeyPem, IReadOnlyList<string> dnsNames, DateTimeOffset now)
    {
        using var caKey = ECDsa.Create();
        caKey.ImportFromPem(caKeyPem);
        using var caPublic = X509Certificate2.CreateFromPem(caCertificatePem);
        using var ca = caPublic.CopyWithPrivateKey(caKey);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsNames[0]}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            san.AddDnsName(name);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));

        var notAfter = now + ServerLifetime;
        if (notAfter > ca.NotAfter)
        {
            notAfter = ca.NotAfter;
        }

        using var leaf = request.Create(ca, now.AddMinutes(-5), notAfter, RandomNumberGenerator.GetBytes(16));
        return (leaf.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>True when the certificate is missing, unreadable, expiring soon, or does not cover <paramref name="dnsNames"/>.</summary>
    public static bool NeedsRenewal(string? certificatePem, IReadOnlyList<string> dnsNames, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(certificatePem))
        {
            return true;
        }

        try
        {
            using var certificate = X509Certificate2.CreateFromPem(certificatePem);
            if (certificate.NotAfter.ToUniversalTime() - now.UtcDateTime < RenewBefore)
            {
                return true;
            }

            var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
            var covered = san?.EnumerateDnsNames().ToHashSet(StringComparer.OrdinalIgnoreCase) ?? [];
            return !dnsNames.All(covered.Contains);
        }
        catch (CryptographicException)
        {
            return true;
        }
    }
}
