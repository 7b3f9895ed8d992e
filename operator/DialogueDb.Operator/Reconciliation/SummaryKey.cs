using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Resources;
using DialogueDb.Service.Policy;
using k8s.Models;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// <c>spec.summaries</c> in the project's objects: the settings go into the policy document (never the key); the key
/// Secret is mounted into the API pods as a file the service reads per job; and the NetworkPolicy lets the pods reach
/// the LLM endpoint (the operator's <c>summaryEndpointPeers</c>, on the port of <c>baseUrl</c>) only when a provider needs it.
/// </summary>
internal static class SummaryKey
{
    /// <summary>The key in the Secret when <c>apiKeySecretRef.key</c> is absent.</summary>
    public const string DefaultKey = "api-key";

    private const string VolumeName = "summary-key";
    private const string FileName = "api-key";
    private const string MountDir = DesiredState.SecretsDir + "/summaries";

    /// <summary>The policy's <c>summaries</c> section, or null when the spec has none.</summary>
    public static SummarySettings? Settings(SummariesSpec? spec) => spec is null
        ? null
        : new SummarySettings
        {
            Provider = spec.Provider ?? SummarySettings.Extractive,
            Model = spec.Model,
            BaseUrl = spec.BaseUrl,
            ContextTokens = spec.ContextTokens ?? SummarySettings.Default.ContextTokens,
            MaxSummaryCharacters = spec.MaxSummaryCharacters ?? SummarySettings.Default.MaxSummaryCharacters,
            Templates = spec.Templates is null ? null : new Dictionary<string, string>(spec.Templates, StringComparer.Ordinal),
        };

    /// <summary>Mounts the key Secret into the API container and points the service at it (no-op without a key).</summary>
    public static void AddTo(V1PodSpec pod, DialogueProjectSpec spec)
    {
        if (spec.Summaries?.ApiKeySecretRef is not { } reference)
        {
            return;
        }

        pod.Volumes.Add(new V1Volume
        {
            Name = VolumeName,
            Secret = new V1SecretVolumeSource
            {
                SecretName = reference.Name,
                Items = [new V1KeyToPath { Key = reference.Key ?? DefaultKey, Path = FileName }],
                DefaultMode = 0x100 /* 0400 */,
            },
        });
        var api = pod.Containers.Single(c => c.Name == "api");
        api.VolumeMounts.Add(new V1VolumeMount { Name = VolumeName, MountPath = MountDir, ReadOnlyProperty = true });
        api.Env.Add(new V1EnvVar { Name = "DIALOGUEDB_SUMMARY_API_KEY_FILE", Value = $"{MountDir}/{FileName}" });
    }

    /// <summary>Egress to the LLM endpoint when the project's provider calls one; null otherwise.</summary>
    public static V1NetworkPolicyEgressRule? Egress(DialogueProjectSpec spec, OperatorOptions options)
    {
        if (spec.Summaries is not { Provider: SummarySettings.OpenAiCompatible, BaseUrl: { } baseUrl }
            || !Uri.TryCreate(baseUrl, UriKind.Absolute, out var endpoint))
        {
            return null;
        }

        return new V1NetworkPolicyEgressRule
        {
            To = options.SummaryEndpointPeers.Count == 0 ? null : options.SummaryEndpointPeers.Select(DesiredState.Peer).ToList(),
            Ports = [new V1NetworkPolicyPort { Protocol = "TCP", Port = endpoint.Port }],
        };
    }
}
