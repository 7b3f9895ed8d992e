using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.RateLimiting;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace DialogueDb.Service.Tests.RateLimiting;

public sealed class GcraTests
{
    [Fact]
    public void Evaluate_BurstThenSteady_AdmitsExactlyTheRate()
    {
        double tat = 0;
        var admitted = 0;
        var start = 1_000_000.0;

        // 100 requests at the same instant: exactly one second of burst (the rate) gets in.
        for (var i = 0; i < 100; i++)
        {
            var (decision, next) = Gcra.Evaluate(tat, start, 10, 1);
            tat = next;
            admitted += decision.Allowed ? 1 : 0;
        }

        Assert.Equal(10, admitted);

        // Then one request every 50 ms for 2 s (20 req/s offered at a 10 req/s rate): 20 more are admitted.
        for (var ms = 50; ms <= 2000; ms += 50)
        {
            var (decision, next) = Gcra.Evaluate(tat, start + ms, 10, 1);
            tat = next;
            admitted += decision.Allowed ? 1 : 0;
        }

        Assert.Equal(30, admitted);
    }

    [Fact]
    public void Evaluate_Denied_ReportsRetryAfterAndNothingRemaining()
    {
        double tat = 0;
        RateDecision last = default;
        for (var i = 0; i < 6; i++)
        {
            (last, tat) = Gcra.Evaluate(tat, 5_000, 5, 1);
        }

        Assert.False(last.Allowed);
        Assert.Equal(0, last.Remaining);
        Assert.Equal(1, last.RetryAfterSeconds);
        Assert.Equal(5, last.Limit);
    }
}

