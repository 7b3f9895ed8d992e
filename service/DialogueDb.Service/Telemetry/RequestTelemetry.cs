using System.Diagnostics;
using DialogueDb.Service.Api;
using Microsoft.AspNetCore.Http.Features;

namespace DialogueDb.Service.Telemetry;

/// <summary>
/// Per-request telemetry beside ASP.NET Core's own: the status class (2xx…5xx) on the request-duration metric, the
/// request id on the server span (when tracing) and, with JSON logs, a log scope carrying it.
/// </summary>
internal static partial class RequestTelemetry
{
    public const string StatusClassTag = "http.response.status_class";

    private static readonly string[] StatusClasses = ["1xx", "1xx", "2xx", "3xx", "4xx", "5xx"];

    /// <summary>After <see cref="ApiPipeline.UseRequestIds"/>: the id is known.</summary>
    public static IApplicationBuilder UseRequestTelemetry(this IApplicationBuilder app, bool jsonLogs)
    {
        var tracing = app.ApplicationServices.GetRequiredService<TelemetryOptions>().Tracing;
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb.Api");
        return app.Use(async (context, next) =>
        {
            if (tracing && Activity.Current is { IsAllDataRequested: true } activity)
            {
                activity.SetTag(TelemetrySetup.RequestIdTag, context.TraceIdentifier);
            }

            if (jsonLogs)
            {
                using (logger.BeginScope(new RequestIdScope(context.TraceIdentifier)))
                {
                    await next(context);
                }
            }
            else
            {
                await next(context);
            }

            context.Features.Get<IHttpMetricsTagsFeature>()?.Tags.Add(
                new KeyValuePair<string, object?>(StatusClassTag, StatusClass(context.Response.StatusCode)));
        });
    }

    public static string StatusClass(int status) => StatusClasses[Math.Clamp(status / 100, 0, 5)];

    /// <summary>The log scope of one request: <c>{"requestId": "…"}</c>, the id of its answer's X-Request-Id header.</summary>
    private sealed class RequestIdScope(string requestId) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => 1;

        public KeyValuePair<string, object?> this[int index] => index == 0
            ? new KeyValuePair<string, object?>("requestId", requestId)
            : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return this[0];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => "requestId:" + requestId;
    }
}
