using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Features;

namespace DialogueDb.Service.Api;

/// <summary>The cross-cutting parts every answer gets: request ids, HTTPS only, the error envelope for everything.</summary>
internal static partial class ApiPipeline
{
    public const string RequestIdHeader = "X-Request-Id";

    /// <summary>Every response carries a fresh UUID request id, repeated in error bodies and dialogue payloads.</summary>
    public static IApplicationBuilder UseRequestIds(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var id = RequestIds.New();
        context.TraceIdentifier = id;
        context.Response.Headers[RequestIdHeader] = id;
        return next(context);
    });

    /// <summary>
    /// A HEAD answer has headers only. Kestrel drops the body of HEAD over HTTP/1.1 but sends it over HTTP/2 (a DATA frame
    /// the client rejects as a protocol error), so every body written for HEAD goes nowhere.
    /// </summary>
    public static IApplicationBuilder UseBodylessHead(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (HttpMethods.IsHead(context.Request.Method))
        {
            var original = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
            context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(Stream.Null, original));
        }

        return next(context);
    });

    /// <summary>A plain-HTTP listener (probes, metrics) never serves API data (§1).</summary>
    public static IApplicationBuilder UseHttpsOnlyApi(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (!context.Request.IsHttps && !context.Request.Path.StartsWithSegments("/healthz"))
        {
            await ApiErrors.HttpsRequired().ExecuteAsync(context);
            return;
        }

        await next(context);
    });

    /// <summary>Unhandled failures become 500 INTERNAL_ERROR (or 413/400 for Kestrel's own request errors), never a stack trace.</summary>
    public static IApplicationBuilder UseApiErrors(this IApplicationBuilder app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = _ => StatusCodes.Status500InternalServerError,
            ExceptionHandler = async context =>
            {
                var exception = context.Features.Get<IExceptionHandlerFeature>()?.Error;
                var error = exception switch
                {
                    BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => ApiErrors.PayloadTooLarge("Request body"),
                    BadHttpRequestException bad => ApiErrors.BadRequestFraming(bad.StatusCode),
                    // Kestrel's chunked-body parser reports a chunk size that overflows as an IOException.
                    IOException { InnerException: OverflowException } => ApiErrors.BadRequestFraming(StatusCodes.Status400BadRequest),
                    _ => ApiErrors.Internal(),
                };
                // The exception handler cleared the response, with the request id UseRequestIds had put on it.
                context.Response.Headers[RequestIdHeader] = context.TraceIdentifier;
                if (error.Status >= 500)
                {
                    var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb.Api");
                    LogUnhandled(logger, context.Request.Method, context.GetEndpoint()?.DisplayName ?? "unmatched",
                        context.TraceIdentifier, exception?.GetType().FullName ?? "unknown", exception);
                }

                await error.ExecuteAsync(context);
            },
        });

        // Routing's own answers (404 unknown route, 405 wrong method) and any other body-less error get the envelope.
        app.UseStatusCodePages(async status =>
        {
            var context = status.HttpContext;
            ApiError error = context.Response.StatusCode switch
            {
                StatusCodes.Status404NotFound => ApiErrors.RouteNotFound(context.Request.Path),
                StatusCodes.Status405MethodNotAllowed => ApiErrors.MethodNotAllowed(context.Request.Method),
                StatusCodes.Status413PayloadTooLarge => ApiErrors.PayloadTooLarge("Request body"),
                StatusCodes.Status401Unauthorized => ApiErrors.Unauthorized(),
                StatusCodes.Status403Forbidden => ApiErrors.Forbidden(),
                >= 500 => ApiErrors.Internal(),
                var code => ApiErrors.BadRequestFraming(code),
            };
            await error.ExecuteAsync(context);
        });
        return app;
    }

    // The exception itself is logged for operators; its message never reaches the client. Exception messages from
    // EF Core/Npgsql name SQL and constraint names, not parameter values (sensitive data logging stays off).
    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error on {Method} {Endpoint} (request {RequestId}): {ExceptionType}")]
    private static partial void LogUnhandled(ILogger logger, string method, string endpoint, string requestId, string exceptionType,
        Exception? exception);
}
