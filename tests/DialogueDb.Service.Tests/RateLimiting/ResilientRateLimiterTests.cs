using DialogueDb.Service.RateLimiting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace DialogueDb.Service.Tests.RateLimiting;

/// <summary>The breaker around the shared limiter, and its immediate answers (no Redis needed: the shared side is scripted).</summary>
public sealed class ResilientRateLimiterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TryAcquireNow_OnlyWhileTheBreakerIsClosedAndRecoveryWasSeenByACheck()
    {
        var time = new FakeTimeProvider();
        var shared = new ScriptedLimiter();
        using var limiter = new ResilientRateLimiter(shared, new InProcessRateLimiter(time), RateLimitFailureMode.Open, time,
            NullLogger<ResilientRateLimiter>.Instance);

        Assert.True(limiter.TryAcquireNow("k", 100, 1, out var now));
        Assert.True(now.Allowed);

        // Redis fails: the check falls back to this instance and opens the breaker; no immediate answer meanwhile.
        shared.Failing = true;
        Assert.True((await limiter.AcquireAsync("k", 100, 1, Ct)).Allowed);
        Assert.True(limiter.Degraded);
        Assert.False(limiter.TryAcquireNow("k", 100, 1, out _));

        // Redis is back and the pause is over, but only a full check may declare the recovery (and log it).
        shared.Failing = false;
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.False(limiter.TryAcquireNow("k", 100, 1, out _));
        Assert.True((await limiter.AcquireAsync("k", 100, 1, Ct)).Allowed);
        Assert.False(limiter.Degraded);
        Assert.True(limiter.TryAcquireNow("k", 100, 1, out _));
    }

    /// <summary>Answers every check as allowed, or fails as an unreachable Redis does.</summary>
    private sealed class ScriptedLimiter : IRateLimiter
    {
        private static readonly RateDecision Allowed = new(true, 100, 99, 0, 0);

        public bool Failing { get; set; }

        public ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct) => Failing
            ? throw new TimeoutException("unreachable")
            : ValueTask.FromResult(Allowed);

        public bool TryAcquireNow(string key, long ratePerSecond, int cost, out RateDecision decision)
        {
            decision = Allowed;
            return !Failing;
        }
    }
}
