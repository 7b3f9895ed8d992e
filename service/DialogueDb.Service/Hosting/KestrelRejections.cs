using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using DialogueDb.Service.Api;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// Gives Kestrel's own answers to requests it cannot parse (a bad request line or header, 414, 431, 505, the header
/// timeout) the contract's error envelope. Kestrel writes those itself, before any middleware runs, with an empty body,
/// and offers no hook for one; it does announce each rejection (<see cref="BadRequestEvent"/>) just before writing the
/// answer. The announcement arms the connection's <see cref="RejectionOutput"/>, which holds back what Kestrel writes
/// next and, if it is a bodyless error head of Kestrel's own (no <c>X-Request-Id</c>: every answer of the application
/// has one), sends it with the envelope as its body. Unarmed, the output forwards every call as it is.
/// </summary>
internal sealed class KestrelRejections(TimeProvider time) : IObserver<KeyValuePair<string, object?>>
{
    public const string BadRequestEvent = "Microsoft.AspNetCore.Server.Kestrel.BadRequest";

    /// <summary>Connection middleware; goes after TLS so it sees the HTTP/1.x bytes.</summary>
    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        var transport = connection.Transport;
        var output = new RejectionOutput(transport.Output, time);
        connection.Transport = new Transport(transport.Input, output);
        connection.Features.Set(output);
        try
        {
            await next(connection);
        }
        finally
        {
            connection.Transport = transport;
        }
    };

    public void OnNext(KeyValuePair<string, object?> value)
    {
        if (value.Key != BadRequestEvent || value.Value is not IFeatureCollection features
            || features.Get<RejectionOutput>() is not { } output
            || features.Get<IBadRequestExceptionFeature>()?.Error is not BadHttpRequestException
            || features.Get<IHttpResponseFeature>() is { HasStarted: true })
        {
            return;
        }

        // HTTP/2 rejects with frames, and an answer to HEAD has no body.
        var request = features.Get<IHttpRequestFeature>();
        if (request is { Protocol: "HTTP/2" or "HTTP/3" } || HttpMethods.IsHead(request?.Method ?? ""))
        {
            return;
        }

        output.Arm();
    }

    public void OnCompleted()
    {
    }

    public void OnError(Exception error)
    {
    }

    private sealed class Transport(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }
}

/// <summary>The connection's output; see <see cref="KestrelRejections"/>.</summary>
internal sealed class RejectionOutput(PipeWriter inner, TimeProvider time) : PipeWriter
{
    private ArrayBufferWriter<byte>? _held;

    /// <summary>Holds back the next bytes written: Kestrel is about to answer a request it rejected.</summary>
    public void Arm() => _held = new ArrayBufferWriter<byte>(256);

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

    /// <summary>Sends what was held: as the envelope answer when it is Kestrel's bodyless error head, else unchanged.</summary>
    private void Release()
    {
        if (_held is not { WrittenCount: > 0 } held)
        {
            return;
        }

        _held = null;
        inner.Write(WithEnvelope(held.WrittenSpan) ?? held.WrittenSpan);
    }

    private byte[]? WithEnvelope(ReadOnlySpan<byte> written)
    {
        const string NoBody = "\r\nContent-Length: 0\r\n";
        var head = Encoding.Latin1.GetString(written);
        var at = head.IndexOf(NoBody, StringComparison.OrdinalIgnoreCase);
        if (at < 0 || !head.StartsWith("HTTP/1.", StringComparison.Ordinal) || !head.EndsWith("\r\n\r\n", StringComparison.Ordinal)
            || head.Contains("\r\n" + ApiPipeline.RequestIdHeader + ":", StringComparison.OrdinalIgnoreCase)
            || !int.TryParse(head.AsSpan(9, 3), out var status) || status < 400)
        {
            return null;
        }

        var requestId = Guid.NewGuid().ToString();
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
