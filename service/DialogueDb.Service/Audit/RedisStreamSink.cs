using System.Text.Json;
using DialogueDb.Service.Redis;
using StackExchange.Redis;

namespace DialogueDb.Service.Audit;

/// <summary>
/// The project's Redis stream (<c>{prefix}events</c>, e.g. <c>ddb:{acme}:events</c>). One entry per event with the
/// fields eventId, type, entityType, namespace, itemId, actor, requestId, occurred and item (the item as JSON text);
/// capped approximately at a maximum length, and trimmed by age: entry ids are their publish time in milliseconds, so
/// <c>XTRIM MINID</c> drops what is older than the retention window. A batch with its trim is one pipelined round trip.
/// </summary>
internal sealed class RedisStreamSink(RedisConnection redis, string stream, long maxLength, Func<TimeSpan?> retention, TimeProvider time)
    : IEventSink
{
    public string Describe => $"Redis stream {stream}";

    public string Stream => stream;

    public async Task PublishAsync(IReadOnlyList<byte[]> events, CancellationToken ct)
    {
        var db = await redis.DatabaseAsync();
        var batch = db.CreateBatch();
        var adds = events.Select(e => batch.StreamAddAsync(stream, Fields(e), maxLength: maxLength, useApproximateMaxLength: true)).ToList();
        var trim = MinId() is { } minId ? batch.StreamTrimByMinIdAsync(stream, minId) : Task.CompletedTask;
        batch.Execute();
        await Task.WhenAll(adds);
        await trim;
    }

    public async Task TrimAsync(CancellationToken ct)
    {
        if (MinId() is { } minId)
        {
            var db = await redis.DatabaseAsync();
            await db.StreamTrimByMinIdAsync(stream, minId);
        }
    }

    /// <summary>The oldest entry id kept (exact, not approximate: an expired event never lingers in a partial node).</summary>
    private long? MinId() => retention() is { } window ? (time.GetUtcNow() - window).ToUnixTimeMilliseconds() : null;

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
