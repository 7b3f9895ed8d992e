using DialogueDb.Operator.Resources;
using DialogueDb.Operator.Usage;

namespace DialogueDb.Operator.Tests.Usage;

/// <summary>Issue #17 §3: what the pods publish becomes status.usage and the USAGE column, with the plan's limits.</summary>
public sealed class UsageStatusTests
{
    private static readonly EffectivePlan Free = new()
    {
        Plan = "free", DialoguesPerMonth = 100, MessagesPerMonth = 10_000, MemoriesStored = 1_000, RequestsPerMonth = 100_000,
    };

    [Fact]
    public void Parse_TheServicesDocument_ReadsEveryCount()
    {
        var published = PublishedUsage.Parse(
            """{"period":"2026-12","countedAt":"2026-12-03T17:50:00Z","dialogues":3,"memories":2,"messages":5,"requests":17}""");

        Assert.Equal(new PublishedUsage("2026-12", new DateTime(2026, 12, 3, 17, 50, 0, DateTimeKind.Utc), 3, 5, 2, 17), published);
        Assert.Equal(DateTimeKind.Utc, published!.CountedAt.Kind);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("""{"countedAt":"2026-12-03T17:50:00Z","requests":1}""")]
    [InlineData("""{"period":"December","countedAt":"2026-12-03T17:50:00Z","requests":1}""")]
    [InlineData("""{"period":"2026-12","requests":1}""")]
    [InlineData("""{"period":"2026-12","countedAt":"2026-12-03T17:50:00Z","requests":-1}""")]
    [InlineData("""{"period":"2026-12","countedAt":"2026-12-03T17:50:00Z","requests":1.5}""")]
    [InlineData("""{"period":"2026-12","countedAt":"2026-12-03T17:50:00Z","requests":"many"}""")]
    public void Parse_AnythingElse_IsNothing(string? json) => Assert.Null(PublishedUsage.Parse(json));

    [Fact]
    public void For_FreePlan_EachKindWithItsLimit_HighestShareRoundedDown()
    {
        var usage = UsageStatus.For(new PublishedUsage("2026-12", DateTime.UnixEpoch, 87, 5, 999, 17), Free, "2026-12");

        Assert.Equal("2026-12", usage.Period);
        Assert.Equal((87L, 100L), (usage.Dialogues!.Used!.Value, usage.Dialogues.Limit!.Value));
        Assert.Equal((5L, 10_000L), (usage.Messages!.Used!.Value, usage.Messages.Limit!.Value));
        Assert.Equal((999L, 1_000L), (usage.Memories!.Used!.Value, usage.Memories.Limit!.Value));
        Assert.Equal((17L, 100_000L), (usage.Requests!.Used!.Value, usage.Requests.Limit!.Value));
        Assert.Equal("99%", usage.Highest); // 999 of 1,000 memories: not yet 100%
    }

    [Fact]
    public void For_RequestsPastTheirLimit_ShowsMoreThanAHundred()
    {
        var plan = new EffectivePlan { Plan = "custom", RequestsPerMonth = 200 };
        Assert.Equal("150%", UsageStatus.For(new PublishedUsage("2026-12", DateTime.UnixEpoch, null, null, null, 300), plan, "2026-12").Highest);
    }

    [Fact]
    public void For_UnlimitedPlan_RequestsCountedWithoutLimit_ColumnSaysUnlimited()
    {
        var usage = UsageStatus.For(new PublishedUsage("2026-12", DateTime.UnixEpoch, null, null, null, 4_200),
            new EffectivePlan { Plan = "enterprise" }, "2026-12");

        Assert.Null(usage.Dialogues);
        Assert.Null(usage.Messages);
        Assert.Null(usage.Memories);
        Assert.Equal(4_200L, usage.Requests!.Used);
        Assert.Null(usage.Requests.Limit);
        Assert.Equal(UsageStatus.Unlimited, usage.Highest);
    }

    [Fact]
    public void For_OneKindLimitedToZero_IsAtItsLimit()
    {
        var plan = new EffectivePlan { Plan = "custom", DialoguesPerMonth = 0, RequestsPerMonth = 1_000 };
        Assert.Equal("100%", UsageStatus.For(new PublishedUsage("2026-12", DateTime.UnixEpoch, 0, null, null, 1), plan, "2026-12").Highest);
    }

    [Fact]
    public void For_LimitedKindNotCountedYet_NoShareOfItAndNoColumnUntilOneIs()
    {
        // The plan limits messages, but the pods published before they knew (a plan change between two counts).
        var plan = new EffectivePlan { Plan = "custom", MessagesPerMonth = 10 };
        var usage = UsageStatus.For(new PublishedUsage("2026-12", DateTime.UnixEpoch, null, null, null, 5), plan, "2026-12");

        Assert.Null(usage.Messages!.Used);
        Assert.Equal(10L, usage.Messages.Limit);
        Assert.Null(usage.Highest);
    }

    [Fact]
    public void For_CountsOfAnEarlierMonth_MonthlyKindsStartAtZero_StoredMemoriesCarryOver()
    {
        var usage = UsageStatus.For(new PublishedUsage("2026-11", DateTime.UnixEpoch, 90, 9_000, 500, 90_000), Free, "2026-12");

        Assert.Equal("2026-12", usage.Period);
        Assert.Equal(0L, usage.Dialogues!.Used);
        Assert.Equal(0L, usage.Messages!.Used);
        Assert.Equal(0L, usage.Requests!.Used);
        Assert.Equal(500L, usage.Memories!.Used);
        Assert.Equal("50%", usage.Highest);
    }
}
