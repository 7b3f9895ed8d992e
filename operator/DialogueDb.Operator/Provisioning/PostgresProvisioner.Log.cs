using Microsoft.Extensions.Logging;

namespace DialogueDb.Operator.Provisioning;

internal sealed partial class PostgresProvisioner
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Created PostgreSQL role {Role}")]
    private static partial void LogRoleCreated(ILogger logger, string role);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created PostgreSQL database {Database} owned by {Owner}")]
    private static partial void LogDatabaseCreated(ILogger logger, string database, string owner);

    [LoggerMessage(Level = LogLevel.Information, Message = "Dropped PostgreSQL database {Database}")]
    private static partial void LogDatabaseDropped(ILogger logger, string database);

    [LoggerMessage(Level = LogLevel.Information, Message = "Dropped PostgreSQL role {Role}")]
    private static partial void LogRoleDropped(ILogger logger, string role);
}
