using System.Globalization;
using System.Text.Json;
using DialogueDb.Service.Redis;
using StackExchange.Redis;

namespace DialogueDb.Service.Policy;

/// <summary>
/// Publishes the project's plan usage, as <see cref="QuotaUsage"/> read it from the quota counters, to the project's
/// Redis key <c>{prefix}usage</c> after every refresh (at most once a minute per replica), for the operator to show in
/// <c>DialogueProject.status.usage</c>. Counts only, never content or a namespace; the project's own Redis user writes
/// it (GET/SET on its prefix are all it needs), so the pods need no right on the Kubernetes API. A kind the plan does
/// not limit is left out, because the quota counters do not count it; API requests are always counted.
/// </summary>
internal sealed partial class UsagePublisher(RedisConnection redis, RedisKeys keys, ILogger<UsagePublisher> logger)
{
    /// <summary>The key under the project's prefix; the operator reads <c>ddb:{project}:usage</c> with its admin connection.</summary>
    public string Key => keys.Usage;

    /// <summary>
    /// The published document, e.g. <c>{"period":"2026-12","countedAt":"2026-12-03T17:50:00Z","dialogues":3,"requests":17}</c>.
    /// </summary>
    public static string Document(string period, DateTimeOffset countedAt, IReadOnlyDictionary<QuotaKind, long> used)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(160);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("period", period);
            json.WriteString("countedAt", countedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
            foreach (var (kind, count) in used.OrderBy(u => u.Key))
            {
                json.WriteNumber(PlanQuotas.Name(kind), count);
            }

            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Writes the document; a Redis failure is logged and the next refresh tries again.</summary>
    public async Task PublishAsync(string document, CancellationToken ct)
    {
        try
        {
            var database = await redis.DatabaseAsync().WaitAsync(ct);
            await database.StringSetAsync(Key, document).WaitAsync(ct);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LogPublishFailed(logger, ex.GetType().Name);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not publish the plan usage to Redis ({Error}); the next refresh tries again")]
    private static partial void LogPublishFailed(ILogger logger, string error);
}
