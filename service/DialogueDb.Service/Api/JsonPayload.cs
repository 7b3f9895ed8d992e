using System.Text.Json;
using CommunityToolkit.HighPerformance.Buffers;

namespace DialogueDb.Service.Api;

/// <summary>
/// A 2xx answer built with a <see cref="Utf8JsonWriter"/>. The document is completed in memory before a byte is sent,
/// so a failure while writing it (e.g. a row that does not decrypt) still becomes a clean error envelope. The document's
/// buffer is rented from the shared array pool: a fresh 4 KiB array per answer was a third of the bytes a read allocated.
/// </summary>
internal sealed class JsonPayload(Action<Utf8JsonWriter> write, int status = StatusCodes.Status200OK) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        using var buffer = new ArrayPoolBufferWriter<byte>(4096);
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
