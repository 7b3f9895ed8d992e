using DialogueDb.Service.Api;

namespace DialogueDb.Service.Security;

/// <summary>
/// Turns <see cref="UnknownDataKeyException"/> into the contract's 503 SERVICE_UNAVAILABLE (with Retry-After) and one
/// log line naming the key id; any other failure goes on to the generic error handler.
/// </summary>
internal static partial class UnknownDataKeyAnswers
{
    public static IApplicationBuilder UseUnknownDataKeyAnswers(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (UnknownDataKeyException ex) when (!context.Response.HasStarted)
        {
            var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb.Security");
            LogUnknownKey(logger, ex.KeyId, context.Request.Method, context.GetEndpoint()?.DisplayName ?? "unmatched");
            await ApiErrors.Unavailable(
                "Stored content is encrypted under a data key this replica has not loaded yet (a key rotation is in progress); retry shortly")
                .ExecuteAsync(context);
        }
    });

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Data key {KeyId} is not in this replica's key ring, even after re-reading it; answered 503 to {Method} {Endpoint}")]
    private static partial void LogUnknownKey(ILogger logger, uint keyId, string method, string endpoint);
}
