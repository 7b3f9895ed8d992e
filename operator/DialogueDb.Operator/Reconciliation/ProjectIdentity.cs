namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// The names a project has outside Kubernetes: its project id (in the policy and audit events), its database and
/// roles on the shared PostgreSQL, and its ACL user and key prefix on the shared Redis.
/// </summary>
internal sealed record ProjectIdentity(
    string ProjectId, string Database, string OwnerRole, string ApiRole, string MaintenanceRole, string RedisUser, string RedisKeyPrefix)
{
    /// <summary>Whether the database and roles are the operator's to create and drop (false: the customer's own server).</summary>
    public bool ManagedDatabase { get; init; } = true;

    public bool ManagedRedis { get; init; } = true;

    public static ProjectIdentity For(string ns, string name) => Provisioning.ProjectNames.For(ns, name);
}
