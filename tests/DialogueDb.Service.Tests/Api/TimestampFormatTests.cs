using System.Globalization;
using DialogueDb.Service.Api;

namespace DialogueDb.Service.Tests.Api;

/// <summary>The hand-written wire timestamp equals the framework's custom format for every instant it can be given.</summary>
public sealed class TimestampFormatTests
{
    public static TheoryData<long> Instants => new()
    {
        DateTimeOffset.MinValue.ToUnixTimeMilliseconds(),
        DateTimeOffset.MaxValue.ToUnixTimeMilliseconds(),
        0,
        -1,
        951_782_400_000,      // 2000-02-29T00:00:00.000Z
        1_764_806_399_999,    // the last millisecond of a day
        253_402_300_799_999,  // 9999-12-31T23:59:59.999Z
        -62_135_596_800_000,  // 0001-01-01T00:00:00.000Z
    };

    [Theory]
    [MemberData(nameof(Instants))]
    public void Matches_the_framework_format(long unixMilliseconds) =>
        Assert.Equal(Expected(unixMilliseconds), Timestamps.Format(unixMilliseconds));

    [Fact]
    public void Matches_the_framework_format_across_random_instants()
    {
        var random = new Random(20261203);
        var min = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
        var max = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();
        for (var i = 0; i < 100_000; i++)
        {
            var instant = random.NextInt64(min, max);
            Assert.Equal(Expected(instant), Timestamps.Format(instant));
        }
    }

    [Fact]
    public void Converts_an_offset_to_utc() =>
        Assert.Equal("2026-12-03T22:30:00.123Z",
            Timestamps.Format(new DateTimeOffset(2026, 12, 4, 0, 0, 0, 123, TimeSpan.FromHours(1.5))));

    private static string Expected(long unixMilliseconds) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMilliseconds).UtcDateTime
            .ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
