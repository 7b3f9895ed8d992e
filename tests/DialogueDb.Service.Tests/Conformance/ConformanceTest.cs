using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>
/// Shared helpers of the conformance suite on top of <see cref="ApiTest"/>: creating the rows a test owns, walking
/// paginated lists, and the contract's patterns for ids and timestamps.
/// </summary>
public abstract partial class ConformanceTest(ApiFixture api) : ApiTest(api)
{
    [GeneratedRegex("^[0-9A-HJKMNP-TV-Z]{26}$")]
    private static partial Regex UlidRegex();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex TimestampRegex();

    protected static void AssertUlid(JsonNode? node)
    {
        var value = node?.GetValue<string>();
        Assert.NotNull(value);
        Assert.Matches(UlidRegex(), value);
    }

    protected static void AssertTimestamp(JsonNode? node)
    {
        var value = node?.GetValue<string>();
        Assert.NotNull(value);
        Assert.Matches(TimestampRegex(), value);
    }

    protected static string Str(JsonNode? node) =>
        node?.GetValue<string>() ?? throw new InvalidOperationException("expected a string, got null");

    protected static long Num(JsonNode? node) =>
        node?.GetValue<long>() ?? throw new InvalidOperationException("expected a number, got null");

    protected static DateTimeOffset Time(JsonNode? node) =>
        DateTimeOffset.Parse(Str(node), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Compact JSON text of a node: compares values including property order.</summary>
    protected static string Compact(JsonNode? node) => node?.ToJsonString() ?? "null";

    /// <summary>Compact JSON text of raw JSON, normalised the same way as <see cref="Compact"/>.</summary>
    protected static string Compact(string json) => Compact(JsonNode.Parse(json));

    protected static List<string> Ids(IEnumerable<JsonNode?> items) => items.Select(i => Str(i?["id"])).ToList();

    protected static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>POST {prefix}dialogue?namespace=ns and returns the created dialogue.</summary>
    protected async Task<JsonObject> CreateDialogueAsync(string? ns, object? body = null, string prefix = "api/v1/")
    {
        var query = ns is null ? "" : "?namespace=" + ns;
        return (await PostAsync(prefix + "dialogue" + query, body ?? new JsonObject())).Expect(HttpStatusCode.OK).Object;
    }

    protected async Task<JsonObject> GetDialogueAsync(string? ns, string id, string prefix = "api/v1/") =>
        (await GetAsync(prefix + "dialogue/" + id + NsQuery(ns, '?'))).Expect(HttpStatusCode.OK).Object;

    /// <summary>Adds messages in one batch (POST /messages with an array) and returns them in request order.</summary>
    protected async Task<JsonArray> AddMessagesAsync(string? ns, string dialogueId, params object[] messages)
    {
        var body = new JsonArray(messages.Select(m => JsonNode.Parse(ToJson(m))).ToArray());
        return (await PostAsync($"api/v1/messages?dialogueId={dialogueId}{NsQuery(ns, '&')}", body))
            .Expect(HttpStatusCode.OK).Array;
    }

    protected async Task<JsonObject> AddMessageAsync(string? ns, string dialogueId, object message) =>
        (await PostAsync($"api/v1/message?dialogueId={dialogueId}{NsQuery(ns, '&')}", message))
            .Expect(HttpStatusCode.OK).Object;

    protected async Task<JsonObject> CreateMemoryAsync(string? ns, object body, string prefix = "api/v1/") =>
        (await PostAsync(prefix + "memory" + NsQuery(ns, '?'), body)).Expect(HttpStatusCode.OK).Object;

    protected static string NsQuery(string? ns, char separator) => ns is null ? "" : separator + "namespace=" + ns;

    /// <summary>
    /// Follows <c>next</c> from <paramref name="path"/> (which already has a query string) until it is null and returns
    /// every item in page order. <paramref name="betweenPages"/> runs after each page (e.g. to insert rows meanwhile).
    /// </summary>
    protected async Task<List<JsonObject>> WalkAsync(string path, int? limit = null, Func<int, Task>? betweenPages = null)
    {
        var items = new List<JsonObject>();
        string? next = null;
        for (var page = 0; page < 200; page++)
        {
            var url = path + (next is null ? "" : "&next=" + Uri.EscapeDataString(next));
            var body = (await GetAsync(url)).Expect(HttpStatusCode.OK).Object;
            var pageItems = body["items"]!.AsArray();
            if (limit is not null)
            {
                Assert.True(pageItems.Count <= limit, $"page {page} has {pageItems.Count} items, limit {limit}");
            }

            items.AddRange(pageItems.Select(i => i!.AsObject()));
            Assert.True(body.ContainsKey("next"), "list answers always carry next");
            next = body["next"]?.GetValue<string>();
            if (next is null)
            {
                return items;
            }

            Assert.NotEmpty(next);
            if (betweenPages is not null)
            {
                await betweenPages(page);
            }
        }

        Assert.Fail("pagination did not terminate after 200 pages");
        return items;
    }

    /// <summary>Sends raw bytes (no Content-Type transformation); used for oversized bodies.</summary>
    protected async Task<ApiResponse> SendBytesAsync(HttpMethod method, string path, byte[] body)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        using var response = await Client.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        var headers = response.Headers.Concat(response.Content.Headers)
            .ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
        return new ApiResponse(response.StatusCode, text, headers);
    }
}

/// <summary>Assertions on the contract's error envelope (§3).</summary>
public static partial class ApiResponseAssertions
{
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex TimestampRegex();

    /// <summary>
    /// Asserts status, code and type and the whole envelope: a non-empty message, <c>requestId</c> equal to the
    /// X-Request-Id header, a timestamp; with <paramref name="field"/>, that some detail names that field.
    /// Returns the <c>error</c> object.
    /// </summary>
    public static JsonObject ExpectError(this ApiResponse response, HttpStatusCode status, string code, string type,
        string? field = null)
    {
        response.Expect(status, code);
        var error = response.Object["error"]!.AsObject();
        Assert.Equal(type, (string?)error["type"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)error["message"]), "error.message must be a non-empty string");
        Assert.True(response.Headers.TryGetValue("X-Request-Id", out var requestId), "X-Request-Id header missing");
        Assert.True(Guid.TryParse(requestId, out _), $"X-Request-Id is not a UUID: {requestId}");
        Assert.Equal(requestId, (string?)error["requestId"]);
        Assert.Matches(TimestampRegex(), (string?)error["timestamp"] ?? "");
        if (field is not null)
        {
            Assert.Contains(field, error.DetailFields());
        }

        return error;
    }

    /// <summary>Asserts a 400 whose code is one of <paramref name="codes"/> (for cases the contract leaves open).</summary>
    public static JsonObject ExpectBadRequest(this ApiResponse response, string? field, params string[] codes)
    {
        Assert.True(response.Status == HttpStatusCode.BadRequest, $"expected 400 but got {(int)response.Status}: {response.Body}");
        var code = (string?)response.Object["error"]?["code"];
        Assert.Contains(code, codes);
        return response.ExpectError(HttpStatusCode.BadRequest, code!, "validation_error", field);
    }

    /// <summary>The <c>field</c> of every entry of <c>error.details</c>.</summary>
    public static List<string> DetailFields(this JsonObject error) =>
        error["details"] is JsonArray details
            ? details.Select(d => (string?)d?["field"] ?? "").ToList()
            : [];
}
