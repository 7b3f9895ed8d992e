using DialogueDb.Service.Policy;
using DialogueDb.Service.Summaries;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Summaries;

/// <summary>
/// The openai-compatible provider against an in-process fake server that records requests: the prompt carries the
/// messages in order and the template, the key is in the header only, long dialogues are map-reduced, and 429, 5xx and
/// timeouts are retried a bounded number of times.
/// </summary>
public sealed class ChatCompletionsClientTests : IAsyncLifetime
{
    private const string Key = "sk-test-7b1e0c0f5d";
    private readonly TestFolder _folder = new();
    private FakeLlmServer _server = null!;
    private string _keyFile = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _server = await FakeLlmServer.StartAsync();
        _keyFile = Path.Combine(_folder.Path, "api-key");
        await File.WriteAllTextAsync(_keyFile, Key + "\n", Ct);
    }

    public ValueTask DisposeAsync() => _folder.DeleteAfterAsync(_server);

    [Fact]
    public async Task Summarize_OneChunk_PromptHasTemplateAndMessagesInOrder_KeyInHeaderOnly()
    {
        var lines = new[]
        {
            new TranscriptLine("user", null, "We need the quarterly report by Friday."),
            new TranscriptLine("assistant", "planner", "I will draft it on Wednesday and send it to Ana."),
            new TranscriptLine("user", null, "Include the revenue table."),
        };

        var written = await Summarizer().SummarizeAsync(new SummaryInput(lines, "Summarise as three bullet points.", Settings()), Ct);

        Assert.Equal("summary 1", written.Content);
        Assert.Equal("test-model", written.Model);
        var request = Assert.Single(_server.Requests);
        Assert.Equal("/v1/chat/completions", request.Path);
        Assert.Equal($"Bearer {Key}", request.Authorization);
        Assert.Equal("test-model", request.Model);
        Assert.Equal("Summarise as three bullet points.", request.System);
        Assert.Equal(
            "user: We need the quarterly report by Friday.\n\nassistant (planner): I will draft it on Wednesday and send it to Ana.\n\n" +
            "user: Include the revenue table.", request.User);
        Assert.DoesNotContain(Key, request.Body.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Summarize_LongerThanTheContext_MapsChunksThenReducesInOrder()
    {
        var lines = Enumerable.Range(1, 60)
            .Select(i => new TranscriptLine("user", null, $"Message number {i} talks about topic {i} with a few more words to fill it."))
            .ToList();

        var written = await Summarizer().SummarizeAsync(new SummaryInput(lines, "Summarise.", Settings(contextTokens: 512)), Ct);

        var requests = _server.Requests.ToList();
        Assert.True(requests.Count >= 3, $"expected map requests and a reduce, got {requests.Count}");
        var maps = requests.Where(r => r.System == "Summarise.").ToList();
        Assert.True(maps.Count >= 2);
        // The map requests cover every message once, in order.
        var numbers = maps.SelectMany(r => System.Text.RegularExpressions.Regex.Matches(r.User, @"Message number (\d+) ")
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(Enumerable.Range(1, 60), numbers);
        var reduce = requests[^1];
        Assert.StartsWith("Summarise.", reduce.System, StringComparison.Ordinal);
        Assert.Contains("summaries of consecutive parts", reduce.System, StringComparison.Ordinal);
        Assert.Equal(string.Join("\n\n", Enumerable.Range(1, maps.Count).Select(n => $"summary {n}")), reduce.User);
        Assert.Equal($"summary {requests.Count}", written.Content);
    }

    [Fact]
    public async Task Summarize_429WithShortRetryAfter_WaitsAndSucceeds_LongRetryAfterHandsTheJobBack()
    {
        _server.Respond = (n, _) => n == 1 ? (429, "{}", "1", TimeSpan.Zero) : (200, FakeLlmServer.Completion("after the wait"), null, TimeSpan.Zero);
        var written = await Summarizer().SummarizeAsync(Input(), Ct);
        Assert.Equal("after the wait", written.Content);
        Assert.Equal(2, _server.Requests.Count);

        _server.Respond = (_, _) => (429, "{}", "120", TimeSpan.Zero);
        var failure = await Assert.ThrowsAsync<SummaryFailure>(() => Summarizer().SummarizeAsync(Input(), Ct));
        Assert.Equal(SummaryFailure.ProviderRateLimited, failure.Code);
        Assert.True(failure.Transient);
        Assert.Equal(TimeSpan.FromSeconds(120), failure.RetryAfter);
        Assert.Equal(3, _server.Requests.Count);
    }

    [Fact]
    public async Task Summarize_5xx_RetriedBoundedTimes_4xxNotRetried()
    {
        _server.Respond = (n, _) => n == 1 ? (502, "{}", null, TimeSpan.Zero) : (200, FakeLlmServer.Completion("recovered"), null, TimeSpan.Zero);
        Assert.Equal("recovered", (await Summarizer().SummarizeAsync(Input(), Ct)).Content);
        Assert.Equal(2, _server.Requests.Count);

        _server.Respond = (_, _) => (503, "{}", null, TimeSpan.Zero);
        var unavailable = await Assert.ThrowsAsync<SummaryFailure>(() => Summarizer().SummarizeAsync(Input(), Ct));
        Assert.Equal(SummaryFailure.ProviderUnavailable, unavailable.Code);
        Assert.True(unavailable.Transient);
        Assert.Equal(2 + ChatCompletionsClient.MaxTries, _server.Requests.Count);

        _server.Respond = (_, _) => (401, """{"error":{"message":"bad key"}}""", null, TimeSpan.Zero);
        var rejected = await Assert.ThrowsAsync<SummaryFailure>(() => Summarizer().SummarizeAsync(Input(), Ct));
        Assert.Equal(SummaryFailure.ProviderRejected, rejected.Code);
        Assert.False(rejected.Transient);
        Assert.Equal(2 + ChatCompletionsClient.MaxTries + 1, _server.Requests.Count);
    }

    [Fact]
    public async Task Summarize_Timeout_RetriedThenTransientFailure()
    {
        _server.Respond = (_, _) => (200, FakeLlmServer.Completion("too late"), null, TimeSpan.FromSeconds(30));

        var failure = await Assert.ThrowsAsync<SummaryFailure>(() =>
            Summarizer(requestTimeout: TimeSpan.FromMilliseconds(300)).SummarizeAsync(Input(), Ct));

        Assert.Equal(SummaryFailure.Timeout, failure.Code);
        Assert.True(failure.Transient);
        Assert.Equal(ChatCompletionsClient.MaxTries, _server.Requests.Count);
    }

    [Fact]
    public async Task Summarize_BadAnswerOrMissingKey_ClearFailures()
    {
        _server.Respond = (_, _) => (200, """{"choices":[]}""", null, TimeSpan.Zero);
        var bad = await Assert.ThrowsAsync<SummaryFailure>(() => Summarizer().SummarizeAsync(Input(), Ct));
        Assert.Equal(SummaryFailure.ProviderBadResponse, bad.Code);

        var missing = await Assert.ThrowsAsync<SummaryFailure>(() =>
            new OpenAiCompatibleSummarizer(Client(), Path.Combine(_folder.Path, "absent")).SummarizeAsync(Input(), Ct));
        Assert.Equal(SummaryFailure.ProviderKeyMissing, missing.Code);
        Assert.False(missing.Transient);
        Assert.DoesNotContain(Key, missing.Message, StringComparison.Ordinal);
    }

    private OpenAiCompatibleSummarizer Summarizer(TimeSpan? requestTimeout = null) => new(Client(requestTimeout), _keyFile);

    private static ChatCompletionsClient Client(TimeSpan? requestTimeout = null) =>
        new(new HttpClient { Timeout = Timeout.InfiniteTimeSpan }, TimeProvider.System, requestTimeout);

    private SummarySettings Settings(int contextTokens = 8_000) => new()
    {
        Provider = SummarySettings.OpenAiCompatible, Model = "test-model", BaseUrl = _server.BaseUrl.AbsoluteUri, ContextTokens = contextTokens,
    };

    private SummaryInput Input() => new([new TranscriptLine("user", null, "Hello there, summarise me.")], "Summarise.", Settings());
}
