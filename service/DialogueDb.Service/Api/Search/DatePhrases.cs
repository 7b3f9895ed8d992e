using System.Globalization;
using System.Text.RegularExpressions;

namespace DialogueDb.Service.Api.Search;

/// <summary>
/// The documented date phrases of a search filter, resolved to absolute ranges in the request's time zone:
/// <c>today</c>, <c>yesterday</c>, <c>last N days</c> (today and the N-1 days before), <c>this week</c> /
/// <c>last week</c> (weeks start on Monday), <c>this month</c> / <c>last month</c>, <c>this year</c> / <c>last year</c>,
/// <c>&lt;Month&gt; &lt;year&gt;</c> (e.g. <c>March 2025</c>) and <c>&lt;year&gt;</c>.
/// </summary>
internal static partial class DatePhrases
{
    public const string Documented = "today, yesterday, last N days, this week, last week, this month, last month, this year, " +
        "last year, <Month> <year>, <year>";

    /// <summary>The range of a phrase, or null when it is not one of the documented phrases.</summary>
    public static DateRange? Resolve(string phrase, DateTimeOffset now, TimeZoneInfo zone)
    {
        var text = WhiteSpace().Replace(phrase.Trim().ToLowerInvariant(), " ");
        var today = TimeZoneInfo.ConvertTime(now, zone).Date;
        switch (text)
        {
            case "today":
                return Days(today, 1, zone);
            case "yesterday":
                return Days(today.AddDays(-1), 1, zone);
            case "this week":
                return Days(WeekStart(today), 7, zone);
            case "last week":
                return Days(WeekStart(today).AddDays(-7), 7, zone);
            case "this month":
                return Months(new DateTime(today.Year, today.Month, 1, 0, 0, 0, DateTimeKind.Unspecified), 1, zone);
            case "last month":
                return Months(new DateTime(today.Year, today.Month, 1, 0, 0, 0, DateTimeKind.Unspecified).AddMonths(-1), 1, zone);
            case "this year":
                return Months(new DateTime(today.Year, 1, 1, 0, 0, 0, DateTimeKind.Unspecified), 12, zone);
            case "last year":
                return Months(new DateTime(today.Year - 1, 1, 1, 0, 0, 0, DateTimeKind.Unspecified), 12, zone);
        }

        if (LastDays().Match(text) is { Success: true } last
            && int.TryParse(last.Groups[1].Value, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 3660)
        {
            return Days(today.AddDays(1 - n), n, zone);
        }

        if (MonthYear().Match(text) is { Success: true } monthYear
            && DateTime.TryParseExact(monthYear.Groups[1].Value, ["MMMM", "MMM"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var month)
            && int.TryParse(monthYear.Groups[2].Value, CultureInfo.InvariantCulture, out var year) && year is >= 1970 and <= 9999)
        {
            return Months(new DateTime(year, month.Month, 1, 0, 0, 0, DateTimeKind.Unspecified), 1, zone);
        }

        if (Year().IsMatch(text) && int.Parse(text, CultureInfo.InvariantCulture) is >= 1970 and <= 9999)
        {
            return Months(new DateTime(int.Parse(text, CultureInfo.InvariantCulture), 1, 1, 0, 0, 0, DateTimeKind.Unspecified), 12, zone);
        }

        return null;
    }

    /// <summary>Unix milliseconds of a local wall-clock time in the zone (a skipped local time moves forward).</summary>
    public static long Instant(DateTime local, TimeZoneInfo zone)
    {
        var unspecified = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        while (zone.IsInvalidTime(unspecified))
        {
            unspecified = unspecified.AddMinutes(30);
        }

        return new DateTimeOffset(unspecified, zone.GetUtcOffset(unspecified)).ToUnixTimeMilliseconds();
    }

    private static DateTime WeekStart(DateTime day) => day.AddDays(-(((int)day.DayOfWeek + 6) % 7));

    private static DateRange Days(DateTime first, int count, TimeZoneInfo zone) =>
        new(Instant(first, zone), Instant(first.AddDays(count), zone));

    private static DateRange Months(DateTime first, int count, TimeZoneInfo zone) =>
        new(Instant(first, zone), Instant(first.AddMonths(count), zone));

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();

    [GeneratedRegex(@"^last (\d{1,4}) days?$")]
    private static partial Regex LastDays();

    [GeneratedRegex(@"^([a-z]{3,9}) (\d{4})$")]
    private static partial Regex MonthYear();

    [GeneratedRegex(@"^\d{4}$")]
    private static partial Regex Year();
}
