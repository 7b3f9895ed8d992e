using DialogueDb.Service.Telemetry;
using Microsoft.Extensions.Time.Testing;

namespace DialogueDb.Service.Tests.Telemetry;

public sealed class BacklogCountTests
{
    private readonly FakeTimeProvider _time = new();
    private int _counts;

    private Task<long> CountAsync(long rows)
    {
        _counts++;
        return Task.FromResult(rows);
    }

    [Fact]
    public async Task BehindAShortBatch_TheBacklogIsZero_WithoutCounting()
    {
        var backlog = new BacklogCount(_time);

        Assert.Equal(0, await backlog.AfterBatchAsync(fullBatch: false, _ => CountAsync(500), CancellationToken.None));
        Assert.Equal(0, _counts);
    }

    [Fact]
    public async Task BehindFullBatches_TheRestIsCountedAtMostOnceASecond()
    {
        var backlog = new BacklogCount(_time);

        Assert.Equal(900, await backlog.AfterBatchAsync(fullBatch: true, _ => CountAsync(900), CancellationToken.None));
        _time.Advance(TimeSpan.FromMilliseconds(400));
        Assert.Equal(900, await backlog.AfterBatchAsync(fullBatch: true, _ => CountAsync(700), CancellationToken.None));
        Assert.Equal(1, _counts);

        _time.Advance(TimeSpan.FromMilliseconds(600));
        Assert.Equal(500, await backlog.AfterBatchAsync(fullBatch: true, _ => CountAsync(500), CancellationToken.None));
        Assert.Equal(2, _counts);
    }

    [Fact]
    public async Task AfterTheQueueDrained_TheNextFullBatchIsCountedAtOnce()
    {
        var backlog = new BacklogCount(_time);
        await backlog.AfterBatchAsync(fullBatch: true, _ => CountAsync(900), CancellationToken.None);

        Assert.Equal(0, backlog.Drained());
        Assert.Equal(300, await backlog.AfterBatchAsync(fullBatch: true, _ => CountAsync(300), CancellationToken.None));
        Assert.Equal(2, _counts);
    }
}
