using System.Diagnostics;
using System.Net;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.RateLimiting;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using Testcontainers.Redis;

namespace DialogueDb.Service.Tests.Containers;

/// <summary>
/// The shared rate limiter when Redis fails in the ways a container shows best: paused (`docker pause`: the connection
/// stays open and nothing answers, as in a network partition) and stopped then started again without persistence (every
/// key gone). The loopback redis-server tests in RateLimitTests cover a refused connection.
/// </summary>
[Collection(typeof(ContainerFaultTestsRunAlone))]
public sealed class RedisContainerFaultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RedisPaused_FailOpen_NoRequestHangsThePlanRateHoldsPerInstanceAndRedisIsUsedAgainAfterUnpause()
    {
        await ContainerEngine.RequireAsync(ContainerEngine.RedisImage);
        await using var redis = await StartRedisAsync(ContainerEngine.FreeHostPort());
        using var dataDir = new TestFolder();
        var key = Project(dataDir.Path, "paused-open", 4);
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", Redis = Configuration(redis),
        });
        using var client = host.CreateClient(key);
        var limiter = host.Services.GetRequiredService<ResilientRateLimiter>();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);
        Assert.False(limiter.Degraded);

        await redis.PauseAsync(Ct);
        var statuses = new List<HttpStatusCode>();
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < 10; i++)
        {
            var watch = Stopwatch.StartNew();
            using var response = await client.GetAsync("api/v1/dialogue", Ct);
            slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
            statuses.Add(response.StatusCode);
        }

        // A paused Redis never refuses: only the limiter's short command timeout and circuit breaker keep requests moving.
        Assert.True(limiter.Degraded, "the limiter should have given up on the paused Redis");
        Assert.True(slowest < TimeSpan.FromSeconds(2), $"a request took {slowest.TotalMilliseconds} ms while Redis was paused");
        Assert.Contains(HttpStatusCode.OK, statuses);
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        Assert.Contains("\"ratelimit\":\"degraded\"", await client.GetStringAsync("healthz/ready", Ct), StringComparison.Ordinal);

        await redis.UnpauseAsync(Ct);
        await AwaitRecoveryAsync(client, limiter);
        var db = (await ConnectionMultiplexer.ConnectAsync(RedisConnection.Parse(Configuration(redis)))).GetDatabase();
        Assert.True(await db.KeyExistsAsync(RedisKeys.DefaultPrefix("paused-open") + "rate"));
    }

    [Fact]
    public async Task RedisPaused_FailClosed_503WithRetryAfterWithoutHangingThenServesAfterUnpause()
    {
        await ContainerEngine.RequireAsync(ContainerEngine.RedisImage);
        await using var redis = await StartRedisAsync(ContainerEngine.FreeHostPort());
        using var dataDir = new TestFolder();
        var key = Project(dataDir.Path, "paused-closed", 50);
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", Redis = Configuration(redis),
            RateLimitFailureMode = RateLimitFailureMode.Closed,
        });
        using var client = host.CreateClient(key);
        var limiter = host.Services.GetRequiredService<ResilientRateLimiter>();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);

        await redis.PauseAsync(Ct);
        var watch = Stopwatch.StartNew();
        using (var response = await client.GetAsync("api/v1/dialogue", Ct))
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"the request took {watch.ElapsedMilliseconds} ms while Redis was paused");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("1", Assert.Single(response.Headers.GetValues("Retry-After")));
            Assert.Contains("SERVICE_UNAVAILABLE", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        await redis.UnpauseAsync(Ct);
        await AwaitRecoveryAsync(client, limiter);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);
    }

    [Fact]
    public async Task RedisStoppedAndStartedAgainWithoutPersistence_ServesMeanwhileAndRebuildsItsKeysInTheNewRedis()
    {
        await ContainerEngine.RequireAsync(ContainerEngine.RedisImage);
        var port = ContainerEngine.FreeHostPort();
        await using var redis = await StartRedisAsync(port);
        using var dataDir = new TestFolder();
        var key = Project(dataDir.Path, "restarted", 4);
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", Redis = Configuration(redis),
        });
        using var client = host.CreateClient(key);
        var limiter = host.Services.GetRequiredService<ResilientRateLimiter>();
        var rateKey = RedisKeys.DefaultPrefix("restarted") + "rate";
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);

        // The container's Redis keeps nothing on disk (no RDB, no AOF): a restart comes back empty, like a pod without a volume.
        await redis.StopAsync(Ct);
        using (var response = await client.GetAsync("api/v1/dialogue", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.True(limiter.Degraded);
        await redis.StartAsync(Ct);
        Assert.Equal(port, redis.GetMappedPublicPort(RedisBuilder.RedisPort));
        var db = (await ConnectionMultiplexer.ConnectAsync(RedisConnection.Parse(Configuration(redis)))).GetDatabase();
        Assert.False(await db.KeyExistsAsync(rateKey), "the restarted Redis should start empty");

        await AwaitRecoveryAsync(client, limiter);
        // Recovery is the probe's finding, not a request's: the first request after it writes the limiter's key (which
        // lives about a second), so look right after a request.
        var written = false;
        for (var attempt = 0; attempt < 20 && !written; attempt++)
        {
            using (await client.GetAsync("api/v1/dialogue", Ct))
            {
            }

            written = await db.KeyExistsAsync(rateKey);
        }

        Assert.True(written, "the limiter should write its state into the new Redis");
    }

    /// <summary>A Redis container on a fixed loopback port (so a stop and start keeps the address), without persistence.</summary>
    private static async Task<RedisContainer> StartRedisAsync(int hostPort)
    {
        var container = new RedisBuilder(ContainerEngine.RedisImage)
            .WithPortBinding(hostPort, RedisBuilder.RedisPort)
            .WithCommand("--save", "", "--appendonly", "no")
            .Build();
        await container.StartAsync(Ct);
        return container;
    }

    private static string Configuration(RedisContainer redis) => $"redis://127.0.0.1:{redis.GetMappedPublicPort(RedisBuilder.RedisPort)}";

    private static async Task AwaitRecoveryAsync(HttpClient client, ResilientRateLimiter limiter)
    {
        var watch = Stopwatch.StartNew();
        while (limiter.Degraded && watch.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(250, Ct);
            using var _ = await client.GetAsync("api/v1/dialogue", Ct);
        }

        Assert.False(limiter.Degraded, "the limiter did not return to Redis");
    }

    private static string Project(string dataDir, string projectId, long rate) =>
        TestProject.Write(dataDir, projectId, p => p with { Limits = new LimitOverrides { RequestsPerSecond = rate } }).ReadWrite;
}
