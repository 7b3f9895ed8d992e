using DialogueDb.Service.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>A failing background service is contained, restarted with backoff and shown in readiness; a fatal one exits 1.</summary>
public sealed class SupervisedServiceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Crash_IsContainedShownAndRestartedAfterTheBackoff()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var inner = new FlakyService(failures: 2);
        var lifetime = new RecordingLifetime();
        int? exitCode = null;
        var supervised = new SupervisedService("relay", inner, time, lifetime, NullLogger<SupervisedService>.Instance, c => exitCode = c);
        var health = new SupervisedServicesHealthCheck([supervised]);

        await supervised.StartAsync(Ct);
        await UntilAsync(() => supervised.Failures == 1);
        Assert.Equal(HealthStatus.Degraded, (await health.CheckHealthAsync(new HealthCheckContext(), Ct)).Status);
        Assert.Equal(1, inner.Starts);

        time.Advance(TimeSpan.FromSeconds(1)); // first backoff
        await UntilAsync(() => supervised.Failures == 2);
        time.Advance(TimeSpan.FromSeconds(2)); // doubled
        await UntilAsync(() => inner.Running);

        Assert.Equal(3, inner.Starts);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(new HealthCheckContext(), Ct)).Status);
        Assert.False(lifetime.Stopped);
        Assert.Null(exitCode);
        await supervised.StopAsync(Ct);
    }

    [Fact]
    public async Task FatalFailure_StopsTheProcessWithExitCodeOne()
    {
        var lifetime = new RecordingLifetime();
        int? exitCode = null;
        var supervised = new SupervisedService("relay", new FatalService(), TimeProvider.System, lifetime,
            NullLogger<SupervisedService>.Instance, c => exitCode = c);

        await supervised.StartAsync(Ct);
        await UntilAsync(() => lifetime.Stopped);

        Assert.Equal(1, exitCode);
        await supervised.StopAsync(Ct);
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10, Ct);
        }

        Assert.True(condition());
    }

    private sealed class FlakyService(int failures) : BackgroundService
    {
        public int Starts;
        public volatile bool Running;

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            if (Interlocked.Increment(ref Starts) <= failures)
            {
                await Task.Yield();
                throw new InvalidOperationException("data key 3 is not in the key ring");
            }

            Running = true;
            await Task.Delay(Timeout.Infinite, stoppingToken);
        }
    }

    private sealed class FatalService : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Yield();
            throw new InsufficientExecutionStackException();
        }
    }

    private sealed class RecordingLifetime : IHostApplicationLifetime
    {
        public volatile bool Stopped;

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => Stopped = true;
    }
}
