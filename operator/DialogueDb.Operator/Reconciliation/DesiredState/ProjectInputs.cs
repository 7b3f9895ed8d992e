using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Resources;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>Everything the desired objects depend on besides the project itself, resolved by the reconciler.</summary>
internal sealed record ProjectInputs
{
    public required DialogueProject Project { get; init; }
    public required OperatorOptions Options { get; init; }
    public required int Replicas { get; init; }
    public required string Image { get; init; }

    /// <summary>The API role's connection (subject to row-level security).</summary>
    public required SecretValue ApiDatabase { get; init; }

    /// <summary>The owner role's connection, used only by the migration step.</summary>
    public required SecretValue OwnerDatabase { get; init; }

    /// <summary>The maintenance role's connection (sees all namespaces), for the audit relay and retention.</summary>
    public required SecretValue MaintenanceDatabase { get; init; }

    public required string ApiRole { get; init; }
    public required string MaintenanceRole { get; init; }
    public required SecretValue Redis { get; init; }
    public required string RedisKeyPrefix { get; init; }
    public required SecretValue EncryptionKeys { get; init; }
    public required SecretValue ApiKeyHashSecret { get; init; }
    public required string TlsSecretName { get; init; }

    /// <summary>The project policy document (plan numbers and API key hashes) the pods watch.</summary>
    public required string PolicyJson { get; init; }

    /// <summary>Hash of what the pods read only at start (connection Secrets' versions); a change rolls the pods.</summary>
    public required string ConfigHash { get; init; }
}
