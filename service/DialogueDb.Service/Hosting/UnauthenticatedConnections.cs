using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// Closes a connection that has not carried an authenticated request within <paramref name="grace"/> of opening
/// (idle TLS connections without a key cost memory and a connection slot for Kestrel's whole keep-alive otherwise).
/// A connection on which any request authenticated keeps Kestrel's normal keep-alive; one still in its TLS handshake
/// (bounded by Kestrel's handshake timeout) or with a request in progress gets another grace period. Plain-HTTP
/// listeners (probes) are left to Kestrel's keep-alive.
/// </summary>
internal sealed class UnauthenticatedConnections(TimeSpan grace, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);

    /// <summary>The connection id of an authenticated request (<c>HttpContext.Connection.Id</c> is Kestrel's connection id).</summary>
    public void Authenticated(string connectionId) => _pending.TryRemove(connectionId, out _);

    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        var pending = new Pending(connection);
        _pending[connection.ConnectionId] = pending;
        using var timer = time.CreateTimer(_ => Check(pending), null, grace, Timeout.InfiniteTimeSpan);
        pending.Timer = timer;
        try
        {
            await next(connection);
        }
        finally
        {
            _pending.TryRemove(connection.ConnectionId, out _);
        }
    };

    /// <summary>Request middleware: marks a request in progress on a not-yet-authenticated connection.</summary>
    public async Task TrackRequestAsync(HttpContext context, RequestDelegate next)
    {
        if (!_pending.TryGetValue(context.Connection.Id, out var pending))
        {
            await next(context);
            return;
        }

        Interlocked.Increment(ref pending.InFlight);
        try
        {
            await next(context);
        }
        finally
        {
            Interlocked.Decrement(ref pending.InFlight);
        }
    }

    private void Check(Pending pending)
    {
        var id = pending.Connection.ConnectionId;
        if (!_pending.TryGetValue(id, out var current) || !ReferenceEquals(current, pending))
        {
            return;
        }

        // Still in the TLS handshake (Kestrel's handshake timeout bounds that) or serving a request: check again later.
        if (pending.Connection.Features.Get<ITlsHandshakeFeature>() is null || Volatile.Read(ref pending.InFlight) > 0)
        {
            pending.Timer?.Change(grace, Timeout.InfiniteTimeSpan);
            return;
        }

        if (_pending.TryRemove(id, out _))
        {
            pending.Connection.Abort(new ConnectionAbortedException("No authenticated request within the grace period."));
        }
    }

    private sealed class Pending(ConnectionContext connection)
    {
        public int InFlight;

        public ConnectionContext Connection { get; } = connection;

        public ITimer? Timer { get; set; }
    }
}
