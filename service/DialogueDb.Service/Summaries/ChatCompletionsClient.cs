using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace DialogueDb.Service.Summaries;

/// <summary>
/// One chat completion from an OpenAI-compatible server (<c>POST {baseUrl}/chat/completions</c>): the key goes in the
/// <c>Authorization</c> header only. Timeouts, network errors and 5xx are retried a bounded number of times with
/// backoff; a 429 waits for its <c>Retry-After</c> when that is short, else the job is retried later. Other 4xx answers
/// are permanent. Nothing of the request or the answer is logged.
/// </summary>
internal sealed class ChatCompletionsClient(HttpClient http, TimeProvider time, TimeSpan? requestTimeout = null)
{
    public const int MaxTries = 3;
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(120);

    /// <summary>Longest 429 Retry-After waited for within a try; a longer one hands the job back with that delay.</summary>
    public static readonly TimeSpan MaxInlineRetryAfter = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);

    public async Task<string> CompleteAsync(Uri baseUrl, string apiKey, string model, string system, string user, CancellationToken ct)
    {
        var endpoint = new Uri(baseUrl.AbsoluteUri.TrimEnd('/') + "/chat/completions");
        var body = JsonSerializer.SerializeToUtf8Bytes(new ChatRequest(model, [new("system", system), new("user", user)]),
            ChatJsonContext.Default.ChatRequest);
        var backoff = FirstBackoff;
        for (var attempt = 1; ; attempt++)
        {
            using var timeout = new CancellationTokenSource(requestTimeout ?? RequestTimeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            SummaryFailure failure;
            try
            {
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, linked.Token);
                if (response.IsSuccessStatusCode)
                {
                    return await ReadContentAsync(response, linked.Token);
                }

                failure = Classify(response);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                failure = new SummaryFailure(SummaryFailure.Timeout, "The summary provider did not answer in time", transient: true);
            }
            catch (HttpRequestException ex)
            {
                failure = new SummaryFailure(SummaryFailure.ProviderUnavailable,
                    $"The summary provider could not be reached ({ex.HttpRequestError})", transient: true);
            }

            if (!failure.Transient || attempt >= MaxTries)
            {
                throw failure;
            }

            var wait = backoff;
            if (failure.RetryAfter is { } retryAfter)
            {
                if (retryAfter > MaxInlineRetryAfter)
                {
                    throw failure;
                }

                wait = retryAfter;
            }

            await Task.Delay(wait, time, ct);
            backoff *= 2;
        }
    }

    private static SummaryFailure Classify(HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            return new SummaryFailure(SummaryFailure.ProviderRateLimited, "The summary provider answered 429 (rate limited)", transient: true,
                RetryAfterOf(response) ?? TimeSpan.FromSeconds(5));
        }

        return status >= 500 || response.StatusCode == HttpStatusCode.RequestTimeout
            ? new SummaryFailure(SummaryFailure.ProviderUnavailable, $"The summary provider answered {status}", transient: true)
            : new SummaryFailure(SummaryFailure.ProviderRejected, $"The summary provider refused the request ({status})", transient: false);
    }

    private static TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (header?.Date is { } date && response.Headers.Date is { } sent)
        {
            return date > sent ? date - sent : TimeSpan.Zero;
        }

        return response.Headers.TryGetValues("Retry-After", out var values)
            && double.TryParse(values.FirstOrDefault(), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
            ? TimeSpan.FromSeconds(seconds)
            : null;
    }

    private static async Task<string> ReadContentAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            using var document = await JsonDocument.ParseAsync(stream, cancellationToken: ct);
            var content = document.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
            if (!string.IsNullOrWhiteSpace(content))
            {
                return content.Trim();
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            // Falls through to the failure below (the answer's text is not repeated: it may hold content).
        }

        throw new SummaryFailure(SummaryFailure.ProviderBadResponse, "The summary provider's answer had no choices[0].message.content",
            transient: true);
    }
}

internal sealed record ChatRequest(
    [property: System.Text.Json.Serialization.JsonPropertyName("model")] string Model,
    [property: System.Text.Json.Serialization.JsonPropertyName("messages")] IReadOnlyList<ChatMessage> Messages);

internal sealed record ChatMessage(
    [property: System.Text.Json.Serialization.JsonPropertyName("role")] string Role,
    [property: System.Text.Json.Serialization.JsonPropertyName("content")] string Content);

[System.Text.Json.Serialization.JsonSerializable(typeof(ChatRequest))]
internal sealed partial class ChatJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
