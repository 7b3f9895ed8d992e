using System.Text;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>
/// Kestrel's parse-level rejections on a plain-HTTP listener (the metrics listener) get the same envelope as on TLS, and
/// so does its request-header timeout (tested here: on TLS the early close of connections without an authenticated
/// request, set to the same time, usually comes first).
/// </summary>
public sealed class KestrelRejectionsPlainHttp : IAsyncLifetime
{
    private readonly TestFolder _dataDir = new();
    private ServiceHost? _host;
    private Uri _plain = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        TestProject.Write(_dataDir.Path, "plain");
        var port = ServiceHost.FreePort();
        // The header timeout is the unauthenticated grace (at most 30 s): 2 s here.
        _host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = _dataDir.Path, Urls = "https://127.0.0.1:0", MetricsUrls = $"http://127.0.0.1:{port}", UnauthenticatedConnectionSeconds = 2,
        });
        _plain = new Uri($"http://127.0.0.1:{port}/");
    }

    public ValueTask DisposeAsync() => _dataDir.DeleteAfterAsync(_host);

    [Theory]
    [MemberData(nameof(KestrelRejections.Requests), MemberType = typeof(KestrelRejections))]
    public async Task RejectedWhileParsing_AnswersTheEnvelope(string what, string request, int status, string code)
    {
        var answer = await RawHttps.SendPlainAsync(_plain, Encoding.Latin1.GetBytes(request), Ct);

        RejectionAnswer.AssertEnvelope(what, answer, status, code);
        RejectionAnswer.AssertNoErrorLogged(_host!.Logs);
    }

    [Fact]
    public async Task HeadersNotCompleteInTime_RequestTimeoutEnvelope()
    {
        var answer = await RawHttps.SendPlainAsync(_plain, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"u8.ToArray(), Ct,
            TimeSpan.FromSeconds(30));

        RejectionAnswer.AssertEnvelope("header timeout", answer, 408, "REQUEST_TIMEOUT");
        RejectionAnswer.AssertNoErrorLogged(_host!.Logs);
    }

    [Fact]
    public async Task ValidRequest_Unchanged()
    {
        var request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"u8.ToArray();

        var answer = await RawHttps.SendPlainAsync(_plain, request, Ct, TimeSpan.FromSeconds(30));

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.Contains("# TYPE ", answer, StringComparison.Ordinal);
    }
}
