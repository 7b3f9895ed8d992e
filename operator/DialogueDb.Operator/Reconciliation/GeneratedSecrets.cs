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

/// <summary>Where the pods read the key ring, and when a pending rotation's new key becomes active (null: none pending).</summary>
internal sealed record EncryptionKeys(SecretValue Secret, DateTimeOffset? ActivatesAt);

/// <summary>The serving certificate's Secret and the CA certificate clients verify it with.</summary>
internal sealed record TlsMaterial(string SecretName, string CaCertificatePem);

/// <summary>
/// The Secrets the operator generates for a project: credentials (passwords, the API-key hash secret, the project
/// CA), the encryption key ring, the event key ring and the serving certificate. Each is created once and never overwritten; the key
/// ring changes only when its rotation counter is raised, the certificate when it needs renewal or was not issued by
/// the project's CA.
/// </summary>
/// <remarks>
/// The credentials, the data key ring and the event key ring are the roots: everything else is derived from them, a
/// lost data key ring makes every stored message unreadable and a lost event key ring every published event (to a
/// consumer that reads the Secret again). All three carry <see cref="ProtectedSecretFinalizer"/>, so deleting one leaves it in place
/// (Terminating, still mounted and read) with a Warning Event, until the project itself is deleted. Everything
/// derived (serving certificate, API-key Secrets, connection and policy Secrets) is re-created consistently instead.
/// </remarks>
internal sealed class GeneratedSecrets(
    IKubernetes client, OwnSecrets secrets, OperatorOptions options, EventRecorder events, KeyRingRotation rotation, TimeProvider time)
{
    /// <summary>The credentials Secret: passwords, the API key hash secret and the project CA, generated once.</summary>
    public async Task<V1Secret> EnsureCredentialsAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        var name = Credentials(project.Metadata.Name);
        var existing = await secrets.ReadAsync(project.Metadata.NamespaceProperty, name, cancellationToken);
        if (existing is not null)
        {
            return await ProtectAsync(project, existing, "the project's CA and passwords", cancellationToken);
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
        secret.Metadata.Finalizers = [ProtectedSecretFinalizer];
        return await secrets.CreateOnceAsync(secret, FieldManager, cancellationToken);
    }

    /// <summary>
    /// The event key (a key ring of its own, separate from the data keys) that seals published audit events, generated
    /// once; consumers of the event stream read the same Secret (<c>&lt;project&gt;-events-key</c>) to open them. A raised
    /// <c>spec.events.keyRotation</c> rotates it in two phases (<see cref="KeyRingRotation"/>): consumers get the new key
    /// before any event is sealed with it. Returns when a pending key becomes active (null: none pending).
    /// </summary>
    public async Task<DateTimeOffset?> EnsureEventsKeyAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        var name = DesiredState.EventsKeySecretName(project.Metadata.Name);
        var wanted = project.Spec.Events?.KeyRotation ?? 0;
        var existing = await secrets.ReadAsync(project.Metadata.NamespaceProperty, name, cancellationToken);
        if (existing is not null)
        {
            existing = await ProtectAsync(project, existing, "the keys every published event is sealed with", cancellationToken);
            return await rotation.AdvanceAsync(project, existing, wanted, KeyRingFormats.EventKeys(time), cancellationToken);
        }

        var secret = DesiredState.EventsKeySecret(project, DialogueDb.Service.Audit.EventKeyRing.New(time).ToJson());
        secret.Metadata.Annotations = new Dictionary<string, string> { [RotationAnnotation] = Invariant(wanted) };
        secret.Metadata.Finalizers = [ProtectedSecretFinalizer];
        await secrets.CreateOnceAsync(secret, FieldManager, cancellationToken);
        return null;
    }

    /// <summary>
    /// The key ring: the customer's, or one generated once. A raised rotation counter starts a two-phase rotation
    /// (<see cref="KeyRingRotation"/>): the new key is added decrypt-only, and becomes active
    /// <see cref="OperatorOptions.EncryptionKeyActivationSeconds"/> later, when every replica has read it (a replica
    /// never meets a ciphertext under a key it does not have yet).
    /// </summary>
    public async Task<EncryptionKeys> EnsureEncryptionAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        if (project.Spec.Encryption?.KeySecretRef is { } byo)
        {
            return new EncryptionKeys(new SecretValue(byo.Name!, byo.Key ?? "keys.json"), null);
        }

        var ns = project.Metadata.NamespaceProperty;
        var name = Encryption(project.Metadata.Name);
        var result = new EncryptionKeys(new SecretValue(name, KeyRingFormats.DataKeys.File), null);
        var wanted = project.Spec.Encryption?.Rotation ?? 0;
        var existing = await secrets.ReadAsync(ns, name, cancellationToken);
        if (existing is null)
        {
            var ring = new Dictionary<string, byte[]> { [KeyRingFormats.DataKeys.File] = Utf8(EncryptionKeyRing.NewRing().ToJson()) };
            var secret = DesiredState.Secret(project, name, "encryption", ring);
            secret.Metadata.Annotations = new Dictionary<string, string> { [RotationAnnotation] = Invariant(wanted) };
            secret.Metadata.Finalizers = [ProtectedSecretFinalizer];
            await secrets.CreateOnceAsync(secret, FieldManager, cancellationToken);
            return result;
        }

        existing = await ProtectAsync(project, existing, "the keys every stored message is encrypted with", cancellationToken);
        return result with { ActivatesAt = await rotation.AdvanceAsync(
            project, existing, wanted, KeyRingFormats.DataKeys, cancellationToken) };
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
        var existing = await secrets.ReadAsync(ns, name, cancellationToken);
        var current = existing?.Data?.TryGetValue("tls.crt", out var crt) == true ? Encoding.UTF8.GetString(crt) : null;
        // A certificate from another CA (the credentials were re-created by hand) fails every client's verification.
        if (existing is null || Text(existing, "ca.crt") != caCertificate || TlsIssuer.NeedsRenewal(current, dnsNames, time.GetUtcNow()))
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
                await secrets.CreateOnceAsync(secret, FieldManager, cancellationToken);
            }
            else
            {
                secret.Metadata.ResourceVersion = existing.Metadata.ResourceVersion;
                await secrets.ReplaceAsync(secret, cancellationToken);
            }
        }

        return new TlsMaterial(name, caCertificate);
    }

    /// <summary>Releases the protection of a project's generated Secrets once the project is gone (so they can be deleted).</summary>
    public async Task ReleaseAsync(string ns, string projectName, CancellationToken cancellationToken)
    {
        var listed = await client.CoreV1.ListNamespacedSecretAsync(ns, labelSelector: $"{ProjectLabel}={projectName}",
            cancellationToken: cancellationToken);
        foreach (var secret in listed.Items.Where(s => s.Metadata.Finalizers?.Contains(ProtectedSecretFinalizer) == true))
        {
            await SetFinalizersAsync(
                secret, secret.Metadata.Finalizers.Where(f => f != ProtectedSecretFinalizer).ToList(), cancellationToken);
        }
    }

    /// <summary>Makes sure a root Secret carries the protection; a deletion someone asked for is refused with an Event.</summary>
    private async Task<V1Secret> ProtectAsync(DialogueProject project, V1Secret secret, string holds, CancellationToken cancellationToken)
    {
        if (secret.Metadata.DeletionTimestamp is not null)
        {
            await events.RecordAsync(project, "Warning", "ProtectedSecret",
                $"Secret {secret.Metadata.Name} holds {holds}; it stays until the project is deleted.", cancellationToken);
            return secret;
        }

        if (secret.Metadata.Finalizers?.Contains(ProtectedSecretFinalizer) == true)
        {
            return secret;
        }

        return await SetFinalizersAsync(secret, [.. secret.Metadata.Finalizers ?? [], ProtectedSecretFinalizer], cancellationToken);
    }

    private async Task<V1Secret> SetFinalizersAsync(V1Secret secret, List<string> finalizers, CancellationToken cancellationToken)
    {
        var patch = new { metadata = new { resourceVersion = secret.Metadata.ResourceVersion, finalizers } };
        return await secrets.MergePatchAsync(
            secret.Metadata.NamespaceProperty, secret.Metadata.Name, patch, FieldManager, cancellationToken);
    }
}
