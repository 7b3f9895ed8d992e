using System.Text;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Resources;
using DialogueDb.Service.Security;
using k8s;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;
using static DialogueDb.Operator.Reconciliation.SecretData;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>The serving certificate's Secret and the CA certificate clients verify it with.</summary>
internal sealed record TlsMaterial(string SecretName, string CaCertificatePem);

/// <summary>
/// The Secrets the operator generates for a project: credentials (passwords, the API-key hash secret, the project
/// CA), the encryption key ring and the serving certificate. Each is created once and never overwritten; the key
/// ring changes only when its rotation counter is raised, the certificate only when it needs renewal.
/// </summary>
internal sealed class GeneratedSecrets(IKubernetes client, OperatorOptions options, EventRecorder events, TimeProvider time)
{
    /// <summary>The credentials Secret: passwords, the API key hash secret and the project CA, generated once.</summary>
    public async Task<V1Secret> EnsureCredentialsAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        var name = Credentials(project.Metadata.Name);
        var existing = await client.ReadSecretOrNullAsync(project.Metadata.NamespaceProperty, name, cancellationToken);
        if (existing is not null)
        {
            return existing;
        }

        var (caCertificate, caKey) = TlsIssuer.NewCa(project.Metadata.Name, time.GetUtcNow());
        var secret = DesiredState.Secret(project, name, "credentials", new Dictionary<string, byte[]>
        {
            ["postgres-owner-password"] = Utf8(NewPassword()),
            ["postgres-api-password"] = Utf8(NewPassword()),
            ["postgres-maintenance-password"] = Utf8(NewPassword()),
            ["redis-password"] = Utf8(NewPassword()),
            ["api-key-hash-secret"] = Utf8(Convert.ToBase64String(ApiKeyHasher.NewHashSecret())),
            ["ca.crt"] = Utf8(caCertificate),
            ["ca.key"] = Utf8(caKey),
        });
        return await client.CreateSecretOnceAsync(secret, FieldManager, cancellationToken);
    }

    /// <summary>The key ring: the customer's, or one generated once; a raised rotation counter adds a key and makes it active.</summary>
    public async Task<SecretValue> EnsureEncryptionAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        if (project.Spec.Encryption?.KeySecretRef is { } byo)
        {
            return new SecretValue(byo.Name!, byo.Key ?? "keys.json");
        }

        var ns = project.Metadata.NamespaceProperty;
        var name = Encryption(project.Metadata.Name);
        var wanted = project.Spec.Encryption?.Rotation ?? 0;
        var existing = await client.ReadSecretOrNullAsync(ns, name, cancellationToken);
        if (existing is null)
        {
            var ring = new Dictionary<string, byte[]> { ["keys.json"] = Utf8(EncryptionKeyRing.NewRing().ToJson()) };
            var secret = DesiredState.Secret(project, name, "encryption", ring);
            secret.Metadata.Annotations = new Dictionary<string, string> { [RotationAnnotation] = Invariant(wanted) };
            await client.CreateSecretOnceAsync(secret, FieldManager, cancellationToken);
        }
        else if (Rotation(existing) < wanted)
        {
            var ring = EncryptionKeyRing.Parse(Text(existing, "keys.json"), $"Secret {ns}/{name}").Rotate();
            existing.Data["keys.json"] = Utf8(ring.ToJson());
            existing.Metadata.Annotations ??= new Dictionary<string, string>();
            existing.Metadata.Annotations[RotationAnnotation] = Invariant(wanted);
            // A replace with the read resourceVersion: a concurrent change gives 409 and a retry, never a lost key.
            await client.CoreV1.ReplaceNamespacedSecretAsync(existing, name, ns, cancellationToken: cancellationToken);
            await events.RecordAsync(project, "Normal", "EncryptionKeyRotated",
                $"A new data key is active (rotation {wanted}); older keys remain for decryption.", cancellationToken);
        }

        return new SecretValue(name, "keys.json");
    }

    /// <summary>The customer's serving certificate, or one issued from the project CA and renewed before it expires.</summary>
    public async Task<TlsMaterial> EnsureTlsAsync(
        DialogueProject project, V1Secret credentials, ReferencedSecrets referenced, CancellationToken cancellationToken)
    {
        var ns = project.Metadata.NamespaceProperty;
        if (project.Spec.Tls?.SecretRef is { } byo)
        {
            return new TlsMaterial(byo.Name!, Text(referenced.ByName[byo.Name!], "ca.crt"));
        }

        var name = Tls(project.Metadata.Name);
        var caCertificate = Text(credentials, "ca.crt");
        var dnsNames = ServiceDnsNames(project, options.ClusterDomain);
        var existing = await client.ReadSecretOrNullAsync(ns, name, cancellationToken);
        var current = existing?.Data?.TryGetValue("tls.crt", out var crt) == true ? Encoding.UTF8.GetString(crt) : null;
        if (existing is null || TlsIssuer.NeedsRenewal(current, dnsNames, time.GetUtcNow()))
        {
            var (certificate, key) = TlsIssuer.IssueServer(caCertificate, Text(credentials, "ca.key"), dnsNames, time.GetUtcNow());
            var secret = DesiredState.Secret(project, name, "tls", new Dictionary<string, byte[]>
            {
                ["tls.crt"] = Utf8(certificate),
                ["tls.key"] = Utf8(key),
                ["ca.crt"] = Utf8(caCertificate),
            }, type: "kubernetes.io/tls");
            if (existing is null)
            {
                await client.CreateSecretOnceAsync(secret, FieldManager, cancellationToken);
            }
            else
            {
                secret.Metadata.ResourceVersion = existing.Metadata.ResourceVersion;
                await client.CoreV1.ReplaceNamespacedSecretAsync(secret, name, ns, cancellationToken: cancellationToken);
            }
        }

        return new TlsMaterial(name, caCertificate);
    }
}
