using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>
/// Requests Kestrel rejects while parsing them, before any middleware runs (issue 14 §3): each answer still carries the
/// contract's error envelope, framed correctly (its Content-Length is the body's, its X-Request-Id the body's requestId,
/// the connection closed), and nothing is logged as an error. Sent over raw TLS sockets: HttpClient refuses to send them.
/// </summary>
public abstract class KestrelRejections(ApiFixture api) : ConformanceTest(api)
{
    public static TheoryData<string, string, int, string> Requests => new()
    {
        { "garbage request line", "GARBAGE\r\n\r\n", 400, "INVALID_PARAMETER" },
        { "NUL in the target", "GET /api/v1/dialogue\0x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "INVALID_PARAMETER" },
        { "bad path escape", "GET /api/v1/%00%ff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "INVALID_PARAMETER" },
        { "space in a header name", "GET /api/v1/dialogue HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: x\r\n\r\n", 400, "INVALID_PARAMETER" },
        { "folded header", "GET /api/v1/dialogue HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n b\r\n\r\n", 400, "INVALID_PARAMETER" },
        { "NUL in a header", "GET /api/v1/dialogue HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\0b\r\n\r\n", 400, "INVALID_PARAMETER" },
        { "missing Host", "GET /api/v1/dialogue HTTP/1.1\r\n\r\n", 400, "INVALID_PARAMETER" },
        { "two Hosts", "GET /api/v1/dialogue HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "INVALID_PARAMETER" },
        {
            "conflicting Content-Length",
            "POST /api/v1/dialogue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "INVALID_PARAMETER"
        },
        { "HTTP/1.2", "GET /api/v1/dialogue HTTP/1.2\r\nHost: 127.0.0.1\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED" },
        { "HTTP/3.0 in the request line", "GET /api/v1/dialogue HTTP/3.0\r\nHost: 127.0.0.1\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED" },
        { "URI too long", $"GET /api/v1/dialogue?x={new string('a', 20_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "URI_TOO_LONG" },
        {
            "headers too large", $"GET /api/v1/dialogue HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {new string('a', 40_000)}\r\n\r\n",
            431, "HEADERS_TOO_LARGE"
        },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task RejectedWhileParsing_AnswersTheEnvelope(string what, string request, int status, string code)
    {
        var answer = await RawHttps.SendAsync(Api.BaseAddress, Api.DataDir, Encoding.Latin1.GetBytes(request), Ct);

        RejectionAnswer.AssertEnvelope(what, answer, status, code);
        RejectionAnswer.AssertNoErrorLogged(Api.Logs);
    }

    [Fact]
    public async Task ValidRequestsOnTheSameConnection_Unchanged_ThenRejectionEnveloped()
    {
        // Two good requests and then a bad one on one connection: the good answers pass through untouched.
        var good = $"GET /api/v1/dialogue?namespace={NewNamespace()} HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                   $"Authorization: Bearer {Api.ApiKey}\r\n\r\n";
        var answer = await RawHttps.SendAsync(Api.BaseAddress, Api.DataDir,
            Encoding.ASCII.GetBytes(good + good + "GET /api/v1/dialogue HTTP/1.2\r\nHost: 127.0.0.1\r\n\r\n"), Ct);

        // Each answer's status line starts the stream or follows the previous answer's JSON body.
        var starts = Regex.Matches(answer, @"(?:^|\})HTTP/1\.1 (\d{3}) ").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["200", "200", "505"], starts);
        Assert.Equal(2, answer.Split("{\"items\":[]").Length - 1);
        var last = answer[answer.LastIndexOf("HTTP/1.1 505", StringComparison.Ordinal)..];
        RejectionAnswer.AssertEnvelope("after two good requests", last, 505, "HTTP_VERSION_NOT_SUPPORTED");
        RejectionAnswer.AssertNoErrorLogged(Api.Logs);
    }

    [Fact]
    public async Task RejectedHead_HeadersOnly()
    {
        var answer = await RawHttps.SendAsync(Api.BaseAddress, Api.DataDir,
            Encoding.ASCII.GetBytes("HEAD /api/v1/dialogue HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), Ct);

        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Length: 0\r\n", answer, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task BodyTooSlow_RequestTimeoutEnvelope()
    {
        // Kestrel's minimum body rate (240 bytes/s after a 5 s grace) ends a body that never comes; the application
        // reading it answers (issue 14 §3: it said INVALID_PARAMETER).
        var request = $"POST /api/v1/dialogue?namespace={NewNamespace()} HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                      $"Authorization: Bearer {Api.ApiKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{";

        var answer = await RawHttps.SendAsync(Api.BaseAddress, Api.DataDir, Encoding.ASCII.GetBytes(request), Ct,
            TimeSpan.FromSeconds(30));

        RejectionAnswer.AssertEnvelope("slow body", answer, 408, "REQUEST_TIMEOUT", byKestrel: false);
        RejectionAnswer.AssertNoErrorLogged(Api.Logs);
    }
}

public sealed class KestrelRejectionsSqlite(SqliteApiFixture api) : KestrelRejections(api), IClassFixture<SqliteApiFixture>;

public sealed class KestrelRejectionsPostgres(PostgresApiFixture api) : KestrelRejections(api), IClassFixture<PostgresApiFixture>;
