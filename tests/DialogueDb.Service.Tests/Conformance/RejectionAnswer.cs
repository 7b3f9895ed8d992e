using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>Checks on a raw HTTP/1.1 answer to a request the server rejected before the application saw it.</summary>
internal static class RejectionAnswer
{
    /// <summary>
    /// One answer: the status, the envelope with the code and the answer's request id, framed by its Content-Length (or
    /// chunked, as the application writes it), and the connection closed (said so when Kestrel wrote the head).
    /// </summary>
    public static void AssertEnvelope(string what, string answer, int status, string code, bool byKestrel = true)
    {
        var start = answer[..Math.Min(300, answer.Length)];
        Assert.True(answer.StartsWith($"HTTP/1.1 {status} ", StringComparison.Ordinal), $"{what}: {start}");
        var split = answer.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(split > 0, $"{what}: no end of head in {start}");
        var head = answer[..split].Split("\r\n").Skip(1).Select(h => h.Split(": ", 2)).ToDictionary(h => h[0], h => h[1],
            StringComparer.OrdinalIgnoreCase);
        var body = answer[(split + 4)..];
        Assert.Equal("application/json; charset=utf-8", head["Content-Type"]);
        if (head.TryGetValue("Transfer-Encoding", out var encoding) && encoding == "chunked")
        {
            body = Dechunk(body);
        }
        else
        {
            Assert.Equal(Encoding.UTF8.GetByteCount(body), int.Parse(head["Content-Length"], CultureInfo.InvariantCulture));
        }

        var error = JsonNode.Parse(body)!["error"]!;
        Assert.Equal(code, (string)error["code"]!);
        Assert.Equal("validation_error", (string)error["type"]!);
        Assert.Equal(head["X-Request-Id"], (string)error["requestId"]!);
        if (byKestrel)
        {
            Assert.Equal("close", head["Connection"]);
        }
    }

    private static string Dechunk(string chunked)
    {
        var body = new StringBuilder();
        var at = 0;
        while (true)
        {
            var end = chunked.IndexOf("\r\n", at, StringComparison.Ordinal);
            var size = int.Parse(chunked.AsSpan(at, end - at), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                return body.ToString();
            }

            body.Append(chunked, end + 2, size);
            at = end + 2 + size + 2;
        }
    }

    /// <summary>No error, and no stack trace at a level a production log shows (Kestrel's own Debug lines carry one).</summary>
    public static void AssertNoErrorLogged(LogCapture logs)
    {
        var errors = logs.Lines.Where(l => l.StartsWith("Error", StringComparison.Ordinal)
            || l.StartsWith("Critical", StringComparison.Ordinal)
            || (!l.StartsWith("Debug", StringComparison.Ordinal) && !l.StartsWith("Trace", StringComparison.Ordinal)
                && l.Contains("   at ", StringComparison.Ordinal))).ToList();
        Assert.True(errors.Count == 0, "a rejected request was logged as an error:\n" + string.Join('\n', errors.Take(3)));
    }
}
