using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using DialogueDb.Service.Api;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// An HTTP/1.x connection's output (see <see cref="KestrelRejections"/>). Unarmed, it forwards every call. Armed, it
/// holds back what is written until the next flush; if that is a bodyless error head of Kestrel's own (every answer of
/// the application carries <c>X-Request-Id</c>, Kestrel's rejections do not), it is sent with the envelope as its body,
/// and anything else is sent unchanged. Only the connection's own thread arms it and writes to it.
/// </summary>
internal sealed class RejectionOutput(PipeWriter inner, TimeProvider time) : PipeWriter
{
    private const string NoBody = "\r\nContent-Length: 0\r\n";

    private ArrayBufferWriter<byte>? _held;

    /// <summary>Kestrel is about to answer a request it rejected: hold back the next bytes written.</summary>
    public void Arm() => _held ??= new ArrayBufferWriter<byte>(512);

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes + (_held?.WrittenCount ?? 0);

    public override void Advance(int bytes)
    {
        if (_held is { } held)
        {
            held.Advance(bytes);
        }
        else
        {
            inner.Advance(bytes);
        }
    }

    public override Memory<byte> GetMemory(int sizeHint = 0) => _held is { } held ? held.GetMemory(sizeHint) : inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => _held is { } held ? held.GetSpan(sizeHint) : inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null)
    {
        Release();
        inner.Complete(exception);
    }

    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        Release();
        return inner.CompleteAsync(exception);
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        Release();
        return inner.FlushAsync(cancellationToken);
    }

    private void Release()
    {
        if (_held is not { } held)
        {
            return;
        }

        _held = null;
        if (held.WrittenCount > 0)
        {
            inner.Write(WithEnvelope(held.WrittenSpan) ?? held.WrittenSpan);
        }
    }

    /// <summary>The head with the envelope as its body; null when it is not Kestrel's bodyless error head.</summary>
    private byte[]? WithEnvelope(ReadOnlySpan<byte> written)
    {
        var head = Encoding.Latin1.GetString(written);
        var at = head.IndexOf(NoBody, StringComparison.OrdinalIgnoreCase);
        if (at < 0 || !head.StartsWith("HTTP/1.", StringComparison.Ordinal) || !head.EndsWith("\r\n\r\n", StringComparison.Ordinal)
            || head.Contains("\r\n" + ApiPipeline.RequestIdHeader + ":", StringComparison.OrdinalIgnoreCase)
            || head.Length < 12 || !int.TryParse(head.AsSpan(9, 3), out var status) || status < 400)
        {
            return null;
        }

        var requestId = RequestIds.New();
        var body = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(body, ApiJson.WriterOptions))
        {
            ApiErrors.BadRequestFraming(status).Write(writer, requestId, time.GetUtcNow());
        }

        var headers = $"\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {body.WrittenCount}\r\n" +
            $"{ApiPipeline.RequestIdHeader}: {requestId}\r\n";
        return [.. Encoding.Latin1.GetBytes(head[..at] + headers + head[(at + NoBody.Length)..]), .. body.WrittenSpan];
    }
}
