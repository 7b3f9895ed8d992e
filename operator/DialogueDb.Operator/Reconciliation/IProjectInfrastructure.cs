using DialogueDb.Operator.Provisioning;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>A project's database, roles and Redis user on the operator's shared servers.</summary>
internal interface IProjectInfrastructure
{
    bool ManagesPostgres { get; }

    bool ManagesRedis { get; }

    /// <summary>Connection string for a project role on the shared PostgreSQL.</summary>
    string PostgresConnection(string database, string role, string password);

    /// <summary>StackExchange.Redis configuration for the project's ACL user on the shared Redis.</summary>
    string RedisConnection(string user, string password);

    /// <summary>
    /// Creates or converges the project's database and roles (when <paramref name="database"/>) and ACL user (when
    /// <paramref name="redis"/>). Idempotent.
    /// </summary>
    Task EnsureAsync(ProjectIdentity names, ProjectPasswords passwords, bool database, bool redis, CancellationToken cancellationToken);

    /// <summary>Drops the database, roles, ACL user and Redis keys the operator made (deletionPolicy Delete). Idempotent.</summary>
    Task DropAsync(ProjectIdentity names, bool database, bool redis, CancellationToken cancellationToken);

    /// <summary>
    /// The plan usage documents the projects' pods published on the shared Redis (<c>ddb:{project}:usage</c>), in the
    /// order of <paramref name="projects"/>; null where none is. One round trip for all.
    /// </summary>
    Task<IReadOnlyList<string?>> ReadPublishedUsageAsync(IReadOnlyList<ProjectIdentity> projects, CancellationToken cancellationToken);

    /// <summary>What <see cref="DropAsync"/> would still remove, for people to read (e.g. "database ddb_…", "Redis user …").</summary>
    Task<IReadOnlyList<string>> RemainingAsync(ProjectIdentity names, bool database, bool redis, CancellationToken cancellationToken);
}

/// <summary>Passwords of the project's roles, generated once into its credentials Secret.</summary>
internal sealed record ProjectPasswords(string Owner, string Api, string Maintenance, string Redis);
