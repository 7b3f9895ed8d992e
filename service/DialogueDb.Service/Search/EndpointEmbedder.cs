using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Numerics.Tensors;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DialogueDb.Service.Search;

/// <summary>
/// Embeddings from an OpenAI-compatible endpoint (<c>POST {url}/embeddings</c>, body <c>{"model","input":[…]}</c>,
/// answer <c>{"data":[{"index","embedding"}]}</c>): texts go in batches of <see cref="BatchSize"/>, each request under
/// its own timeout; timeouts, network errors, 5xx and 429 are retried with doubling backoff (a 429's short
/// <c>Retry-After</c> is waited for), then an <see cref="EmbeddingsFailure"/> is thrown. Every vector must have the
/// configured length, and is normalised to unit length. The API key is read from its file for every batch (a rotated
/// Secret applies at once) and goes in the <c>Authorization</c> header only; nothing of a request or answer is logged.
/// Texts longer than <see cref="ChunkChars"/> are cut into overlapping chunks, one vector each.
/// </summary>
internal sealed class EndpointEmbedder(HttpClient http, EndpointEmbedderSettings settings, TimeProvider time) : IEmbedder
{
    public const int MaxTries = 4;
    public const int ChunkChars = 6000;
    public const int OverlapChars = 400;
    public const int MaxChunks = 32;
    private static readonly TimeSpan MaxInlineRetryAfter = TimeSpan.FromSeconds(30);

    private readonly Uri _endpoint = new(settings.BaseUrl.AbsoluteUri.TrimEnd('/') + "/embeddings");

    public int Dimensions => settings.Dimensions;

    /// <summary>
    /// The model's name and the endpoint that serves it (<c>endpoint:{model}@{fingerprint}</c>): the same name at another
    /// URL may be another model, so changing either rebuilds the index. The URL is stored only as the first 16 hex digits of
    /// its SHA-256 (it may carry credentials); scheme, host, port and path count, user info and query do not.
    /// </summary>
    public string Model { get; } = $"endpoint:{settings.Model}@{Fingerprint(settings.BaseUrl)}";

    public int BatchSize => settings.BatchSize;

    public async ValueTask<float[][][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken ct)
    {
        var chunks = new List<(int Text, string Input)>();
        for (var t = 0; t < texts.Count; t++)
        {
            foreach (var chunk in Chunks(texts[t]))
            {
                chunks.Add((t, chunk));
            }
        }

        var vectors = new float[chunks.Count][];
        for (var start = 0; start < chunks.Count; start += settings.BatchSize)
        {
            var batch = chunks.GetRange(start, Math.Min(settings.BatchSize, chunks.Count - start)).ConvertAll(c => c.Input);
            (await EmbedBatchAsync(batch, ct)).CopyTo(vectors, start);
        }

        var result = new List<float[]>[texts.Count];
        for (var c = 0; c < chunks.Count; c++)
        {
            (result[chunks[c].Text] ??= []).Add(vectors[c]);
        }

        return [.. result.Select(r => r.ToArray())];
    }

