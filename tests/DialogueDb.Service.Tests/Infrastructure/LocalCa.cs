using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>Trusts exactly the CA the service generated into DATA_DIR/tls/ca.crt, as curl --cacert would.</summary>
public static class LocalCa
{
    public static X509Certificate2 Load(string dataDir) =>
        X509CertificateLoader.LoadCertificateFromFile(Path.Combine(dataDir, "tls", "ca.crt"));

    public static RemoteCertificateValidationCallback Validator(X509Certificate2 ca) => (_, cert, _, errors) =>
    {
        if (cert is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var presented = X509CertificateLoader.LoadCertificate(cert.GetRawCertData());
        return chain.Build(presented);
    };

    public static HttpClient CreateClient(Uri baseAddress, X509Certificate2 ca)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = Validator(ca);
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }
}
