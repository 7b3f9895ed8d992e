using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace DialogueDb.Service.Api;

/// <summary>JSON helpers shared by every route: writing answers, compacting stored client JSON.</summary>
internal static class ApiJson
{
    /// <summary>Non-ASCII text is written as UTF-8, not \u escapes, so stored content round-trips unchanged.</summary>
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    /// <summary>
    /// The UTF-8 length of <see cref="Compact"/>'s text, counted without building it: a value over its limit is refused
    /// without another copy of a body that may be 36 MiB (and twice that as a string).
    /// </summary>
    public static int CompactLength(JsonElement element) => CompactBytes(JsonMarshal.GetRawUtf8Value(element), output: null);

    /// <summary>
    /// The element's JSON text with insignificant whitespace removed and every token kept byte for byte
    /// (property order, number spelling and string escapes are the client's).
    /// </summary>
    public static string Compact(JsonElement element)
    {
        var raw = JsonMarshal.GetRawUtf8Value(element);
        var buffer = new byte[raw.Length];
        return Encoding.UTF8.GetString(buffer, 0, CompactBytes(raw, buffer));
    }

    /// <summary>Drops whitespace outside strings; writes the kept bytes into <paramref name="output"/> when given; returns their count.</summary>
    private static int CompactBytes(ReadOnlySpan<byte> raw, byte[]? output)
    {
        var length = 0;
        var inString = false;
        var escaped = false;
        foreach (var b in raw)
        {
            if (inString)
            {
                Keep(b);
                if (escaped)
                {
                    escaped = false;
                }
                else if (b == (byte)'\\')
                {
                    escaped = true;
                }
                else if (b == (byte)'"')
                {
                    inString = false;
                }
            }
            else if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                Keep(b);
                inString = b == (byte)'"';
            }
        }

        return length;

        void Keep(byte b)
        {
            if (output is not null)
            {
                output[length] = b;
            }

            length++;
        }
    }

    /// <summary>Writes stored JSON text (already validated when it was accepted) as a property value.</summary>
    public static void WriteRaw(this Utf8JsonWriter writer, string propertyName, string json)
    {
        writer.WritePropertyName(propertyName);
        writer.WriteRawValue(json, skipInputValidation: true);
    }

    public static void WriteOptional(this Utf8JsonWriter writer, string propertyName, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(propertyName, value);
        }
    }

    /// <summary>The default namespace is stored as "" and left out of answers.</summary>
    public static void WriteNamespace(this Utf8JsonWriter writer, string ns)
    {
        if (ns.Length > 0)
        {
            writer.WriteString("namespace", ns);
        }
    }
}

/// <summary>
/// A 2xx answer built with a <see cref="Utf8JsonWriter"/>. The document is completed in memory before a byte is sent,
/// so a failure while writing it (e.g. a row that does not decrypt) still becomes a clean error envelope.
/// </summary>
internal sealed class JsonPayload(Action<Utf8JsonWriter> write, int status = StatusCodes.Status200OK) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer, ApiJson.WriterOptions))
        {
            write(writer);
        }

        httpContext.Response.StatusCode = status;
        httpContext.Response.ContentType = "application/json; charset=utf-8";
        httpContext.Response.ContentLength = buffer.WrittenCount;
        await httpContext.Response.Body.WriteAsync(buffer.WrittenMemory, httpContext.RequestAborted);
    }

    public static JsonPayload Deleted(string id) => new(w =>
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteBoolean("deleted", true);
        w.WriteEndObject();
    });
}

/// <summary>
/// The request body parsed as JSON whatever the Content-Type says (the SDK sends none, or text/plain).
/// An empty body is <see cref="IsEmpty"/>; invalid JSON is a 400; a body over the limit is a 413.
/// </summary>
internal sealed class RequestBody : IDisposable
{
    private readonly JsonDocument? _document;

    private IDisposable? _reservation;

    private RequestBody(JsonDocument? document) => _document = document;

    public bool IsEmpty => _document is null;

    public JsonElement Root => _document?.RootElement ?? default;

    /// <summary>The body when it is a JSON object; an empty body reads as an empty object.</summary>
    public bool TryGetObject(out JsonElement obj)
    {
        obj = _document?.RootElement ?? EmptyObject.RootElement;
        return obj.ValueKind == JsonValueKind.Object;
    }

    private static readonly JsonDocument EmptyObject = JsonDocument.Parse("{}");

    public static async Task<(RequestBody? Body, ApiError? Error)> ReadAsync(HttpRequest request, CancellationToken ct)
    {
        var limit = request.HttpContext.RequestServices.GetRequiredService<Hosting.ServiceOptions>().MaxRequestBodyBytes;
        if (request.ContentLength > limit)
        {
            await DrainAsync(request.Body, ct);
            return (null, ApiErrors.PayloadTooLarge("Request body"));
        }

        // The buffered body and its parsed form are held until this RequestBody is disposed: reserved from the shared budget.
        // A body of unknown length (chunked) reserves the body limit, as its parsed form is most likely far smaller.
        IDisposable? reservation = await request.HttpContext.RequestServices.GetRequiredService<BodyMemoryBudget>()
            .ReserveAsync(request.ContentLength is { } length ? BodyMemoryBudget.ParsedBodyBytes(length) : limit, ct);
        try
        {
            var (body, error) = await ReadWithinReservationAsync(request, limit, ct);
            if (body is not null)
            {
                body._reservation = reservation;
                reservation = null;
            }

            return (body, error);
        }
        finally
        {
            reservation?.Dispose();
        }
    }

    private static async Task<(RequestBody? Body, ApiError? Error)> ReadWithinReservationAsync(HttpRequest request, long limit,
        CancellationToken ct)
    {
        // Sized once when the length is announced: growing by doubling would hold up to three times the body meanwhile.
        using var buffer = request.ContentLength is { } length and > 0 and <= int.MaxValue ? new MemoryStream((int)length) : new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > limit)
                {
                    await DrainAsync(request.Body, ct);
                    return (null, ApiErrors.PayloadTooLarge("Request body"));
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, ApiErrors.PayloadTooLarge("Request body"));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        var bytes = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (bytes.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            return (new RequestBody(null), null);
        }

        try
        {
            // The document reads the stream's own buffer (no copy); nothing else holds or reuses it.
            var document = JsonDocument.Parse(bytes, ApiJson.DocumentOptions);
            if (JsonBodyRules.Check(document.RootElement) is { } unsafeText)
            {
                document.Dispose();
                return (null, unsafeText);
            }

            return (new RequestBody(document), null);
        }
        catch (JsonException)
        {
            return (null, ApiErrors.Invalid("body", "the request body is not valid JSON"));
        }
    }

    /// <summary>
    /// Reads and discards the rest of an oversized body, so the client can finish sending and read the 413 instead of
    /// a broken connection. Kestrel's own hard limit (a multiple of ours) bounds how much is drained.
    /// </summary>
    private static async Task DrainAsync(Stream body, CancellationToken ct)
    {
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (await body.ReadAsync(chunk, ct) > 0)
            {
            }
        }
        catch (BadHttpRequestException)
        {
            // Over Kestrel's hard limit: the connection is closed, which is all that can be done.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    public void Dispose()
    {
        _document?.Dispose();
        _reservation?.Dispose();
    }
}
