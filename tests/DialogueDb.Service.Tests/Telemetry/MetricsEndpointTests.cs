using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace DialogueDb.Service.Tests.Telemetry;

/// <summary>
/// Issue #17: <c>/metrics</c> on the plain-HTTP metrics listener only, counters that move by exactly the traffic sent,
/// no content, key or namespace in any label, and spans that honour <c>traceparent</c> and carry the request id.
/// </summary>
public abstract class MetricsEndpointTests(TestStore store) : HostsOnTestStore(store)
{
    private const string ContentMarker = "zebra-content-7f3a";
    private const string NamespaceMarker = "ns-okapi-91c2";

    private async Task<(ServiceHost Host, string Key, Uri Metrics)> StartAsync(LimitOverrides limits,
        Action<TracerProviderBuilder>? traces = null)
    {
        var dataDir = NewFolder().Path;
        var key = TestProject.Write(dataDir, "metrics", p => p with { Plan = PlanCatalog.Enterprise, Limits = limits }).ReadWrite;
        TestProject.WriteEncryptionKeys(dataDir);
        var port = ServiceHost.FreePort();
        var host = await StartHostAsync(new ServiceOptions
        {
            DataDir = dataDir,
            Urls = "https://127.0.0.1:0",
            MetricsUrls = $"http://127.0.0.1:{port}",
            Postgres = Postgres,
            EncryptionKeysFile = new ServiceOptions { DataDir = dataDir }.EncryptionKeysPath,
        }, traces);
        return (host, key, new Uri($"http://127.0.0.1:{port}/metrics"));
    }

