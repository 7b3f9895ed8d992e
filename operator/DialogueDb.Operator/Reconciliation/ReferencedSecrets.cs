using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>The customer's Secrets a spec refers to, read once per reconcile; or the first one that is missing (or lacks a key).</summary>
internal sealed record ReferencedSecrets(string? Missing, IReadOnlyDictionary<string, V1Secret> ByName)
{
    public static async Task<ReferencedSecrets> ReadAsync(IKubernetes client, DialogueProject project, CancellationToken cancellationToken)
    {
        var read = new Dictionary<string, V1Secret>(StringComparer.Ordinal);
        foreach (var (reference, keys, what) in References(project.Spec))
        {
            if (!read.TryGetValue(reference.Name!, out var secret))
            {
                secret = await client.ReadSecretOrNullAsync(project.Metadata.NamespaceProperty, reference.Name!, cancellationToken);
                if (secret is null)
                {
                    return new($"{what}: Secret '{reference.Name}' does not exist.", read);
                }

                read[reference.Name!] = secret;
            }

            var absent = keys.FirstOrDefault(k => secret.Data?.ContainsKey(k) != true);
            if (absent is not null)
            {
                return new($"{what}: Secret '{reference.Name}' has no '{absent}' key.", read);
            }
        }

        return new(null, read);
    }

    private static IEnumerable<(SecretKeyReference Ref, string[] Keys, string What)> References(DialogueProjectSpec spec)
    {
        if (spec.Database?.SecretRef is { } database)
        {
            yield return (database, ["api", "owner", "maintenance"], "spec.database.secretRef");
        }

        if (spec.Redis?.SecretRef is { } redis)
        {
            yield return (redis, [redis.Key ?? "uri"], "spec.redis.secretRef");
        }

        if (spec.Encryption?.KeySecretRef is { } encryption)
        {
            yield return (encryption, [encryption.Key ?? "keys.json"], "spec.encryption.keySecretRef");
        }

        if (spec.Tls?.SecretRef is { } tls)
        {
            yield return (tls, ["tls.crt", "tls.key"], "spec.tls.secretRef");
        }

        if (spec.Summaries?.ApiKeySecretRef is { } summaryKey)
        {
            yield return (summaryKey, [summaryKey.Key ?? SummaryKey.DefaultKey], "spec.summaries.apiKeySecretRef");
        }
    }
}
