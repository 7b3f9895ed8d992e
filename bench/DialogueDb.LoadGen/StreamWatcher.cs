using System.Collections.Concurrent;
using System.Diagnostics;
using StackExchange.Redis;

namespace DialogueDb.LoadGen;

/// <summary>
/// Follows the project's event stream with XREAD BLOCK on a connection of its own (a blocking read would stall every
/// other command multiplexed on a shared one) and notes when each message.created event first arrived.
/// </summary>
internal sealed class StreamWatcher : IAsyncDisposable
{
    private const int BlockMilliseconds = 500;

    private readonly ConnectionMultiplexer _redis;
    private readonly RedisKey _stream;
    private readonly ConcurrentDictionary<string, long> _seen = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    private StreamWatcher(ConnectionMultiplexer redis, string stream)
    {
        _redis = redis;
        _stream = stream;
    }

    /// <summary>First-arrival timestamp (<see cref="Stopwatch"/> ticks) per message id.</summary>
    public IReadOnlyDictionary<string, long> Seen => _seen;

    public long Entries { get; private set; }

    public long Duplicates { get; private set; }

    public static async Task<StreamWatcher> StartAsync(string configuration, string stream)
    {
        var config = ConfigurationOptions.Parse(configuration);
        // The blocked XREAD occupies the connection for up to BlockMilliseconds; the timeout must outlast it.
        config.AsyncTimeout = 10_000;
        config.SyncTimeout = 10_000;
        // RESP2 fixes the XREAD reply shape parsed below (RESP3 answers a map of stream to entries instead).
        config.Protocol = RedisProtocol.Resp2;
        var redis = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
        var watcher = new StreamWatcher(redis, stream);

        // Resolve "$" once: reading from the entry that is last now and then from each last id seen leaves no gap
        // between reads (passing "$" on every call would skip entries added between two calls).
        var last = await redis.GetDatabase().StreamRangeAsync(stream, "-", "+", count: 1, messageOrder: Order.Descending).ConfigureAwait(false);
        var start = last.Length == 0 ? "0-0" : last[0].Id.ToString();
        watcher._loop = Task.Run(() => watcher.RunAsync(start));
        return watcher;
    }

    private async Task RunAsync(string lastId)
    {
        var db = _redis.GetDatabase();
        while (!_stop.IsCancellationRequested)
        {
            var result = await db.ExecuteAsync("XREAD", "COUNT", 2000, "BLOCK", BlockMilliseconds, "STREAMS", _stream, lastId).ConfigureAwait(false);
            var arrived = Stopwatch.GetTimestamp();
            if (result.IsNull)
            {
                continue;
            }

            if (result.Resp2Type != ResultType.Array)
            {
                throw new InvalidOperationException($"XREAD answered {result.Resp2Type}/{result.Resp3Type}: {result}");
            }

            // [[stream, [[id, [field, value, ...]], ...]]]
            foreach (var streamReply in (RedisResult[])result!)
            {
                var entries = (RedisResult[])((RedisResult[])streamReply!)[1]!;
                foreach (var entry in entries)
                {
                    var parts = (RedisResult[])entry!;
                    lastId = parts[0].ToString();
                    Entries++;
                    Note((RedisResult[])parts[1]!, arrived);
                }
            }
        }
    }

    private void Note(RedisResult[] fields, long arrived)
    {
        string? type = null;
        string? itemId = null;
        for (var i = 0; i + 1 < fields.Length; i += 2)
        {
            switch (fields[i].ToString())
            {
                case "type":
                    type = fields[i + 1].ToString();
                    break;
                case "itemId":
                    itemId = fields[i + 1].ToString();
                    break;
            }
        }

        if (type == "message.created" && itemId is not null && !_seen.TryAdd(itemId, arrived))
        {
            // At-least-once delivery may repeat an event; the first arrival is the one that counts.
            Duplicates++;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        await _redis.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
