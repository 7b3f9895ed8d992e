using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;

namespace DialogueDb.Operator.Tests.Reconciliation;

/// <summary>The inputs of a project "support" in "tenant-a" for the pure desired-state tests.</summary>
internal static class DesiredInputs
{
    public static ProjectInputs For(Action<DialogueProjectSpec>? spec = null, int replicas = 1, OperatorOptions? options = null)
    {
        var project = new DialogueProject { Spec = new DialogueProjectSpec() };
        project.Metadata.Name = "support";
        project.Metadata.NamespaceProperty = "tenant-a";
        project.Metadata.Uid = "uid-1";
        spec?.Invoke(project.Spec);
        return new ProjectInputs
        {
            Project = project,
            Options = options ?? new OperatorOptions
            {
                Postgres = new SharedPostgres { Host = "pg", AdminConnectionFile = "/x", Peers = [new NetworkPeer { Cidr = "10.0.0.5/32" }] },
                Redis = new SharedRedis { Host = "redis", AdminConnectionFile = "/y" },
            },
            Replicas = replicas,
            Image = "registry/dialoguedb:1.0",
            ApiDatabase = new SecretValue("support-connection", "postgres-api"),
            OwnerDatabase = new SecretValue("support-connection", "postgres-owner"),
            MaintenanceDatabase = new SecretValue("support-connection", "postgres-maintenance"),
            ApiRole = "api_role",
            MaintenanceRole = "maint_role",
            Redis = new SecretValue("support-connection", "redis"),
            RedisKeyPrefix = "ddb:{tenant-a/support}:",
            EncryptionKeys = new SecretValue("support-encryption", "keys.json"),
            ApiKeyHashSecret = new SecretValue("support-credentials", "api-key-hash-secret"),
            TlsSecretName = "support-tls",
            PolicyJson = "{}",
            ConfigHash = "abc",
        };
    }
}
