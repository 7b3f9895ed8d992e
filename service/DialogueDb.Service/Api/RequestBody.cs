using System.Buffers;
using System.Text.Json;

namespace DialogueDb.Service.Api;

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
