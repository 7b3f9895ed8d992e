using System.Text;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Resources;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;
using static DialogueDb.Operator.Reconciliation.SecretData;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>Where the pods' connection strings come from, the roles they log in as, and a hash that changes with any of them.</summary>
internal sealed record Connections(
    SecretValue Api, SecretValue Owner, SecretValue Maintenance, SecretValue Redis, string ApiRole, string MaintenanceRole, string Hash);

/// <summary>
/// The connections step: the customer's Secrets, or a connection Secret the operator derives from the generated
/// passwords and provisions the database and Redis user for.
/// </summary>
internal sealed class ProjectConnections(
    OperatorOptions options, IProjectInfrastructure infrastructure, ChildCache children, ObjectApplier applier, TimeProvider time,
    OperatorMetrics? metrics = null)
{
    private readonly Dictionary<string, (string Version, DateTimeOffset At)> _provisioned = [];

    public async Task<Connections> EnsureAsync(
        DialogueProject project, ProjectIdentity identity, ProjectPasswords passwords, V1Secret credentials,
        ReferencedSecrets referenced, CancellationToken cancellationToken)
    {
        var ns = project.Metadata.NamespaceProperty;
        var connectionName = Connection(project.Metadata.Name);
        var data = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        SecretValue api, owner, maintenance, redis;
        string apiRole, maintenanceRole;
        var hashInput = new StringBuilder();

        if (project.Spec.Database?.SecretRef is { } byoDatabase)
        {
            var secret = referenced.ByName[byoDatabase.Name!];
            api = new SecretValue(byoDatabase.Name!, "api");
            owner = new SecretValue(byoDatabase.Name!, "owner");
            maintenance = new SecretValue(byoDatabase.Name!, "maintenance");
            apiRole = RoleOf(secret, "api", byoDatabase.Name!);
            maintenanceRole = RoleOf(secret, "maintenance", byoDatabase.Name!);
            hashInput.Append(Text(secret, "api")).Append('\n').Append(Text(secret, "owner")).Append('\n')
                .Append(Text(secret, "maintenance")).Append('\n');
        }
        else
        {
            data["postgres-api"] = Utf8(infrastructure.PostgresConnection(identity.Database, identity.ApiRole, passwords.Api));
            data["postgres-owner"] = Utf8(infrastructure.PostgresConnection(identity.Database, identity.OwnerRole, passwords.Owner));
            data["postgres-maintenance"] = Utf8(
                infrastructure.PostgresConnection(identity.Database, identity.MaintenanceRole, passwords.Maintenance));
            api = new SecretValue(connectionName, "postgres-api");
            owner = new SecretValue(connectionName, "postgres-owner");
            maintenance = new SecretValue(connectionName, "postgres-maintenance");
            apiRole = identity.ApiRole;
            maintenanceRole = identity.MaintenanceRole;
        }

        if (project.Spec.Redis?.SecretRef is { } byoRedis)
        {
            var secret = referenced.ByName[byoRedis.Name!];
            redis = new SecretValue(byoRedis.Name!, byoRedis.Key ?? "uri");
            hashInput.Append(Text(secret, redis.Key)).Append('\n');
        }
        else
        {
            data["redis"] = Utf8(infrastructure.RedisConnection(identity.RedisUser, passwords.Redis));
            redis = new SecretValue(connectionName, "redis");
        }

        foreach (var (key, value) in data)
        {
            hashInput.Append(key).Append('=').Append(Encoding.UTF8.GetString(value)).Append('\n');
        }

        var hash = ObjectApplier.Hash(hashInput.ToString());
        var connections = new Connections(api, owner, maintenance, redis, apiRole, maintenanceRole, hash);
        if (data.Count > 0)
        {
            var secret = DesiredState.Secret(project, connectionName, "credentials", new Dictionary<string, byte[]>(data));
            await applier.ApplyAsync(secret, children.Get("Secret", ns, connectionName), cancellationToken);
            await ProvisionAsync(project, identity, passwords, credentials, cancellationToken);
        }

        return connections;
    }

    /// <summary>Forgets that a project was provisioned (after its database and user were dropped).</summary>
    public void Forget(ProjectIdentity identity)
    {
        lock (_provisioned)
        {
            _provisioned.Remove(identity.ProjectId);
        }
    }

    /// <summary>
    /// Provisioning talks to the shared servers; once it worked for this version of the credentials it is repeated
    /// only about once per resync period, which is still needed: Redis does not persist ACL users across a restart
    /// unless it is configured to, and a dropped role must come back.
    /// </summary>
    private async Task ProvisionAsync(
        DialogueProject project, ProjectIdentity identity, ProjectPasswords passwords, V1Secret credentials,
        CancellationToken cancellationToken)
    {
        var version = credentials.Metadata.ResourceVersion + "/" + identity.ProjectId;
        var now = time.GetUtcNow();
        lock (_provisioned)
        {
            if (_provisioned.TryGetValue(identity.ProjectId, out var done) && done.Version == version
                && now - done.At < TimeSpan.FromSeconds(options.ResyncSeconds * 0.9))
            {
                return;
            }
        }

        await OperatorMetrics.ProvisionAsync(metrics, "ensure", () => infrastructure.EnsureAsync(
            identity, passwords, project.Spec.Database?.SecretRef is null, project.Spec.Redis?.SecretRef is null, cancellationToken));
        lock (_provisioned)
        {
            _provisioned[identity.ProjectId] = (version, now);
        }
    }

    /// <summary>The role of a customer's connection string; a malformed one is named, never echoed (it holds a password).</summary>
    private static string RoleOf(V1Secret secret, string key, string secretName)
    {
        try
        {
            return new Npgsql.NpgsqlConnectionStringBuilder(Text(secret, key)).Username
                ?? throw new InvalidOperationException(
                    $"spec.database.secretRef: the '{key}' connection string in Secret '{secretName}' names no user.");
        }
        catch (ArgumentException)
        {
            throw new InvalidOperationException(
                $"spec.database.secretRef: the '{key}' connection string in Secret '{secretName}' is malformed.");
        }
    }
}
