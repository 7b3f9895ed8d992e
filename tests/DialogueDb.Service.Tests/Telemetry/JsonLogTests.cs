using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Telemetry;

/// <summary>
/// Issue #17: <c>DIALOGUEDB_LOG_FORMAT=json</c> on the real <c>dialoguedb serve</c> process: every line of its standard
/// output is one JSON object; a line written while serving a request carries the request id of its answer and the
/// trace and span ids (the trace id the client sent in <c>traceparent</c>); no content, key or namespace is in any line.
/// </summary>
public sealed class JsonLogTests
{
    private const string ContentMarker = "zebra-content-51d7";
    private const string NamespaceMarker = "ns-okapi-0e4b";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Serve_JsonFormat_OneObjectPerLine_WithRequestAndTraceIds_NoContentOrKey()
    {
        using var dataDir = new TestFolder();
        // The project exists before the start: a first start in embedded mode prints the new key for a person (not JSON).
        var key = TestProject.Write(dataDir.Path, "json-logs", p => p with { Plan = PlanCatalog.Enterprise }).ReadWrite;
        TestProject.WriteEncryptionKeys(dataDir.Path);
        var port = ServiceHost.FreePort();
        var wrongKey = "ddb_sk_" + new string('q', 40);
        var lines = new ConcurrentQueue<string>();
        using var process = Start(dataDir.Path, port, lines);
        try
        {
            await UntilAsync(() => File.Exists(Path.Combine(dataDir.Path, "tls", "ca.crt")) && lines.Any(l => l.Contains("Now listening", StringComparison.Ordinal)),
                process, lines, "the service listens");
            using var ca = LocalCa.Load(dataDir.Path);
            using var client = LocalCa.CreateClient(new Uri($"https://127.0.0.1:{port}"), ca);
            client.DefaultRequestHeaders.Authorization = new("Bearer", key);
            using (var created = await client.PostAsJsonAsync($"api/v1/dialogue?namespace={NamespaceMarker}", new { }, Ct))
            {
                Assert.Equal(HttpStatusCode.OK, created.StatusCode);
                var dialogue = (string)System.Text.Json.Nodes.JsonNode.Parse(await created.Content.ReadAsStringAsync(Ct))!["id"]!;
                using var appended = await client.PostAsJsonAsync($"api/v1/message?dialogueId={dialogue}&namespace={NamespaceMarker}",
                    new { role = "user", content = ContentMarker }, Ct);
                Assert.Equal(HttpStatusCode.OK, appended.StatusCode);
            }

            // A failed authentication is logged (the first one of a minute, as a summary) while its request is served.
            const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
            using var refused = new HttpRequestMessage(HttpMethod.Get, $"api/v1/dialogue?namespace={NamespaceMarker}");
            refused.Headers.Authorization = new("Bearer", wrongKey);
            refused.Headers.Add("traceparent", $"00-{traceId}-00f067aa0ba902b7-01");
            using var answer = await client.SendAsync(refused, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
            var requestId = answer.Headers.GetValues("X-Request-Id").Single();

            await UntilAsync(() => lines.Any(l => l.Contains(requestId, StringComparison.Ordinal)), process, lines,
                "the line of the refused request is written");
            var objects = lines.Select(line => Parse(line, lines)).ToList();
            var inRequest = objects.Single(o => Scopes(o).Any(s => s.TryGetProperty("requestId", out var id) && id.GetString() == requestId));
            var scopes = Scopes(inRequest).ToList();
            Assert.Contains(scopes, s => s.TryGetProperty("TraceId", out var id) && id.GetString() == traceId);
            Assert.Contains(scopes, s => s.TryGetProperty("SpanId", out var id) && id.GetString() is { Length: 16 } span && span.All(char.IsAsciiHexDigitLower));
            Assert.Equal("Information", inRequest.GetProperty("LogLevel").GetString());
            Assert.All(objects, o => Assert.True(o.TryGetProperty("Timestamp", out _) && o.TryGetProperty("Category", out _)));
            foreach (var secret in new[] { ContentMarker, NamespaceMarker, key, wrongKey })
            {
                Assert.DoesNotContain(lines, l => l.Contains(secret, StringComparison.Ordinal));
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static Process Start(string dataDir, int port, ConcurrentQueue<string> lines)
    {
        var start = CliProcess.StartInfo(["serve"]);
        start.Environment["DIALOGUEDB_DATA_DIR"] = dataDir;
        start.Environment["DIALOGUEDB_URLS"] = $"https://127.0.0.1:{port}";
        start.Environment["DIALOGUEDB_METRICS_URLS"] = "";
        start.Environment["DIALOGUEDB_LOG_FORMAT"] = "json";
        var process = Process.Start(start) ?? throw new InvalidOperationException("dialoguedb serve did not start");
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lines.Enqueue(e.Data);
            }
        };
        // Standard error stays out of the check (the JSON console writes every level to standard output).
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static JsonElement Parse(string line, IEnumerable<string> all)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            Assert.Fail($"Not one JSON object: {line}\n{string.Join('\n', all)}");
            throw;
        }
    }

    private static IEnumerable<JsonElement> Scopes(JsonElement entry) =>
        entry.TryGetProperty("Scopes", out var scopes) ? scopes.EnumerateArray().Where(s => s.ValueKind == JsonValueKind.Object) : [];

    private static async Task UntilAsync(Func<bool> condition, Process process, IEnumerable<string> lines, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (process.HasExited || clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                Assert.Fail($"Waiting until {what}: {(process.HasExited ? $"exited with {process.ExitCode}" : "timed out")}\n{string.Join('\n', lines)}");
            }

            await Task.Delay(100, Ct);
        }
    }
}