/// <summary>§7 rate limits through the API: headers on every answer, 429 over the rate, shared exactly through Redis.</summary>
public sealed class RateLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Project(string dataDir, string projectId, long rate) =>
        TestProject.Write(dataDir, projectId, p => p with { Limits = new LimitOverrides { RequestsPerSecond = rate } }).ReadWrite;

    [Fact]
    public async Task Embedded_OverTheRate_429WithRetryAfterAndHeadersOnEveryAnswer()
    {
        using var dataDir = new TestFolder();
        var key = Project(dataDir.Path, "embedded-rate", 3);
        await using var host = await ServiceHost.StartAsync(new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0" });
        using var client = host.CreateClient(key);
        using var anonymous = host.CreateClient();

        // Unauthenticated answers carry the headers but consume nothing.
        for (var i = 0; i < 5; i++)
        {
            using var unauthorized = await anonymous.GetAsync("api/v1/dialogue", Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
            Assert.Equal("3", Header(unauthorized, "X-RateLimit-Limit"));
        }

        var remaining = new List<string>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 10 && limited is null; i++)
        {
            var response = await client.GetAsync(i % 2 == 0 ? "api/v1/dialogue" : "api/v1/no-such-route", Ct);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
            }
            else
            {
                remaining.Add(Header(response, "X-RateLimit-Remaining"));
                response.Dispose();
            }
        }

        Assert.NotNull(limited);
        Assert.True(remaining.Count is >= 3 and <= 4, string.Join(",", remaining));
        Assert.Equal(["2", "1", "0"], remaining.Take(3));
        var body = JsonNode.Parse(await limited.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("RATE_LIMIT_EXCEEDED", (string)body["error"]!["code"]!);
        Assert.Equal("rate_limit", (string)body["error"]!["type"]!);
        Assert.True(int.Parse(Header(limited, "Retry-After"), System.Globalization.CultureInfo.InvariantCulture) >= 1);
        var reset = long.Parse(Header(limited, "X-RateLimit-Reset"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(reset, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3);
        limited.Dispose();

        using var health = await anonymous.GetAsync("healthz/live", Ct);
        Assert.False(health.Headers.Contains("X-RateLimit-Limit"));
    }

    [Fact]
    public async Task TwoInstances_SharedRedis_BurstAdmitsWhatTheAlgorithmAllowsAndNoMore()
    {
        const long rate = 5;
        var redis = TestRedis.Shared();
        var projectId = "shared-" + Guid.NewGuid().ToString("N")[..8];
        using var dataDir = new TestFolder();
        var key = Project(dataDir.Path, projectId, rate);
        using var secondDir = ServiceHost.ReplicaOf(dataDir.Path);

        await using var first = await ServiceHost.StartAsync(new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", Redis = redis });
        await using var second = await ServiceHost.StartAsync(new ServiceOptions { DataDir = secondDir.Path, Urls = "https://127.0.0.1:0", Redis = redis });
        using var a = first.CreateClient(key);
        using var b = second.CreateClient(key);
        using (var warm = await a.GetAsync("healthz/ready", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        var watch = Stopwatch.StartNew();
        var statuses = await Task.WhenAll(Enumerable.Range(0, (int)(10 * rate)).Select(async i =>
        {
            using var response = await (i % 2 == 0 ? a : b).GetAsync("api/v1/memory", Ct);
            return response.StatusCode;
        }));
        var elapsed = watch.Elapsed;

        var admitted = statuses.Count(s => s == HttpStatusCode.OK);
        Assert.Equal(statuses.Length, admitted + statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.InRange(admitted, rate, rate + (long)Math.Ceiling(elapsed.TotalSeconds * rate));
        Assert.False(first.Services.GetRequiredService<ResilientRateLimiter>().Degraded);

        // The test's own connection to the shared Redis can meet a socket another test's fault injection broke: ask again.
        using var connection = await ConnectionMultiplexer.ConnectAsync(RedisConnection.Parse(redis));
        bool exists;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                exists = await connection.GetDatabase().KeyExistsAsync(RedisKeys.DefaultPrefix(projectId) + "rate");
                break;
            }
            catch (RedisConnectionException) when (attempt < 10)
            {
                await Task.Delay(500, Ct);
            }
        }

        Assert.True(exists);
    }

    [Fact]
    public async Task RedisDown_FailOpen_ServesWithoutHangingEnforcesLocallyAndRecovers()
    {
        await using var redis = await TestRedis.StartPrivateAsync();
        using var dataDir = new TestFolder();
        var key = Project(dataDir.Path, "outage", 4);
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", Redis = redis.Configuration,
        });
        using var client = host.CreateClient(key);
        var limiter = host.Services.GetRequiredService<ResilientRateLimiter>();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);
        Assert.False(limiter.Degraded);

        await redis.StopAsync();
        var statuses = new List<HttpStatusCode>();
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < 8; i++)
        {
            var watch = Stopwatch.StartNew();
            using var response = await client.GetAsync("api/v1/dialogue", Ct);
            slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
            statuses.Add(response.StatusCode);
            Assert.True(response.Headers.Contains("X-RateLimit-Remaining"));
        }

        Assert.True(limiter.Degraded);
        Assert.True(slowest < TimeSpan.FromSeconds(2), $"a request took {slowest.TotalMilliseconds} ms while Redis was down");
        Assert.Contains(HttpStatusCode.OK, statuses);
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses); // the plan rate still holds, per instance
        var ready = await client.GetStringAsync("healthz/ready", Ct);
        Assert.Contains("\"ratelimit\":\"degraded\"", ready, StringComparison.Ordinal);
        Assert.Contains("Rate limiting degraded", host.Logs.All, StringComparison.Ordinal);

        // Recovery needs no API request: a background probe notices Redis is back, and readiness follows.
        await redis.StartAsync();
        var recovered = Stopwatch.StartNew();
        while (limiter.Degraded && recovered.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(250, Ct);
        }

        Assert.False(limiter.Degraded, "the limiter did not return to Redis without a request");
        Assert.Contains("\"ratelimit\":\"healthy\"", await client.GetStringAsync("healthz/ready", Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);
        var db = (await ConnectionMultiplexer.ConnectAsync(RedisConnection.Parse(redis.Configuration))).GetDatabase();
        Assert.True(await db.KeyExistsAsync(RedisKeys.DefaultPrefix("outage") + "rate"));
    }

    [Fact]
    public async Task RedisDown_FailClosed_503WithRetryAfter()
    {
        await using var redis = await TestRedis.StartPrivateAsync();
        using var dataDir = new TestFolder();
        var key = Project(dataDir.Path, "closed", 50);
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", Redis = redis.Configuration,
            RateLimitFailureMode = RateLimitFailureMode.Closed,
        });
        using var client = host.CreateClient(key);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);

        await redis.StopAsync();
        using var response = await client.GetAsync("api/v1/dialogue", Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("1", Header(response, "Retry-After"));
        Assert.Contains("SERVICE_UNAVAILABLE", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : throw new InvalidOperationException($"no {name} header");
}
