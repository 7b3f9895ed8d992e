using System.Text;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>
/// Requests Kestrel rejects while parsing them, before any middleware runs (issue 14 §3): each answer still carries the
/// contract's error envelope, framed correctly (its Content-Length is the body's, its X-Request-Id the body's requestId),
/// and nothing is logged as an error. Sent over raw TLS sockets: HttpClient refuses to send such requests.
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
            "conflicting Content-Length", "POST /api/v1/dialogue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400, "INVALID_PARAMETER"
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

        Assert.True(answer.StartsWith($"HTTP/1.1 {status} ", StringComparison.Ordinal), $"{what}: {answer[..Math.Min(200, answer.Length)]}");
        var split = answer.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = answer[..split].Split("\r\n").Skip(1).Select(h => h.Split(": ", 2)).ToDictionary(h => h[0], h => h[1],
            StringComparer.OrdinalIgnoreCase);
        var body = answer[(split + 4)..];
        Assert.Equal("application/json; charset=utf-8", head["Content-Type"]);
        Assert.Equal(Encoding.UTF8.GetByteCount(body), int.Parse(head["Content-Length"], System.Globalization.CultureInfo.InvariantCulture));
        var error = JsonNode.Parse(body)!["error"]!;
        Assert.Equal(code, (string)error["code"]!);
        Assert.Equal("validation_error", (string)error["type"]!);
        Assert.Equal(head["X-Request-Id"], (string)error["requestId"]!);
        Assert.Equal("close", head["Connection"]);
        AssertNoErrorLogged();
    }

    [Fact]
    public async Task ValidRequestsOnTheSameConnection_Unchanged_ThenRejectionEnveloped()
    {
        // Two good requests and then a bad one on one connection: the good answers pass through untouched.
        var good = $"GET /api/v1/dialogue?namespace={NewNamespace()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {Api.ApiKey}\r\n\r\n";
        var answer = await RawHttps.SendAsync(Api.BaseAddress, Api.DataDir,
            Encoding.ASCII.GetBytes(good + good + "GET /api/v1/dialogue HTTP/1.2\r\nHost: 127.0.0.1\r\n\r\n"), Ct);

        // Each answer's status line starts the stream or follows the previous answer's JSON body.
        var starts = Regex.Matches(answer, @"(?:^|\})HTTP/1\.1 (\d{3}) ").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["200", "200", "505"], starts);
        Assert.Equal(2, answer.Split("{\"items\":[]").Length - 1);
        Assert.EndsWith("}}", answer, StringComparison.Ordinal);
        AssertNoErrorLogged();
    }

    private void AssertNoErrorLogged()
    {
        var errors = Api.Logs.Lines.Where(l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal)
            || l.Contains("   at ", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 0, "a rejected request was logged as an error:\n" + string.Join('\n', errors.Take(3)));
    }
}

public sealed class KestrelRejectionsSqlite(SqliteApiFixture api) : KestrelRejections(api), IClassFixture<SqliteApiFixture>;

public sealed class KestrelRejectionsPostgres(PostgresApiFixture api) : KestrelRejections(api), IClassFixture<PostgresApiFixture>;
