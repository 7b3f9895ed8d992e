using System.Text.Json;

namespace DialogueDb.Service.Api;

/// <summary>A non-2xx answer in the contract's envelope (§3). Expected outcomes are results like this, never exceptions.</summary>
internal sealed class ApiError(int status, string code, string type, string message, IReadOnlyList<FieldError>? details = null)
    : IResult
{
    public int Status { get; } = status;

    public string Code { get; } = code;

    public string Message { get; } = message;

    public IReadOnlyList<FieldError> Details { get; } = details ?? [];

    /// <summary>Seconds for a Retry-After header (429, 503).</summary>
    public int? RetryAfterSeconds { get; init; }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = Status;
        response.ContentType = "application/json; charset=utf-8";
        if (RetryAfterSeconds is { } seconds)
        {
            response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (Code == "PLAN_LIMIT_EXCEEDED" && Details.Count > 0)
        {
            httpContext.RequestServices.GetService<Telemetry.ServiceMetrics>()?.PlanLimitExceeded(Details[0].Field);
        }

        var time = httpContext.RequestServices.GetService<TimeProvider>() ?? TimeProvider.System;
        await using var writer = new Utf8JsonWriter(response.BodyWriter, ApiJson.WriterOptions);
        Write(writer, httpContext.TraceIdentifier, time.GetUtcNow());
        await writer.FlushAsync(httpContext.RequestAborted);
    }

    /// <summary>The envelope itself (also written where there is no HttpContext: Kestrel's own rejections).</summary>
    public void Write(Utf8JsonWriter writer, string requestId, DateTimeOffset now)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("error");
        writer.WriteString("code", Code);
        writer.WriteString("message", Message);
        writer.WriteString("type", type);
        if (Details.Count > 0)
        {
            writer.WriteStartArray("details");
            foreach (var detail in Details)
            {
                writer.WriteStartObject();
                writer.WriteString("field", detail.Field);
                writer.WriteString("code", detail.Code);
                writer.WriteString("message", detail.Message);
                if (detail.Limit is { } limit)
                {
                    writer.WriteNumber("limit", limit);
                }

                if (detail.Used is { } used)
                {
                    writer.WriteNumber("used", used);
                }

                writer.WriteOptional("period", detail.Period);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        writer.WriteString("requestId", requestId);
        writer.WriteString("timestamp", Timestamps.Format(now));
        writer.WriteEndObject();
        writer.WriteEndObject();
    }
}
