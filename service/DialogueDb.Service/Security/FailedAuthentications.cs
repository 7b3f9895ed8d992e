using System.Collections.Concurrent;
using System.Net;
using DialogueDb.Service.Telemetry;

namespace DialogueDb.Service.Security;

/// <summary>
/// Failed authentications per client address: counted (a metric, and one summary line a minute at most instead of a
/// line per failure) and limited. Each address may fail <c>perMinute</c> times a minute (a token bucket of that size
/// refilled evenly); past that every attempt from it, right or wrong, answers 429 until the bucket refills, so keys
/// cannot be guessed at speed. Bounded memory: at most <see cref="MaxTrackedAddresses"/> addresses are tracked; full
/// buckets are dropped first, and past the bound new addresses share one bucket.
/// </summary>
internal sealed partial class FailedAuthentications(int perMinute, TimeProvider time, ILogger<FailedAuthentications> logger,
    ServiceMetrics? metrics = null)
{
    public const int MaxTrackedAddresses = 10_000;

    private static readonly IPAddress Overflow = IPAddress.None;
    private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();
    private long _sinceReport;
    private long _nextReportTicks;

    /// <summary>Seconds until <paramref name="address"/> may try again, or null when it may try now.</summary>
    public int? RetryAfterSeconds(IPAddress? address)
    {
        if (address is null || !_buckets.TryGetValue(address, out var bucket))
        {
            return null;
        }

        lock (bucket)
        {
            var tokens = bucket.TokensAt(time.GetUtcNow(), perMinute);
            return tokens >= 1 ? null : (int)Math.Ceiling((1 - tokens) * 60.0 / perMinute);
        }
    }

    /// <summary>An attempt refused because <paramref name="address"/> failed too often (counted, not limited further).</summary>
    public void Throttled() => metrics?.AuthFailure(ServiceMetrics.AuthFailureReasons.Throttled);

    /// <summary>Counts one failure of <paramref name="address"/>; <paramref name="reason"/> is a <see cref="ServiceMetrics.AuthFailureReasons"/> value.</summary>
    public void Record(IPAddress? address, string reason)
    {
        metrics?.AuthFailure(reason);
        LogFailed(logger, reason);
        var now = time.GetUtcNow();
        var key = address ?? Overflow;
        if (!_buckets.ContainsKey(key) && _buckets.Count >= MaxTrackedAddresses)
        {
            Prune(now);
            key = _buckets.Count >= MaxTrackedAddresses ? Overflow : key;
        }

        var bucket = _buckets.GetOrAdd(key, _ => new Bucket(perMinute, now));
        lock (bucket)
        {
            bucket.Take(now, perMinute);
        }

        Interlocked.Increment(ref _sinceReport);
        var next = Interlocked.Read(ref _nextReportTicks);
        if (now.UtcTicks >= next && Interlocked.CompareExchange(ref _nextReportTicks, now.AddMinutes(1).UtcTicks, next) == next)
        {
            var count = Interlocked.Exchange(ref _sinceReport, 0);
            LogSummary(logger, count, _buckets.Count);
        }
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (address, bucket) in _buckets)
        {
            lock (bucket)
            {
                if (bucket.TokensAt(now, perMinute) >= perMinute)
                {
                    _buckets.TryRemove(address, out _);
                }
            }
        }
    }

    private sealed class Bucket(double tokens, DateTimeOffset at)
    {
        private double _tokens = tokens;
        private DateTimeOffset _at = at;

        public double TokensAt(DateTimeOffset now, int perMinute) =>
            Math.Min(perMinute, _tokens + ((now - _at).TotalMinutes * perMinute));

        public void Take(DateTimeOffset now, int perMinute)
        {
            _tokens = Math.Max(0, TokensAt(now, perMinute) - 1);
            _at = now;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Authentication failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "{Count} failed authentications since the last report, from {Addresses} tracked client addresses")]
    private static partial void LogSummary(ILogger logger, long count, int addresses);
}