    /// <summary>The fingerprint of an endpoint's base URL in <see cref="Model"/>.</summary>
    public static string Fingerprint(Uri baseUrl)
    {
        var url = baseUrl.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped).TrimEnd('/');
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(url)))[..16];
    }

    /// <summary>The text in overlapping windows (an empty text is one blank input: endpoints refuse empty strings).</summary>
    public static IEnumerable<string> Chunks(string text)
    {
        if (text.Length == 0)
        {
            yield return " ";
            yield break;
        }

        for (int start = 0, n = 0; start < text.Length && n < MaxChunks; start += ChunkChars - OverlapChars, n++)
        {
            var length = Math.Min(ChunkChars, text.Length - start);
            // Never split a surrogate pair.
            if (start + length < text.Length && char.IsHighSurrogate(text[start + length - 1]))
            {
                length--;
            }

            yield return text.Substring(start, length);
            if (start + length >= text.Length)
            {
                yield break;
            }
        }
    }

    private async Task<float[][]> EmbedBatchAsync(List<string> inputs, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new EmbeddingsRequest(settings.Model, inputs),
            EmbeddingsJsonContext.Default.EmbeddingsRequest);
        var backoff = settings.FirstBackoff;
        for (var attempt = 1; ; attempt++)
        {
            var apiKey = await ReadKeyAsync(ct);
            using var timeout = new CancellationTokenSource(settings.Timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            if (apiKey is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            }

            string failure;
            TimeSpan? retryAfter = null;
            try
            {
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, linked.Token);
                if (response.IsSuccessStatusCode)
                {
                    return await ReadVectorsAsync(response, inputs.Count, linked.Token);
                }

                var status = (int)response.StatusCode;
                if (status is >= 400 and < 500
                    && response.StatusCode is not (HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout))
                {
                    throw new EmbeddingsFailure($"The embeddings endpoint refused the request ({status})") { Refused = true };
                }

                failure = $"The embeddings endpoint answered {status}";
                retryAfter = response.Headers.RetryAfter?.Delta;
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                failure = "The embeddings endpoint did not answer in time";
            }
            catch (HttpRequestException ex)
            {
                failure = $"The embeddings endpoint could not be reached ({ex.HttpRequestError})";
            }

            if (attempt >= MaxTries || retryAfter > MaxInlineRetryAfter)
            {
                throw new EmbeddingsFailure($"{failure}; gave up after {attempt} tries");
            }

            await Task.Delay(retryAfter ?? backoff, time, ct);
            backoff *= 2;
        }
    }

    private async Task<float[][]> ReadVectorsAsync(HttpResponseMessage response, int count, CancellationToken ct)
    {
        EmbeddingsResponse? answer;
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            answer = await JsonSerializer.DeserializeAsync(stream, EmbeddingsJsonContext.Default.EmbeddingsResponse, ct);
        }
        catch (JsonException)
        {
            // The answer's text is not repeated: it may hold content.
            answer = null;
        }

        if (answer?.Data is not { } data || data.Count != count)
        {
            throw new EmbeddingsFailure($"The embeddings endpoint's answer did not have {count} embeddings in data[]");
        }

        var vectors = new float[count][];
        for (var i = 0; i < data.Count; i++)
        {
            var item = data[i];
            var index = item.Index ?? i;
            if (index < 0 || index >= count || vectors[index] is not null || item.Embedding is not { } vector)
            {
                throw new EmbeddingsFailure("The embeddings endpoint's answer had a missing or repeated index");
            }

            if (vector.Length != settings.Dimensions)
            {
                throw new EmbeddingsFailure(string.Create(CultureInfo.InvariantCulture, $"The embeddings endpoint returned " +
                    $"{vector.Length} dimensions; DIALOGUEDB_EMBEDDINGS_DIMENSIONS is {settings.Dimensions}"));
            }

            var norm = TensorPrimitives.Norm(vector);
            if (!float.IsFinite(norm))
            {
                throw new EmbeddingsFailure("The embeddings endpoint returned a vector that is not finite");
            }

            if (norm > 0)
            {
                TensorPrimitives.Divide(vector, norm, vector);
            }

            vectors[index] = vector;
        }

        return vectors;
    }

    private async Task<string?> ReadKeyAsync(CancellationToken ct)
    {
        if (settings.ApiKeyFile is not { } file)
        {
            return null;
        }

        if (!File.Exists(file))
        {
            throw new EmbeddingsFailure("The embeddings API key file is missing (DIALOGUEDB_EMBEDDINGS_API_KEY_FILE)");
        }

        var key = (await File.ReadAllTextAsync(file, ct)).Trim();
        return key.Length > 0 ? key : throw new EmbeddingsFailure("The embeddings API key file is empty");
    }
}

internal sealed record EmbeddingsRequest(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("input")] IReadOnlyList<string> Input);

internal sealed record EmbeddingsResponse([property: JsonPropertyName("data")] IReadOnlyList<EmbeddingsItem>? Data);

internal sealed record EmbeddingsItem(
    [property: JsonPropertyName("index")] int? Index,
    [property: JsonPropertyName("embedding")] float[]? Embedding);

[JsonSerializable(typeof(EmbeddingsRequest))]
[JsonSerializable(typeof(EmbeddingsResponse))]
internal sealed partial class EmbeddingsJsonContext : JsonSerializerContext;
