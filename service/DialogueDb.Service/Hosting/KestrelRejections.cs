using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// Gives Kestrel's own answers to HTTP/1.x requests it cannot parse (a bad request line, target or header, a missing or
/// repeated Host, conflicting lengths, 414, 431, 505, the header timeout) the contract's error envelope. Kestrel writes
/// those itself, before any middleware, with an empty body, and has no hook to change them; it does announce each
/// rejection on its diagnostic source (<see cref="BadRequestEvent"/>) on the connection's own thread just before it
/// writes the answer. The announcement arms the connection's <see cref="RejectionOutput"/>, which rewrites that answer.
/// HTTP/2 connections are left alone (Kestrel answers their errors with frames), and so are answers to HEAD.
/// </summary>
internal sealed class KestrelRejections(TimeProvider time) : IObserver<KeyValuePair<string, object?>>
{
    public const string BadRequestEvent = "Microsoft.AspNetCore.Server.Kestrel.BadRequest";

    /// <summary>Connection middleware; it goes after TLS so that it sees the HTTP bytes.</summary>
    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        if (connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual("h2"u8) == true)
        {
            await next(connection);
            return;
        }

        var transport = connection.Transport;
        var output = new RejectionOutput(transport.Output, time);
        connection.Transport = new DuplexPipe(transport.Input, output);
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
            || features.Get<IHttpResponseFeature>() is { HasStarted: true })
        {
            return;
        }

        var request = features.Get<IHttpRequestFeature>();
        if (request?.Protocol is "HTTP/2" or "HTTP/3" || HttpMethods.IsHead(request?.Method ?? ""))
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

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }
}
