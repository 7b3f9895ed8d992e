using DialogueDb.Operator.Kubernetes;
using Microsoft.Extensions.Time.Testing;

namespace DialogueDb.Operator.Tests;

public sealed class WorkQueueTests
{
    private static readonly CancellationToken Ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Add_Twice_WhileQueued_OneItem()
    {
        using var queue = new WorkQueue<string>(new FakeTimeProvider());
        queue.Add("a");
        queue.Add("a");

        Assert.Equal(1, queue.Count);
        Assert.Equal("a", await queue.TakeAsync(Ct));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task Add_WhileProcessing_IsProcessedAgainAfterDone_NotConcurrently()
    {
        using var queue = new WorkQueue<string>(new FakeTimeProvider());
        queue.Add("a");
        var key = await queue.TakeAsync(Ct);

        queue.Add(key);
        Assert.Equal(0, queue.Count);
        queue.Done(key);

        Assert.Equal(1, queue.Count);
    }

    [Fact]
    public void AddRateLimited_BacksOffExponentially_CappedAndNeverGivesUp_ForgetResets()
    {
        using var queue = new WorkQueue<string>(new FakeTimeProvider());
        var delays = Enumerable.Range(0, 30).Select(_ => queue.AddRateLimited("a")).ToList();

        Assert.Equal(TimeSpan.FromMilliseconds(200), delays[0]);
        Assert.Equal(TimeSpan.FromMilliseconds(400), delays[1]);
        Assert.Equal(WorkQueue<string>.MaxBackoff, delays[^1]);
        Assert.Equal(30, queue.Failures("a"));
        queue.Forget("a");
        Assert.Equal(TimeSpan.FromMilliseconds(200), queue.AddRateLimited("a"));
    }

    [Fact]
    public void AddAfter_FiresWhenDue_EarliestWins()
    {
        var time = new FakeTimeProvider();
        using var queue = new WorkQueue<string>(time);
        queue.AddAfter("a", TimeSpan.FromSeconds(10));
        queue.AddAfter("a", TimeSpan.FromSeconds(2));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, queue.Count);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, queue.Count);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, queue.Count);
    }
}
