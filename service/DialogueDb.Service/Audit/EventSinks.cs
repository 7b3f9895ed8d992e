using System.Text;
using System.Text.Json;
using DialogueDb.Service.RateLimiting;
using StackExchange.Redis;

namespace DialogueDb.Service.Audit;

/// <summary>Where the relay publishes events. A publish either succeeds for the whole batch or throws.</summary>
internal interface IEventSink
{
    string Describe { get; }

    Task PublishAsync(IReadOnlyList<byte[]> events, CancellationToken ct);
}

/// <summary>
/// The project's Redis stream (<c>{prefix}events</c>, e.g. <c>ddb:{acme}:events</c>). One entry per event with the
/// fields eventId, type, entityType, namespace, itemId, actor, requestId, occurred and item (the item as JSON text);
/// trimmed approximately to a maximum length. A batch is one pipelined round trip.
/// </summary>
internal sealed class RedisStreamSink(RedisConnection redis, string stream, long maxLength) : IEventSink
{
    public string Describe => $"Redis stream {stream}";

    public string Stream => stream;

    public async Task PublishAsync(IReadOnlyList<byte[]> events, CancellationToken ct)
    {
        var db = await redis.DatabaseAsync();
        var batch = db.CreateBatch();
        var adds = events.Select(e => batch.StreamAddAsync(stream, Fields(e), maxLength: maxLength, useApproximateMaxLength: true)).ToList();
        batch.Execute();
        await Task.WhenAll(adds);
    }

    public static NameValueEntry[] Fields(byte[] json)
    {
        using var document = JsonDocument.Parse(json);
        var fields = new List<NameValueEntry>(9);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            var value = property.Value.ValueKind switch
            {
                JsonValueKind.String => property.Value.GetString()!,
                JsonValueKind.Null => "",
                _ => property.Value.GetRawText(),
            };
            fields.Add(new NameValueEntry(property.Name, value));
        }

        return [.. fields];
    }
}

/// <summary>Embedded mode: events appended as JSON lines to DATA_DIR/events.jsonl (watch it with `dialoguedb events tail`).</summary>
internal sealed class FileSink(string path) : IEventSink
{
    public string Describe => path;

    public async Task PublishAsync(IReadOnlyList<byte[]> events, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        foreach (var e in events)
        {
            await stream.WriteAsync(e, ct);
            stream.WriteByte((byte)'\n');
        }

        await stream.FlushAsync(ct);
        stream.Flush(flushToDisk: true);
    }

    public static string Line(byte[] json) => Encoding.UTF8.GetString(json);
}
