namespace DialogueDb.Service.Api;

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
