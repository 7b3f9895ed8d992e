using DialogueDb.Service.RateLimiting;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace DialogueDb.Service.Tests.RateLimiting;

/// <summary>
/// Slices of the allowance leased by each replica: fewer round trips to the shared limiter, never more admitted in
/// total than the shared limiter alone would admit.
/// </summary>
public sealed class LeasingRateLimiterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(10_000, 8_000)]  // below the rate: every request admitted, far fewer shared round trips
    [InlineData(10_000, 50_000)] // five times over: never more admitted than the shared limiter alone would admit
    public async Task TwoReplicas_HighRate_ExactInTotal(int requestsPerSecond, int demandPerSecond)
    {
        long rate = requestsPerSecond;
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var shared = new CountingLimiter(new InProcessRateLimiter(time));
        var replicas = new[] { Leasing(shared, time), Leasing(shared, time) };

        // Three seconds of demand, alternately at the two replicas.
        var step = TimeSpan.FromSeconds(1.0 / demandPerSecond);
        var requests = demandPerSecond * 3;
        var admitted = 0;
        for (var i = 0; i < requests; i++)
        {
            if ((await CheckAsync(replicas[i % 2], rate)).Allowed)
            {
                admitted++;
            }

            time.Advance(step);
        }

        // GCRA with one second of burst admits at most rate × (1 + elapsed seconds); slices can only lose a little of it.
        Assert.InRange(admitted, (int)Math.Min(requests, rate * 3 * 0.9), (int)(rate * 4));
        if (demandPerSecond < rate)
        {
            Assert.Equal(requests, admitted);
            Assert.True(shared.Calls * LeasingRateLimiter.SliceOf(rate) / 2 <= requests, $"{shared.Calls} shared calls for {requests} requests");
        }
    }

    [Fact]
    public async Task TryAcquireNow_AnswersFromTheHeldSliceOnly()
    {
        const long rate = 10_000; // slices of 100
        var time = new FakeTimeProvider();
        var shared = new CountingLimiter(new InProcessRateLimiter(time));
        var limiter = Leasing(shared, time);

        // Nothing held yet: no answer, nothing taken, nobody asked.
        Assert.False(limiter.TryAcquireNow("k", rate, 1, out _));
        Assert.Equal(0, shared.Calls);

        Assert.True((await limiter.AcquireAsync("k", rate, 1, Ct)).Allowed);
        Assert.Equal(1, shared.Calls);
        var remaining = new List<long>();
        for (var i = 0; i < 74; i++)
        {
            Assert.True(limiter.TryAcquireNow("k", rate, 1, out var decision));
            Assert.True(decision.Allowed);
            remaining.Add(decision.Remaining);
        }

        // 75 of the slice's 100 taken without a round trip, each answer's remainder counted down by one.
        Assert.Equal(1, shared.Calls);
        Assert.Equal(remaining.OrderByDescending(r => r), remaining);
        Assert.Equal(74, remaining.Distinct().Count());

        // Into the last quarter: the next slice is leased ahead, still without keeping this request waiting.
        Assert.True(limiter.TryAcquireNow("k", rate, 1, out _));
        Assert.Equal(2, shared.Calls);

        // A held slice past its lifetime is not used: the request goes to the shared limiter.
        time.Advance(LeasingRateLimiter.SliceLifetime + TimeSpan.FromMilliseconds(1));
        Assert.False(limiter.TryAcquireNow("k", rate, 1, out _));
        Assert.Equal(2, shared.Calls);
    }

    [Fact]
    public async Task TryAcquireNow_KeepsAHeldRefusal_AndNeverTakesPerRequestChecks()
    {
        const long rate = 1_000; // slices of 10
        var time = new FakeTimeProvider();
        var shared = new CountingLimiter(new InProcessRateLimiter(time));
        var limiter = Leasing(shared, time);

        // Another replica spent the whole burst: this replica's request is refused, and the refusal is held.
        Assert.True((await shared.AcquireAsync("k", rate, (int)rate, Ct)).Allowed);
        Assert.False((await limiter.AcquireAsync("k", rate, 1, Ct)).Allowed);
        Assert.True(limiter.TryAcquireNow("k", rate, 1, out var held));
        Assert.False(held.Allowed);
        Assert.True(held.RetryAfterSeconds >= 1);

        // Cost 0 (unauthenticated answers) and one-request slices are always the shared limiter's to answer.
        Assert.False(limiter.TryAcquireNow("k", rate, 0, out _));
        Assert.False(limiter.TryAcquireNow("low", 50, 1, out _));
    }

    [Fact]
    public async Task ManyQuietReplicas_LeaseWhatTheyUse_AllAdmittedFarBelowTheLimit()
    {
        // 40 replicas, each asked about 9 times a second (a request every 110 ms: every slice has expired by the next), 360
        // requests/s in all against a limit of 10,000/s. Slices of a hundred each time would try to spend 36,000 a second of
        // the allowance: the window fills, slices are refused and each request costs two shared calls (a refused slice, then
        // its own check). Slices sized to each replica's demand spend about what is used, in one call per request.
        const long rate = 10_000;
        var time = new FakeTimeProvider();
        var shared = new CountingLimiter(new InProcessRateLimiter(time));
        var replicas = Enumerable.Range(0, 40).Select(_ => Leasing(shared, time)).ToArray();

        var requests = 0;
        var admitted = 0;
        for (var elapsed = TimeSpan.Zero; elapsed < TimeSpan.FromSeconds(3); elapsed += TimeSpan.FromMilliseconds(110.0 / replicas.Length))
        {
            if ((await CheckAsync(replicas[requests++ % replicas.Length], rate)).Allowed)
            {
                admitted++;
            }

            time.Advance(TimeSpan.FromMilliseconds(110.0 / replicas.Length));
        }

        Assert.Equal(requests, admitted);
        // The first lease of each replica is a full slice (nothing known yet); after that, one request per lease.
        Assert.InRange(shared.Units, requests, requests + replicas.Length * LeasingRateLimiter.SliceOf(rate));
        Assert.InRange(shared.Calls, requests / 2, requests);
    }

    [Fact]
    public async Task BusyReplica_SlicesGrowToItsDemand_FewSharedCalls()
    {
        const long rate = 1_000_000; // slices of up to 1,000
        var time = new FakeTimeProvider();
        var shared = new CountingLimiter(new InProcessRateLimiter(time));
        var limiter = Leasing(shared, time);

        // 10,000 requests/s for two seconds: a slice covers 50 ms of that demand, 500 requests.
        for (var i = 0; i < 20_000; i++)
        {
            Assert.True((await CheckAsync(limiter, rate)).Allowed);
            time.Advance(TimeSpan.FromMilliseconds(0.1));
        }

        Assert.InRange(shared.Calls, 20_000 / 1_000, 20_000 / 250);
    }

    [Fact]
    public async Task LowRate_EveryRequestIsCheckedExactly()
    {
        var time = new FakeTimeProvider();
        var shared = new CountingLimiter(new InProcessRateLimiter(time));
        var limiter = Leasing(shared, time);

        var decisions = new List<RateDecision>();
        for (var i = 0; i < 7; i++)
        {
            decisions.Add(await limiter.AcquireAsync("k", 5, 1, Ct));
        }

        Assert.Equal(5, decisions.Count(d => d.Allowed));
        Assert.Equal(7, shared.Calls);
    }

    [Fact]
    public async Task SliceRefusedAtTheBoundary_FallsBackToSingleRequests()
    {
        const long rate = 1_000;
        var time = new FakeTimeProvider();
        var shared = new CountingLimiter(new InProcessRateLimiter(time));
        var limiter = Leasing(shared, time);

        // Spend all but 3 of the burst directly on the shared limiter (another replica), then ask for 5 one by one.
        Assert.True((await shared.AcquireAsync("k", rate, (int)rate - 3, Ct)).Allowed);
        var allowed = 0;
        for (var i = 0; i < 5; i++)
        {
            if ((await limiter.AcquireAsync("k", rate, 1, Ct)).Allowed)
            {
                allowed++;
            }
        }

        Assert.Equal(3, allowed);
    }

    [Fact]
    public async Task ConcurrentRequestsOnAnEmptySlice_LeaseOnce()
    {
        const long rate = 1_000_000;
        var time = new FakeTimeProvider();
        var gate = new GatedLimiter(new InProcessRateLimiter(time));
        var limiter = Leasing(gate, time);

        // 16 requests arrive while the first lease is still on its way to the shared limiter.
        var requests = Enumerable.Range(0, 16).Select(_ => limiter.AcquireAsync("k", rate, 1, Ct).AsTask()).ToArray();
        await gate.FirstCall.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.All(requests, r => Assert.False(r.IsCompleted));
        gate.Open();
        var decisions = await Task.WhenAll(requests);

        Assert.All(decisions, d => Assert.True(d.Allowed));
        Assert.Equal(1, gate.Calls);
        // The slice's remainder is counted down across the 16, never handed out twice.
        Assert.Equal(16, decisions.Select(d => d.Remaining).Distinct().Count());
    }

    [Fact]
    public async Task FailedLease_TheWaitersTryThemselves()
    {
        var time = new FakeTimeProvider();
        var gate = new GatedLimiter(new InProcessRateLimiter(time)) { Failure = call => call == 1 ? new TimeoutException("unreachable") : null };
        var limiter = Leasing(gate, time);

        var first = limiter.AcquireAsync("k", 100_000, 1, Ct).AsTask();
        await gate.FirstCall.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        var second = limiter.AcquireAsync("k", 100_000, 1, Ct).AsTask();
        gate.Open();

        await Assert.ThrowsAsync<TimeoutException>(() => first);
        Assert.True((await second).Allowed);
        Assert.Equal(2, gate.Calls);
    }

    [Fact]
    public async Task SteadyLoad_NextSliceLeasedAhead_NobodyWaits()
    {
        const long rate = 1_000_000;
        var time = new FakeTimeProvider();
        var gate = new GatedLimiter(new InProcessRateLimiter(time));
        gate.Open();
        var limiter = Leasing(gate, time);
        var size = LeasingRateLimiter.SliceOf(rate);

        // Spend three quarters of the first slice and one more: the next slice is being leased (held at the gate) ...
        for (var i = 0; i < size * 3 / 4; i++)
        {
            Assert.True((await limiter.AcquireAsync("k", rate, 1, Ct)).Allowed);
        }

        gate.Close();
        Assert.True((await limiter.AcquireAsync("k", rate, 1, Ct)).Allowed);
        Assert.Equal(2, gate.Calls);

        // ... while the rest of the current slice is still answered at once, without a shared call.
        for (var i = size * 3 / 4 + 1; i < size; i++)
        {
            var pending = limiter.AcquireAsync("k", rate, 1, Ct);
            Assert.True(pending.IsCompleted);
            Assert.True((await pending).Allowed);
        }

        // Spent: the next request waits for the lease in flight, and then takes from the leased slice.
        var next = limiter.AcquireAsync("k", rate, 1, Ct).AsTask();
        Assert.False(next.IsCompleted);
        gate.Open();
        Assert.True((await next).Allowed);
        Assert.Equal(2, gate.Calls);
    }

    [Theory]
    [InlineData("redis-connection")]
    [InlineData("timeout")]
    [InlineData("canceled")]
    public async Task PrefetchMeetsARedisFailure_NothingLogged_TheWaiterLeasesItself(string failure)
    {
        var logs = new LogCapture();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var (limiter, gate, next) = await WaitOnAFailingPrefetchAsync(factory.CreateLogger<LeasingRateLimiter>(), failure switch
        {
            "redis-connection" => new RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None, "unreachable", null, CommandStatus.Sent),
            "timeout" => new TimeoutException("unreachable"),
            _ => new OperationCanceledException(),
        });

        Assert.True((await next.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Allowed);
        Assert.Equal(3, gate.Calls); // the failed prefetch, then the waiter's own lease
        Assert.Empty(logs.Lines);
        Assert.True((await limiter.AcquireAsync("k", Rate, 1, Ct)).Allowed);
    }

    [Fact]
    public async Task PrefetchFailsUnexpectedly_LoggedByTypeOnly_TheWaiterLeasesItself()
    {
        var logs = new LogCapture();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var (limiter, gate, next) = await WaitOnAFailingPrefetchAsync(factory.CreateLogger<LeasingRateLimiter>(), new InvalidOperationException("secret-detail"));

        Assert.True((await next.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Allowed);
        Assert.Equal(3, gate.Calls);
        var line = Assert.Single(logs.Lines);
        Assert.StartsWith("Error ", line, StringComparison.Ordinal);
        Assert.Contains(nameof(InvalidOperationException), line, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-detail", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", line, StringComparison.Ordinal);
        Assert.True((await limiter.AcquireAsync("k", Rate, 1, Ct)).Allowed);
    }

    private const long Rate = 1_000_000;

    /// <summary>
    /// A limiter whose prefetch of the next slice (the second shared call) fails with <paramref name="failure"/>, and
    /// the request that found the current slice spent waiting for that prefetch (released by the failure).
    /// </summary>
    private static async Task<(LeasingRateLimiter Limiter, GatedLimiter Gate, Task<RateDecision> Next)> WaitOnAFailingPrefetchAsync(
        ILogger<LeasingRateLimiter> logger, Exception failure)
    {
        var time = new FakeTimeProvider();
        var gate = new GatedLimiter(new InProcessRateLimiter(time)) { Failure = call => call == 2 ? failure : null };
        gate.Open();
        var limiter = Leasing(gate, time, logger);
        var size = LeasingRateLimiter.SliceOf(Rate);

        // Three quarters of the first slice and one more: the prefetch starts (held at the gate); then the rest.
        for (var i = 0; i < size * 3 / 4; i++)
        {
            Assert.True((await limiter.AcquireAsync("k", Rate, 1, Ct)).Allowed);
        }

        gate.Close();
        for (var i = size * 3 / 4; i < size; i++)
        {
            Assert.True((await limiter.AcquireAsync("k", Rate, 1, Ct)).Allowed);
        }

        var next = limiter.AcquireAsync("k", Rate, 1, Ct).AsTask();
        Assert.False(next.IsCompleted);
        Assert.Equal(2, gate.Calls);
        gate.Open();
        return (limiter, gate, next);
    }

    /// <summary>As the middleware asks: the immediate answer when the limiter holds one, else the asynchronous check.</summary>
    private static async ValueTask<RateDecision> CheckAsync(IRateLimiter limiter, long rate) =>
        limiter.TryAcquireNow("k", rate, 1, out var decision) ? decision : await limiter.AcquireAsync("k", rate, 1, Ct);

    private static LeasingRateLimiter Leasing(IRateLimiter shared, TimeProvider time, ILogger<LeasingRateLimiter>? logger = null) =>
        new(shared, time, logger ?? NullLogger<LeasingRateLimiter>.Instance);

    /// <summary>Holds every call until <see cref="Open"/>; optionally fails some (by call number) as an unreachable Redis would.</summary>
    private sealed class GatedLimiter(IRateLimiter inner) : IRateLimiter
    {
        private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _calls;

        public Func<int, Exception?> Failure { get; init; } = _ => null;

        public int Calls => Volatile.Read(ref _calls);

        public Task FirstCall => _first.Task;

        public void Open() => _open.TrySetResult();

        public void Close() => _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct)
        {
            var call = Interlocked.Increment(ref _calls);
            _first.TrySetResult();
            await _open.Task;
            return Failure(call) is { } failure ? throw failure : await inner.AcquireAsync(key, ratePerSecond, cost, ct);
        }
    }

    private sealed class CountingLimiter(IRateLimiter inner) : IRateLimiter
    {
        public int Calls { get; private set; }

        /// <summary>The requests' worth asked for in all (a slice counts its size).</summary>
        public long Units { get; private set; }

        public ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct)
        {
            Calls++;
            Units += cost;
            return inner.AcquireAsync(key, ratePerSecond, cost, ct);
        }
    }
}
