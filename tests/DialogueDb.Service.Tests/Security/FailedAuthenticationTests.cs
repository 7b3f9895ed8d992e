using System.Net;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace DialogueDb.Service.Tests.Security;

/// <summary>Failed authentications are counted, logged as a summary, and limited per client address.</summary>
public sealed class FailedAuthenticationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Limiter_OverThePerMinuteBudget_WaitsUntilTheBucketRefills()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var failures = new FailedAuthentications(6, time, NullLogger<FailedAuthentications>.Instance);
        var attacker = IPAddress.Parse("192.0.2.1");
        var bystander = IPAddress.Parse("192.0.2.2");

        for (var i = 0; i < 6; i++)
        {
            Assert.Null(failures.RetryAfterSeconds(attacker));
            failures.Record(attacker, DialogueDb.Service.Telemetry.ServiceMetrics.AuthFailureReasons.UnknownKey);
        }

        Assert.Equal(10, failures.RetryAfterSeconds(attacker)); // one attempt back every 10 s at 6 a minute
        Assert.Null(failures.RetryAfterSeconds(bystander));
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.NotNull(failures.RetryAfterSeconds(attacker));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(failures.RetryAfterSeconds(attacker));
    }

    [Fact]
    public void Limiter_ManyAddresses_TracksABoundedNumber()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var failures = new FailedAuthentications(1, time, NullLogger<FailedAuthentications>.Instance);

        for (var i = 0; i < FailedAuthentications.MaxTrackedAddresses + 50; i++)
        {
            failures.Record(new IPAddress(BitConverter.GetBytes(0x0A000000 + i)), DialogueDb.Service.Telemetry.ServiceMetrics.AuthFailureReasons.UnknownKey);
        }

        // Past the bound, new addresses share one bucket, which is now empty.
        Assert.NotNull(failures.RetryAfterSeconds(IPAddress.None));
    }

    [Fact]
    public async Task Api_OverTheBudget_429EnvelopeForEveryKeyFromThatAddress_AndNoLinePerFailure()
    {
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "failed-auth").ReadWrite;
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0", AuthFailuresPerMinute = 5,
        });
        using var wrong = host.CreateClient("ddb_wrong");
        using var right = host.CreateClient(key);
        Assert.Equal(HttpStatusCode.OK, (await right.GetAsync("api/v1/dialogue", Ct)).StatusCode);

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("api/v1/dialogue", Ct)).StatusCode);
        }

        foreach (var client in new[] { wrong, right })
        {
            using var response = await client.GetAsync("api/v1/dialogue", Ct);
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.Contains("\"code\":\"RATE_LIMIT_EXCEEDED\"", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
            var retryAfter = int.Parse(response.Headers.RetryAfter!.ToString(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(retryAfter, 1, 12);
        }

        Assert.DoesNotContain(host.Logs.Lines, l => l.StartsWith("Information", StringComparison.Ordinal)
            && l.Contains("was not authenticated", StringComparison.Ordinal));
        Assert.Single(host.Logs.Lines, l => l.StartsWith("Information", StringComparison.Ordinal)
            && l.Contains("failed authentications since the last report", StringComparison.Ordinal));
    }
}