    private static async Task<PrometheusText> ScrapeAsync(Uri metrics)
    {
        using var plain = new HttpClient();
        using var response = await plain.GetAsync(metrics, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Scrape_AfterKnownTraffic_CountersMoveByExactlyTheTraffic()
    {
        var (host, key, metrics) = await StartAsync(new LimitOverrides { MessagesPerMonth = 2, RequestsPerSecond = 1000 });
        using var client = host.CreateClient(key);
        using var unknownKey = host.CreateClient("ddb_sk_" + new string('x', 40));
        using var basic = host.CreateClient();
        basic.DefaultRequestHeaders.Authorization = new("Basic", "dXNlcjpwYXNz");
        var before = await ScrapeAsync(metrics);

        using (var created = await client.PostAsJsonAsync($"api/v1/dialogue?namespace={NamespaceMarker}", new { }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
            var dialogue = (string)JsonNode.Parse(await created.Content.ReadAsStringAsync(Ct))!["id"]!;
            for (var i = 0; i < 3; i++)
            {
                using var appended = await client.PostAsJsonAsync($"api/v1/message?dialogueId={dialogue}&namespace={NamespaceMarker}",
                    new { role = "user", content = $"{ContentMarker} {i}" }, Ct);
                Assert.Equal(i < 2 ? HttpStatusCode.OK : HttpStatusCode.TooManyRequests, appended.StatusCode);
            }
        }

        for (var i = 0; i < 4; i++)
        {
            using var list = await client.GetAsync($"api/v1/dialogue?namespace={NamespaceMarker}", Ct);
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        }

        for (var i = 0; i < 2; i++)
        {
            using var denied = await unknownKey.GetAsync("api/v1/dialogue", Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        }

        using (var malformed = await basic.GetAsync("api/v1/dialogue", Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, malformed.StatusCode);
        }

        await host.Services.GetRequiredService<QuotaUsage>().RefreshAsync(Ct);
        var after = await ScrapeAsync(metrics);

        double Delta(string name, params (string, string)[] labels) => after.Value(name, labels) - before.Value(name, labels);

        // 1 create + 3 appends + 4 lists + 3 unauthenticated: every one passed the limiter, none was limited.
        Assert.Equal(11, Delta("dialoguedb_ratelimit_decisions_total", ("decision", "allowed")));
        Assert.Equal(0, Delta("dialoguedb_ratelimit_decisions_total", ("decision", "limited")));
        Assert.Equal(1, Delta("dialoguedb_plan_limit_exceeded_total", ("kind", "messages")));
        Assert.Equal(2, Delta("dialoguedb_auth_failures_total", ("reason", "unknown_key")));
        Assert.Equal(1, Delta("dialoguedb_auth_failures_total", ("reason", "malformed_header")));
        Assert.Equal(4, Delta("http_server_request_duration_seconds_count",
            ("http_route", "/api/v1/dialogue"), ("http_request_method", "GET"), ("http_response_status_class", "2xx")));
        Assert.Equal(1, Delta("http_server_request_duration_seconds_count",
            ("http_route", "/api/v1/message"), ("http_response_status_code", "429"), ("http_response_status_class", "4xx")));
        Assert.Equal(2, after.Value("dialoguedb_quota_used", ("kind", "messages")));
        Assert.Equal(2, after.Value("dialoguedb_quota_limit", ("kind", "messages")));
        // Per-request instruments that nothing reads are not even recorded (TelemetrySetup.PerOperationNoise); the
        // request duration above carries every request's route and status.
        Assert.DoesNotContain(after.Samples, s => s.Name.StartsWith("aspnetcore_routing_", StringComparison.Ordinal));
        Assert.DoesNotContain(after.Samples, s => s.Name.StartsWith("db_client_commands_", StringComparison.Ordinal));
        // ASP.NET Core's meters are named, not added through the OpenTelemetry package's instrumentation: Kestrel's and the
        // request histogram are exported, and no middleware of that package runs in front of every request.
        Assert.Contains(after.Samples, s => s.Name.StartsWith("kestrel_active_connections", StringComparison.Ordinal));
        Assert.Contains(after.Samples, s => s.Name.StartsWith("http_server_active_requests", StringComparison.Ordinal));
        Assert.DoesNotContain(host.Services.GetServices<Microsoft.AspNetCore.Hosting.IStartupFilter>(),
            f => f.GetType().Assembly.GetName().Name!.StartsWith("OpenTelemetry", StringComparison.Ordinal));
        if (Postgres is not null)
        {
            // The pool's instruments stay.
            Assert.Contains(after.Samples, s => s.Name.StartsWith("db_client_connection", StringComparison.Ordinal));
        }

        // Unlimited kinds are not counted and have no gauge.
        Assert.DoesNotContain(after.Samples, s => s.Name.StartsWith("dialoguedb_quota_", StringComparison.Ordinal) && s.Labels["kind"] == "dialogues");

        // Nothing sensitive anywhere in the exposition: no content, no namespace, no key, no dialogue path.
        Assert.DoesNotContain(ContentMarker, after.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(NamespaceMarker, after.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(key, after.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(key[..12], after.Text, StringComparison.Ordinal);
        Assert.All(after.Samples.SelectMany(s => s.Labels), label =>
            Assert.DoesNotMatch("(?i)^(namespace|content|key|api_key|authorization|url_query|url_full)$", label.Key));
    }

    [Fact]
    public async Task Metrics_ServedOnTheMetricsListenerOnly_NeverOnTheApiPortAndNoApiDataOnThePlainPort()
    {
        var (host, key, metrics) = await StartAsync(new LimitOverrides());
        using var client = host.CreateClient(key);
        using (var onApiPort = await client.GetAsync("metrics", Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, onApiPort.StatusCode);
            Assert.DoesNotContain("dialoguedb_", await onApiPort.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        using var plain = new HttpClient { BaseAddress = new Uri(metrics, "/") };
        plain.DefaultRequestHeaders.Authorization = new("Bearer", key);
        using (var api = await plain.GetAsync("api/v1/dialogue", Ct))
        {
            Assert.Equal(HttpStatusCode.Forbidden, api.StatusCode);
            Assert.Equal("HTTPS_REQUIRED", (string)JsonNode.Parse(await api.Content.ReadAsStringAsync(Ct))!["error"]!["code"]!);
        }

        using var scrape = await plain.GetAsync("metrics", Ct);
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        Assert.StartsWith("text/plain", scrape.Content.Headers.ContentType!.MediaType, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Traces_TraceparentHonoured_RequestIdOnTheSpan_NoQueryOrContent()
    {
        var spans = new List<Activity>();
        var (host, key, _) = await StartAsync(new LimitOverrides(), traces => traces.AddInMemoryExporter(spans));
        using var client = host.CreateClient(key);
        var traceId = ActivityTraceId.CreateRandom();
        var parent = ActivitySpanId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"api/v1/dialogue?namespace={NamespaceMarker}")
        {
            Content = JsonContent.Create(new { messages = new[] { new { role = "user", content = ContentMarker } } }),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{parent}-01");
        using var response = await client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var requestId = response.Headers.GetValues("X-Request-Id").Single();

        // The server span ends as the response completes: wait for it (bounded), then for the relay's publication.
        var server = await WaitForAsync(spans, s => s.Kind == ActivityKind.Server && s.TraceId == traceId);
        Assert.Equal(parent, server.ParentSpanId);
        Assert.Equal(requestId, server.GetTagItem("dialoguedb.request_id"));
        Assert.Equal("/api/v1/dialogue", server.GetTagItem("http.route"));
        Assert.Null(server.GetTagItem("url.query"));
        if (Postgres is null)
        {
            // Embedded mode runs the relay in the process (on PostgreSQL these hosts run none).
            await WaitForAsync(spans, s => s.Source.Name == "DialogueDb.Relay");
        }
        else
        {
            Assert.Contains(spans.ToList(), s => s.TraceId == traceId && s.Source.Name == "Npgsql");
        }

        foreach (var span in spans.ToList())
        {
            Assert.DoesNotContain(ContentMarker, span.DisplayName, StringComparison.Ordinal);
            foreach (var (name, value) in span.TagObjects)
            {
                var text = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
                Assert.DoesNotContain(ContentMarker, text, StringComparison.Ordinal);
                Assert.DoesNotContain(NamespaceMarker, text, StringComparison.Ordinal);
                Assert.DoesNotContain(key, text, StringComparison.Ordinal);
            }
        }
    }

    private static async Task<Activity> WaitForAsync(List<Activity> spans, Func<Activity, bool> match)
    {
        for (var i = 0; i < 200; i++)
        {
            lock (spans)
            {
                if (spans.FirstOrDefault(match) is { } found)
                {
                    return found;
                }
            }

            await Task.Delay(50, Ct);
        }

        Assert.Fail("No such span within 10 s: " + string.Join(", ", spans.ToList().Select(s => $"{s.Source.Name}/{s.DisplayName}")));
        return null!;
    }
}

public sealed class MetricsEndpointSqlite() : MetricsEndpointTests(TestStore.Sqlite);

public sealed class MetricsEndpointPostgres() : MetricsEndpointTests(TestStore.Postgres);
