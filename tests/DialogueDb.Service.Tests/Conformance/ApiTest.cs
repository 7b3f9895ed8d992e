using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>
/// Base of the HTTP conformance suite. Each concrete test class runs once per storage engine
/// (e.g. <c>DialogueRoutesSqlite</c> and <c>DialogueRoutesPostgres</c>). Every test owns its data through a fresh namespace.
/// </summary>
public abstract class ApiTest
{
    protected ApiTest(ApiFixture api)
    {
        if (api.SkipReason is not null)
        {
            Assert.Skip(api.SkipReason);
        }

        Api = api;
    }

    protected ApiFixture Api { get; }

    protected HttpClient Client => Api.Client;

    /// <summary>A namespace no other test uses.</summary>
    protected static string NewNamespace() => "ns-" + Guid.NewGuid().ToString("N")[..12];

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Sends <paramref name="json"/> as the raw body, with the given Content-Type (null: none at all).</summary>
    protected async Task<ApiResponse> SendAsync(HttpMethod method, string path, string? json = null,
        string? contentType = "application/json", HttpClient? client = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            var content = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
            if (contentType is not null)
            {
                content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }

            request.Content = content;
        }

        using var response = await (client ?? Client).SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return new ApiResponse(response.StatusCode, text, response.Headers.ToDictionary(
            h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase)
            .Concat(response.Content.Headers.ToDictionary(h => h.Key, h => string.Join(",", h.Value)))
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase));
    }

    protected Task<ApiResponse> GetAsync(string path, HttpClient? client = null) => SendAsync(HttpMethod.Get, path, client: client);

    protected Task<ApiResponse> PostAsync(string path, object? body, HttpClient? client = null) =>
        SendAsync(HttpMethod.Post, path, body is null ? null : ToJson(body), client: client);

    protected Task<ApiResponse> PutAsync(string path, object? body, HttpClient? client = null) =>
        SendAsync(HttpMethod.Put, path, body is null ? null : ToJson(body), client: client);

    protected Task<ApiResponse> DeleteAsync(string path, HttpClient? client = null) => SendAsync(HttpMethod.Delete, path, client: client);

    /// <summary>Serialises anonymous objects, dictionaries, JsonNodes or passes a string through as raw JSON.</summary>
    protected static string ToJson(object body) => body as string ?? JsonSerializer.Serialize(body);
}

public sealed record ApiResponse(HttpStatusCode Status, string Body, IReadOnlyDictionary<string, string> Headers)
{
    public JsonNode Json => JsonNode.Parse(Body) ?? throw new InvalidOperationException("null JSON body");

    public JsonObject Object => Json.AsObject();

    public JsonArray Array => Json.AsArray();

    /// <summary>Asserts the status and, for errors, the contract's envelope; returns this for chaining.</summary>
    public ApiResponse Expect(HttpStatusCode status, string? errorCode = null)
    {
        Assert.True(status == Status, $"expected {(int)status} but got {(int)Status}: {Body}");
        if (errorCode is not null)
        {
            var error = Object["error"]?.AsObject();
            Assert.NotNull(error);
            Assert.Equal(errorCode, (string?)error["code"]);
        }

        return this;
    }

    public string ErrorType => (string)Object["error"]!["type"]!;
}
