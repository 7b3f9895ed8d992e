using System.Globalization;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Reconciliation;
using Npgsql;

namespace DialogueDb.Operator.Provisioning;

/// <summary>
/// The operator's shared PostgreSQL and Redis (from its configuration). Admin connections are read from their files
/// on every use, so a rotated admin Secret takes effect without a restart.
/// </summary>
internal sealed class SharedInfrastructure(OperatorOptions options, ILoggerFactory loggers) : IProjectInfrastructure
{
    public bool ManagesPostgres => options.Postgres is not null;

    public bool ManagesRedis => options.Redis is not null;

    public string PostgresConnection(string database, string role, string password)
    {
        var postgres = options.Postgres ?? throw new InvalidOperationException("No shared PostgreSQL is configured.");
        return new NpgsqlConnectionStringBuilder
        {
            Host = postgres.Host,
            Port = postgres.Port,
            Database = database,
            Username = role,
            Password = password,
            SslMode = Enum.Parse<SslMode>(postgres.SslMode),
        }.ConnectionString;
    }

    public string RedisConnection(string user, string password)
    {
        var redis = options.Redis ?? throw new InvalidOperationException("No shared Redis is configured.");
        return string.Create(CultureInfo.InvariantCulture,
            $"{redis.Host}:{redis.Port},user={user},password={password},ssl={(redis.Tls ? "true" : "false")},abortConnect=false");
    }

    public async Task EnsureAsync(
        ProjectIdentity names, ProjectPasswords passwords, bool database, bool redis, CancellationToken cancellationToken)
    {
        if (database)
        {
            var provisioner = new PostgresProvisioner(
                ReadAdmin(options.Postgres?.AdminConnectionFile, "PostgreSQL"), loggers.CreateLogger<PostgresProvisioner>());
            await provisioner.EnsureAsync(
                ProjectDatabase.For(names, passwords.Owner, passwords.Api, passwords.Maintenance), cancellationToken);
        }

        if (redis)
        {
            await using var provisioner = new RedisProvisioner(
                ReadAdmin(options.Redis?.AdminConnectionFile, "Redis"), loggers.CreateLogger<RedisProvisioner>());
            await provisioner.EnsureUserAsync(names.RedisUser, passwords.Redis, names.RedisKeyPrefix, cancellationToken);
        }
    }

    public async Task DropAsync(ProjectIdentity names, bool database, bool redis, CancellationToken cancellationToken)
    {
        if (database && options.Postgres is not null)
        {
            var provisioner = new PostgresProvisioner(
                ReadAdmin(options.Postgres.AdminConnectionFile, "PostgreSQL"), loggers.CreateLogger<PostgresProvisioner>());
            // Passwords are not needed to drop; the record only carries the names here.
            await provisioner.DropAsync(ProjectDatabase.For(names, "unused", "unused", "unused"), cancellationToken);
        }

        if (redis && options.Redis is not null)
        {
            await using var provisioner = new RedisProvisioner(
                ReadAdmin(options.Redis.AdminConnectionFile, "Redis"), loggers.CreateLogger<RedisProvisioner>());
            await provisioner.DropUserAsync(names.RedisUser, names.RedisKeyPrefix, cancellationToken);
        }
    }

    public async Task<IReadOnlyList<string>> RemainingAsync(
        ProjectIdentity names, bool database, bool redis, CancellationToken cancellationToken)
    {
        var left = new List<string>();
        if (database && options.Postgres is not null)
        {
            var provisioner = new PostgresProvisioner(
                ReadAdmin(options.Postgres.AdminConnectionFile, "PostgreSQL"), loggers.CreateLogger<PostgresProvisioner>());
            left.AddRange(await provisioner.RemainingAsync(ProjectDatabase.For(names, "unused", "unused", "unused"), cancellationToken));
        }

        if (redis && options.Redis is not null)
        {
            await using var provisioner = new RedisProvisioner(
                ReadAdmin(options.Redis.AdminConnectionFile, "Redis"), loggers.CreateLogger<RedisProvisioner>());
            left.AddRange(await provisioner.RemainingAsync(names.RedisUser, names.RedisKeyPrefix, cancellationToken));
        }

        return left;
    }

    public async Task<IReadOnlyList<string?>> ReadPublishedUsageAsync(
        IReadOnlyList<ProjectIdentity> projects, CancellationToken cancellationToken)
    {
        await using var provisioner = new RedisProvisioner(
            ReadAdmin(options.Redis?.AdminConnectionFile, "Redis"), loggers.CreateLogger<RedisProvisioner>());
        return await provisioner.ReadAsync([.. projects.Select(p => p.RedisKeyPrefix + Usage.PublishedUsage.KeySuffix)], cancellationToken);
    }

    private static string ReadAdmin(string? path, string what)
    {
        if (string.IsNullOrEmpty(path))
        {
            throw new InvalidOperationException($"No shared {what} is configured.");
        }

        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Cannot read the {what} admin connection file {path}.", ex);
        }
    }
}
