using DialogueDb.Service.Hosting;
using Microsoft.AspNetCore.Http;

namespace DialogueDb.Service.Tests.Hosting;

public sealed class RequestsInFlightTests
{
    [Fact]
    public async Task TrackAsync_CountsARequestWhileItIsServed_AndNotAfter_EvenWhenItFails()
    {
        var requests = new RequestsInFlight();
        var seen = -1;

        await requests.TrackAsync(new DefaultHttpContext(), _ =>
        {
            seen = requests.Count;
            return Task.CompletedTask;
        });
        await Assert.ThrowsAsync<InvalidOperationException>(() => requests.TrackAsync(new DefaultHttpContext(), _ => throw new InvalidOperationException()));

        Assert.Equal(1, seen);
        Assert.Equal(0, requests.Count);
    }

    [Fact]
    public async Task Busy_FromAsManyRequestsInFlightAsTheProcessHasCores_AtLeastTwo()
    {
        var requests = new RequestsInFlight();
        var release = new TaskCompletionSource();
        var running = new List<Task>();
        Assert.Equal(Math.Max(2, Environment.ProcessorCount), RequestsInFlight.BusyAt);
        for (var i = 0; i < RequestsInFlight.BusyAt - 1; i++)
        {
            running.Add(requests.TrackAsync(new DefaultHttpContext(), _ => release.Task));
        }

        var busyBelowCores = requests.Busy;
        running.Add(requests.TrackAsync(new DefaultHttpContext(), _ => release.Task));
        var busyAtCores = requests.Busy;
        release.SetResult();
        await Task.WhenAll(running);

        Assert.False(busyBelowCores);
        Assert.True(busyAtCores);
        Assert.False(requests.Busy);
    }
}
