using DialogueDb.Service.Api;
using DialogueDb.Service.Telemetry;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace DialogueDb.Service.Storage;

/// <summary>
/// A database failure that says nothing about the request and passes by itself: a deadlock or serialization failure
/// (PostgreSQL rolled the whole transaction back), a lock that was not available, the server shutting the connection
/// down, a broken connection, SQLite still busy after its timeout. The request answers the contract's 503
/// SERVICE_UNAVAILABLE with Retry-After (after a deadlock, serialization failure or unavailable lock nothing of it was
/// committed and it can simply be sent again; after a connection that broke during the commit the outcome is unknown,
/// so the message does not claim either), is logged
/// in one line without a stack trace, and counted. Anything else goes on to the generic 500 handler.
/// </summary>
internal static partial class TransientDatabaseFailures
{
    /// <summary>SQLSTATEs after which the transaction was rolled back and the same request can succeed.</summary>
    private static readonly HashSet<string> TransientStates = new(StringComparer.Ordinal)
    {
        PostgresErrorCodes.DeadlockDetected, // 40P01
        PostgresErrorCodes.SerializationFailure, // 40001
        PostgresErrorCodes.LockNotAvailable, // 55P03
        PostgresErrorCodes.AdminShutdown, // 57P01
        PostgresErrorCodes.CrashShutdown, // 57P02
        PostgresErrorCodes.CannotConnectNow, // 57P03
        PostgresErrorCodes.TooManyConnections, // 53300
    };

    /// <summary>The label a transient failure is counted under (its SQLSTATE, "connection" or "sqlite_busy"); null for any other.</summary>
    public static string? Classify(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException postgres:
                    return TransientStates.Contains(postgres.SqlState) || postgres.SqlState.StartsWith("08", StringComparison.Ordinal)
                        ? postgres.SqlState
                        : null;
                case NpgsqlException { IsTransient: true }:
                    // No answer from the server at all: the connection broke or timed out.
                    return "connection";
                case SqliteException { SqliteErrorCode: 5 or 6 }:
                    return "sqlite_busy";
            }
        }

        return null;
    }

    /// <summary>Request middleware: a transient database failure of anything after it answers 503 instead of 500.</summary>
    public static IApplicationBuilder UseTransientDatabaseFailureAnswers(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (Exception ex) when (!context.Response.HasStarted && Classify(ex) is { } reason)
        {
            var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb.Storage");
            LogTransient(logger, context.Request.Method, context.GetEndpoint()?.DisplayName ?? "unmatched", context.TraceIdentifier,
                reason, ex.GetType().FullName ?? "unknown");
            context.RequestServices.GetService<ServiceMetrics>()?.DatabaseTransientFailure(reason);
            await ApiErrors.Unavailable("The database could not complete the request this time; retry shortly")
                .ExecuteAsync(context);
        }
    });

    // Without the exception: its stack trace says nothing an operator can act on; the SQLSTATE says what happened.
    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Transient database failure on {Method} {Endpoint} (request {RequestId}): {Reason} ({ExceptionType}); answered 503")]
    private static partial void LogTransient(ILogger logger, string method, string endpoint, string requestId, string reason,
        string exceptionType);
}
