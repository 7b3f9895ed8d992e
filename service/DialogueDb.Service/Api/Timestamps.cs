using System.Globalization;

namespace DialogueDb.Service.Api;

/// <summary>Wire timestamps: ISO 8601 UTC with milliseconds and Z. Storage keeps Unix milliseconds.</summary>
internal static class Timestamps
{
    /// <summary><c>yyyy-MM-ddTHH:mm:ss.fffZ</c>, written digit by digit (three of these per message answer and event).</summary>
    public static string Format(DateTimeOffset value)
    {
        return string.Create(24, value.UtcDateTime, static (chars, t) =>
        {
            Digits(chars[..4], t.Year);
            chars[4] = '-';
            Digits(chars.Slice(5, 2), t.Month);
            chars[7] = '-';
            Digits(chars.Slice(8, 2), t.Day);
            chars[10] = 'T';
            Digits(chars.Slice(11, 2), t.Hour);
            chars[13] = ':';
            Digits(chars.Slice(14, 2), t.Minute);
            chars[16] = ':';
            Digits(chars.Slice(17, 2), t.Second);
            chars[19] = '.';
            Digits(chars.Slice(20, 3), t.Millisecond);
            chars[23] = 'Z';
        });
    }

    private static void Digits(Span<char> target, int value)
    {
        for (var i = target.Length - 1; i >= 0; i--)
        {
            target[i] = (char)('0' + (value % 10));
            value /= 10;
        }
    }

    public static string Format(long unixMilliseconds) => Format(DateTimeOffset.FromUnixTimeMilliseconds(unixMilliseconds));

    public static long Now(TimeProvider time) => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Parses an ISO 8601 date-time; no offset means UTC.</summary>
    public static bool TryParse(string? text, out long unixMilliseconds)
    {
        unixMilliseconds = 0;
        if (string.IsNullOrWhiteSpace(text) || text.Length > 64 || !char.IsAsciiDigit(text[0]))
        {
            return false;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            return false;
        }

        unixMilliseconds = parsed.ToUnixTimeMilliseconds();
        return true;
    }

    /// <summary>A date prefix (YYYY, YYYY-MM or YYYY-MM-DD) as the UTC range [start, end).</summary>
    public static bool TryParsePrefix(string text, out long start, out long end)
    {
        start = end = 0;
        DateTime from;
        DateTime to;
        var styles = DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal;
        if (text.Length == 4 && DateTime.TryParseExact(text, "yyyy", CultureInfo.InvariantCulture, styles, out from))
        {
            to = from.AddYears(1);
        }
        else if (text.Length == 7 && DateTime.TryParseExact(text, "yyyy-MM", CultureInfo.InvariantCulture, styles, out from))
        {
            to = from.AddMonths(1);
        }
        else if (text.Length == 10 && DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, styles, out from))
        {
            to = from.AddDays(1);
        }
        else
        {
            return false;
        }

        start = new DateTimeOffset(from, TimeSpan.Zero).ToUnixTimeMilliseconds();
        end = new DateTimeOffset(to, TimeSpan.Zero).ToUnixTimeMilliseconds();
        return true;
    }
}
