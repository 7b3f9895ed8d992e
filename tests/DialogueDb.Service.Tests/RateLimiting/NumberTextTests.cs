using DialogueDb.Service.RateLimiting;

namespace DialogueDb.Service.Tests.RateLimiting;

public sealed class NumberTextTests
{
    [Fact]
    public void SameNumber_SameText_ChangedNumber_NewText()
    {
        var text = new NumberText();

        var first = text.Of(1_000_000);
        Assert.Equal("1000000", first);
        Assert.Same(first, text.Of(1_000_000));
        Assert.Equal("1764547200", text.Of(1_764_547_200));
        Assert.Equal("-5", text.Of(-5));
        Assert.Equal("0", text.Of(0));
    }

    [Fact]
    public void ManyThreads_AlwaysTheTextOfTheirOwnNumber()
    {
        var text = new NumberText();
        var wrong = 0;
        Parallel.For(0, 200_000, i =>
        {
            var value = i % 7;
            if (text.Of(value) != value.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                Interlocked.Increment(ref wrong);
            }
        });

        Assert.Equal(0, wrong);
    }
}
