using System.Globalization;
using System.Text.Json;

namespace DialogueDb.Operator.Usage;

/// <summary>
/// The plan usage a project's pods publish to <c>ddb:{project}:usage</c> (the service's <c>UsagePublisher</c>), e.g.
/// <c>{"period":"2026-12","countedAt":"2026-12-03T17:50:00Z","dialogues":3,"messages":5,"requests":17}</c>. A kind is
/// absent when the project's plan does not limit it (the service does not count it then); requests are always there.
/// </summary>
internal sealed record PublishedUsage(string Period, DateTime CountedAt, long? Dialogues, long? Messages, long? Memories, long? Requests)
{
    /// <summary>The key's suffix under the project's Redis prefix.</summary>
    public const string KeySuffix = "usage";

    /// <summary>
    /// Reads a published document; null for anything else (absent, not JSON, a negative count, an unknown period): the
    /// key is written by a tenant's pod, so the status takes nothing from it but a month and six numbers.
    /// </summary>
    public static PublishedUsage? Parse(string? json)
    {
        if (json is null || json.Length > 1024)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("period", out var period) || period.ValueKind != JsonValueKind.String
                || !DateTime.TryParseExact(period.GetString(), "yyyy-MM", CultureInfo.InvariantCulture, DateTimeStyles.None, out _)
                || !root.TryGetProperty("countedAt", out var countedAt) || countedAt.ValueKind != JsonValueKind.String
                || !DateTime.TryParse(countedAt.GetString(), CultureInfo.InvariantCulture,
                    DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at))
            {
                return null;
            }

            var counts = new long?[4];
            string[] names = ["dialogues", "messages", "memories", "requests"];
            for (var i = 0; i < names.Length; i++)
            {
                if (!root.TryGetProperty(names[i], out var count))
                {
                    continue;
                }

                if (count.ValueKind != JsonValueKind.Number || !count.TryGetInt64(out var value) || value < 0)
                {
                    return null;
                }

                counts[i] = value;
            }

            return new PublishedUsage(period.GetString()!, at, counts[0], counts[1], counts[2], counts[3]);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
