using DialogueDb.Service.Api.Search;

namespace DialogueDb.Service.Tests.Search;

public sealed class DatePhrasesTests
{
    // Wednesday 2026-12-02, 23:30 UTC: already Thursday in Berlin.
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 23, 30, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("today", "UTC", "2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z")]
    [InlineData("today", "Europe/Berlin", "2026-12-02T23:00:00Z", "2026-12-03T23:00:00Z")]
    [InlineData("Yesterday", "UTC", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z")]
    [InlineData("last 7 days", "UTC", "2026-11-26T00:00:00Z", "2026-12-03T00:00:00Z")]
    [InlineData("this week", "UTC", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z")]
    [InlineData("last week", "UTC", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z")]
    [InlineData("this month", "UTC", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")]
    [InlineData("last month", "UTC", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")]
    [InlineData("March 2025", "Europe/Berlin", "2025-02-28T23:00:00Z", "2025-03-31T22:00:00Z")]
    [InlineData("mar 2025", "UTC", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")]
    [InlineData("2025", "UTC", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")]
    public void Resolve_DocumentedPhrase_AbsoluteRangeInTheZone(string phrase, string zone, string from, string until)
    {
        var range = DatePhrases.Resolve(phrase, Now, TimeZoneInfo.FindSystemTimeZoneById(zone));

        Assert.NotNull(range);
        Assert.Equal(DateTimeOffset.Parse(from, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), range.From);
        Assert.Equal(DateTimeOffset.Parse(until, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), range.Until);
    }

    [Theory]
    [InlineData("the other day")]
    [InlineData("last 0 days")]
    [InlineData("Smarch 2025")]
    [InlineData("1900")]
    public void Resolve_UnknownPhrase_Null(string phrase) => Assert.Null(DatePhrases.Resolve(phrase, Now, TimeZoneInfo.Utc));
}
