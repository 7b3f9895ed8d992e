using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using DialogueDb.Service.RateLimiting;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace DialogueDb.Benchmarks;

/// <summary>
/// The rate-limit check every API request makes when the plan has a requests/s limit, as the service composes it (the
/// breaker around the leasing limiter; the shared limiter here is the in-process GCRA instead of Redis, so a lease costs
/// no round trip and the figure is this process's own work per request). Awaited: the asynchronous check alone;
/// ImmediateFirst: the middleware's order, the held slice's answer first and the asynchronous check only without one.
/// </summary>
[MemoryDiagnoser]
public class RateLimitCheck
{
    private const long Rate = 1_000_000_000;
    // Typed as the middleware sees it: the immediate answer is reached through the interface, as in a request.
    private readonly IRateLimiter _limiter = new ResilientRateLimiter(
        new LeasingRateLimiter(new InProcessRateLimiter(TimeProvider.System), TimeProvider.System, NullLogger<LeasingRateLimiter>.Instance),
        new InProcessRateLimiter(TimeProvider.System), RateLimitFailureMode.Open, TimeProvider.System, NullLogger<ResilientRateLimiter>.Instance);

    [Benchmark(Baseline = true)]
    public async ValueTask<bool> Awaited() => (await _limiter.AcquireAsync("bench:rate", Rate, 1, CancellationToken.None)).Allowed;

    [Benchmark]
    public async ValueTask<bool> ImmediateFirst() => _limiter.TryAcquireNow("bench:rate", Rate, 1, out var decision)
        ? decision.Allowed
        : (await _limiter.AcquireAsync("bench:rate", Rate, 1, CancellationToken.None)).Allowed;

    [GlobalCleanup]
    public void Cleanup() => ((IDisposable)_limiter).Dispose();
}

/// <summary>
/// Counting one rate-limit decision per request while an OpenTelemetry reader collects the meter (metrics on): a counter
/// with the decision as its tag (the exporter looks the tag set up on every add) against a plain count read at
/// collection by an observable counter.
/// </summary>
[MemoryDiagnoser]
public class DecisionCounting : IDisposable
{
    private readonly Meter _meter = new("DialogueDb.Benchmarks.DecisionCounting");
    private readonly Counter<long> _counter;
    private readonly long[] _counts = new long[4];
    private readonly MeterProvider _provider;

    public DecisionCounting()
    {
        _counter = _meter.CreateCounter<long>("bench.decisions");
        _meter.CreateObservableCounter("bench.decisions.observed",
            () => new Measurement<long>(Volatile.Read(ref _counts[0]), new KeyValuePair<string, object?>("decision", "allowed")));
        _provider = Sdk.CreateMeterProviderBuilder().AddMeter(_meter.Name).AddInMemoryExporter(new List<Metric>()).Build()!;
    }

    [Benchmark(Baseline = true)]
    public void TaggedCounter() => _counter.Add(1, new KeyValuePair<string, object?>("decision", "allowed"));

    [Benchmark]
    public void PlainCount() => Interlocked.Increment(ref _counts[0]);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _provider.Dispose();
            _meter.Dispose();
        }
    }
}
