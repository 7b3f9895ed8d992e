using System.Globalization;
using System.Text;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Resources;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using k8s;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;
using static DialogueDb.Operator.Reconciliation.SecretData;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// One Secret per API key with the key, the endpoint and the CA certificate, for applications to mount. A key is
/// generated once; raising its rotation counter issues a new one and keeps the previous one valid for the grace
/// period. Secrets of keys removed from the spec are deleted, which revokes them.
/// </summary>
internal sealed class ApiKeyIssuer(OwnSecrets secrets, EventRecorder events, TimeProvider time)
{
    public async Task<IReadOnlyList<IssuedKey>> EnsureAsync(
        DialogueProject project, ApiKeyHasher hasher, string endpoint, string caCertificate, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var issued = new List<IssuedKey>();
        foreach (var spec in project.Spec.ApiKeys ?? [])
        {
            var secret = await EnsureKeyAsync(project, spec, hasher, endpoint, caCertificate, now, cancellationToken);
            DateTimeOffset? previousUntil = secret.Data.TryGetValue("previous-valid-until", out var until)
                ? DateTimeOffset.Parse(Encoding.UTF8.GetString(until), CultureInfo.InvariantCulture)
                : null;
            issued.Add(new IssuedKey(
                spec.Name!, spec.Scope ?? ApiKeyRecord.ReadWrite, spec.Rotation ?? 0,
                Text(secret, "key-id"), hasher.Hash(Text(secret, "api-key")),
                secret.Data.TryGetValue("issued-at", out var at) ? IssuedAt(at) : null,
                secret.Data.TryGetValue("previous-key-id", out var pid) ? Encoding.UTF8.GetString(pid) : null,
                secret.Data.TryGetValue("previous-key-hash", out var ph) ? Encoding.UTF8.GetString(ph) : null,
                previousUntil > now ? previousUntil : null));
        }

        await RevokeRemovedAsync(project, cancellationToken);
        return issued;
    }

    private async Task<V1Secret> EnsureKeyAsync(
        DialogueProject project, ApiKeySpec spec, ApiKeyHasher hasher, string endpoint, string caCertificate, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var ns = project.Metadata.NamespaceProperty;
        var keyName = spec.Name!;
        var rotation = spec.Rotation ?? 0;
        var secretName = ApiKey(project.Metadata.Name, keyName);
        var existing = await secrets.ReadAsync(ns, secretName, cancellationToken);
        if (existing is not null && Rotation(existing) >= rotation)
        {
            if (Text(existing, "endpoint") == endpoint && Text(existing, "ca.crt") == caCertificate)
            {
                return existing;
            }

            existing.Data["endpoint"] = Utf8(endpoint);
            existing.Data["ca.crt"] = Utf8(caCertificate);
            return await secrets.ReplaceAsync(existing, cancellationToken);
        }

        var grace = TimeSpan.FromSeconds(project.Spec.ApiKeyGracePeriodSeconds ?? 86400);
        var (keyId, key) = ApiKeyHasher.NewKey();
        var secret = existing ?? DesiredState.Secret(project, secretName, "api-key", []);
        secret.Metadata.Labels ??= new Dictionary<string, string>();
        secret.Metadata.Labels[KeyNameLabel] = keyName;
        secret.Metadata.Annotations ??= new Dictionary<string, string>();
        var data = new Dictionary<string, byte[]>
        {
            ["api-key"] = Utf8(key),
            ["key-id"] = Utf8(keyId),
            ["endpoint"] = Utf8(endpoint),
            ["ca.crt"] = Utf8(caCertificate),
            ["issued-at"] = Timestamp(now),
        };
        if (existing is not null)
        {
            data["previous-key-id"] = existing.Data["key-id"];
            data["previous-key-hash"] = Utf8(hasher.Hash(Text(existing, "api-key")));
            data["previous-valid-until"] = Timestamp(now + grace);
        }

        secret.Data = data;
        secret.Metadata.Annotations[RotationAnnotation] = Invariant(rotation);
        if (existing is null)
        {
            secret = await secrets.CreateOnceAsync(secret, FieldManager, cancellationToken);
            await events.RecordAsync(project, "Normal", "ApiKeyIssued",
                $"API key '{keyName}' was issued into Secret {secretName}.", cancellationToken);
        }
        else
        {
            secret = await secrets.ReplaceAsync(secret, cancellationToken);
            await events.RecordAsync(project, "Normal", "ApiKeyRotated",
                $"API key '{keyName}' was rotated; the previous key stays valid for {grace.TotalSeconds:F0} s.", cancellationToken);
        }

        return secret;
    }

    /// <summary>Keys no longer in the spec: deleting their Secret drops them from the policy, which revokes them within seconds.</summary>
    private async Task RevokeRemovedAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        var ns = project.Metadata.NamespaceProperty;
        var wanted = (project.Spec.ApiKeys ?? []).Select(k => ApiKey(project.Metadata.Name, k.Name!)).ToHashSet(StringComparer.Ordinal);
        var labels = new Dictionary<string, string> { [ProjectLabel] = project.Metadata.Name, [ComponentLabel] = "api-key" };
        foreach (var stale in (await secrets.ListAsync(ns, labels, cancellationToken)).Where(s => !wanted.Contains(s.Metadata.Name)))
        {
            if (!await secrets.DeleteAsync(ns, stale.Metadata.Name, cancellationToken))
            {
                continue; // Already gone (the watched list was a moment behind): revoked before, and said so then.
            }

            await events.RecordAsync(project, "Normal", "ApiKeyRevoked",
                $"API key Secret {stale.Metadata.Name} was deleted; its key no longer works.", cancellationToken);
        }
    }

    private static DateTime IssuedAt(byte[] value) => DateTime.Parse(
        Encoding.UTF8.GetString(value), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
}
