using System.Text.Json;

namespace DialogueDb.Service.Api;

/// <summary>One entry of <c>error.details</c>; plan limits also name the limit, the amount used and the period.</summary>
internal sealed record FieldError(string Field, string Code, string Message)
{
    public long? Limit { get; init; }

    public long? Used { get; init; }

    public string? Period { get; init; }
}

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

/// <summary>The contract's error codes (§3).</summary>
internal static class ApiErrors
{
    public const string MissingParameter = "MISSING_PARAMETER";
    public const string InvalidParameter = "INVALID_PARAMETER";

    public static ApiError Missing(string field) =>
        new(400, MissingParameter, "validation_error", $"{field} is required",
            [new FieldError(field, MissingParameter, $"{field} is required")]);

    public static ApiError Invalid(string field, string reason) =>
        new(400, InvalidParameter, "validation_error", $"Invalid {field}: {reason}",
            [new FieldError(field, InvalidParameter, reason)]);

    /// <summary>One failure keeps its own code; several become VALIDATION_ERROR listing all of them.</summary>
    public static ApiError Validation(IReadOnlyList<FieldError> errors)
    {
        if (errors.Count == 1)
        {
            var only = errors[0];
            var message = only.Code == MissingParameter ? only.Message : $"Invalid {only.Field}: {only.Message}";
            return new ApiError(400, only.Code, "validation_error", message, errors);
        }

        return new ApiError(400, "VALIDATION_ERROR", "validation_error",
            $"Validation failed for {errors.Count} fields", errors);
    }

    public static ApiError InvalidImage(string field) =>
        new(400, "INVALID_IMAGE_CONTENT", "validation_error",
            $"Invalid {field}: image source.data must be raw base64, not a data: URL",
            [new FieldError(field, "INVALID_IMAGE_CONTENT", "image source.data must be raw base64, not a data: URL")]);

    public static ApiError Unauthorized() =>
        new(401, "UNAUTHORIZED", "authentication_error", "A valid API key is required (Authorization: Bearer <key>)");

    public static ApiError TooManyFailedAuthentications(int retryAfterSeconds) =>
        new(429, "RATE_LIMIT_EXCEEDED", "rate_limit", "Too many failed authentications from this address; retry later")
        {
            RetryAfterSeconds = retryAfterSeconds,
        };

    public static ApiError Forbidden() =>
        new(403, "FORBIDDEN", "authorization_error", "This API key may not perform this operation");

    public static ApiError HttpsRequired() =>
        new(403, "HTTPS_REQUIRED", "authorization_error", "The API is served over HTTPS only");

    public static ApiError DialogueNotFound(string id) =>
        new(404, "DIALOGUE_NOT_FOUND", "not_found", $"Dialogue '{Truncate(id)}' not found", [new FieldError("id", "NOT_FOUND", "Dialogue not found")]);

    public static ApiError MessageNotFound(string id) =>
        new(404, "MESSAGE_NOT_FOUND", "not_found", $"Message '{Truncate(id)}' not found", [new FieldError("id", "NOT_FOUND", "Message not found")]);

    public static ApiError MemoryNotFound(string id) =>
        new(404, "MEMORY_NOT_FOUND", "not_found", $"Memory '{Truncate(id)}' not found", [new FieldError("id", "NOT_FOUND", "Memory not found")]);

    public static ApiError SummaryNotFound(string id) =>
        new(404, "SUMMARY_NOT_FOUND", "not_found", $"Summary '{Truncate(id)}' not found", [new FieldError("id", "NOT_FOUND", "Summary not found")]);

    public static ApiError RouteNotFound(string path) =>
        new(404, "NOT_FOUND", "not_found", $"Route '{Truncate(path)}' not found");

    public static ApiError MethodNotAllowed(string method) =>
        new(405, "METHOD_NOT_ALLOWED", "validation_error", $"Method {Truncate(method)} is not allowed on this route");

    public static ApiError DuplicateId(string id) =>
        new(409, "DUPLICATE_ID", "conflict", $"An item with id '{Truncate(id)}' already exists", [new FieldError("id", "DUPLICATE_ID", "id already exists")]);

    public static ApiError Immutable(string field) =>
        new(409, "IMMUTABLE_FIELD", "conflict", $"{field} cannot be changed after creation",
            [new FieldError(field, "IMMUTABLE_FIELD", $"{field} is immutable")]);

    public static ApiError DialogueEnded(string id) =>
        new(409, "DIALOGUE_ENDED", "conflict", $"Dialogue '{Truncate(id)}' has ended; no messages can be added");

    public static ApiError PayloadTooLarge(string what) =>
        new(413, "PAYLOAD_TOO_LARGE", "validation_error", $"{what} is too large");

    /// <summary>A request the server could not read as HTTP (Kestrel's own 4xx: timeouts, sizes, malformed framing).</summary>
    public static ApiError BadRequestFraming(int status) => status switch
    {
        StatusCodes.Status408RequestTimeout =>
            new(status, "REQUEST_TIMEOUT", "validation_error", "The request was not received in time"),
        StatusCodes.Status414UriTooLong =>
            new(status, "URI_TOO_LONG", "validation_error", "The request URI is too long"),
        StatusCodes.Status431RequestHeaderFieldsTooLarge =>
            new(status, "HEADERS_TOO_LARGE", "validation_error", "The request headers are too large"),
        StatusCodes.Status413PayloadTooLarge => PayloadTooLarge("Request body"),
        StatusCodes.Status505HttpVersionNotsupported =>
            new(status, "HTTP_VERSION_NOT_SUPPORTED", "validation_error", "The HTTP version is not supported: use HTTP/1.1 or HTTP/2"),
        _ => new(status is >= 400 and < 500 ? status : StatusCodes.Status400BadRequest, InvalidParameter, "validation_error",
            "Invalid request: the HTTP request could not be read"),
    };

    public static ApiError Internal() =>
        new(500, "INTERNAL_ERROR", "server_error", "An internal error occurred");

    public static ApiError Unavailable(string message) =>
        new(503, "SERVICE_UNAVAILABLE", "service_unavailable", message) { RetryAfterSeconds = 1 };

    /// <summary>Errors echo ids and paths; keep them short so an error never carries a large client payload.</summary>
    private static string Truncate(string value) => value.Length <= 200 ? value : value[..200] + "…";
}
